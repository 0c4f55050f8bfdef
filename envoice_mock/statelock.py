"""One server per state file: exclusive locks on the file itself and on `<state file>.lock`.

Both are advisory `flock`s, taken before SQLite opens the state file and released by the kernel
when the owner exits, however it exits (`kill -9` included). The lock on the file itself is on
its inode, so another name for the same file (a symlink, a hard link, `dir/../file`) is refused
too; the side file, named after the real path, holds the owner's pid for the message. A second
server fails at once with one line naming the file and, where it can, the owner's process id.
(SQLite's own locks are `fcntl` locks, which `flock` does not touch on Linux.)
"""

from __future__ import annotations

import os
from pathlib import Path

from envoice_mock.config import SettingsError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no lock (documented)
    fcntl = None  # type: ignore[assignment]


class StateLock:
    """The exclusive lock of one state file, held until `release()`."""

    def __init__(self, state_file: Path) -> None:
        real = state_file.resolve()
        self.path = real.with_name(real.name + ".lock")
        self._fds: list[int] = []
        self._made_side = not self.path.exists()  # ours to remove if the file is refused
        if fcntl is None:
            return
        side = self._open(state_file, self.path, "its lock file")
        if not self._try_lock(side):
            owner = os.pread(side, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(side)
            raise SettingsError(
                f"state file {state_file} is in use by process {owner} (one server per state file)"
            )
        itself = self._open(state_file, real, "the file")
        if not self._try_lock(itself):
            os.close(itself)
            os.close(side)
            raise SettingsError(
                f"state file {state_file} is in use by another process under another name "
                "(one server per state file)"
            )
        os.ftruncate(side, 0)
        os.pwrite(side, f"{os.getpid()}\n".encode(), 0)
        self._fds = [side, itself]

    @staticmethod
    def _open(state_file: Path, path: Path, what: str) -> int:
        """A descriptor on `path`, created if missing; a one-line SettingsError when impossible."""
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SettingsError(f"state file {state_file}: cannot open {what}: {exc.strerror}") from None

    @staticmethod
    def _try_lock(fd: int) -> bool:
        """Take the exclusive flock of `fd` without waiting; False when another holds it."""
        assert fcntl is not None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def release(self, refused: bool = False) -> None:
        """Let another server have the file (idempotent); `refused`: the file was not used, so
        a lock file this lock created is removed too (nothing is left beside a refused file)."""
        if refused and self._fds and self._made_side:
            self.path.unlink(missing_ok=True)  # while still locked: no other server holds it
        for fd in self._fds:
            os.close(fd)  # closing a descriptor drops its flock
        self._fds = []
