"""One server per state file: an exclusive lock on `<state file>.lock`, holding the owner's pid.

The lock is an advisory `flock` on the side file, taken before SQLite opens the state file, and
released by the kernel when the owner exits, however it exits (`kill -9` included). A second
server fails at once with one line naming the file and the owner's process id.
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
        self.path = state_file.with_name(state_file.name + ".lock")
        self._fd: int | None = None
        if fcntl is None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SettingsError(
                f"state file {state_file}: cannot create its lock file: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise SettingsError(
                f"state file {state_file} is in use by process {owner} (one server per state file)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let another server have the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
