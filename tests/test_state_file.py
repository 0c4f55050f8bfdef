"""One owner per state file; corrupt files refused untouched; flags applied on top of a restore."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from envoice_mock.config import Settings, SettingsError
from envoice_mock.runtime.wiring import build_runtime
from envoice_mock.spec import Spec

from .helpers import START, ServerProcess, client_of


def on_file(path: Path, **changes: object) -> Settings:
    """Frozen-clock settings on a state file."""
    return Settings(clock_start=START, clock_speed=0.0, state_file=path, **changes)  # type: ignore[arg-type]


def test_a_second_runtime_on_the_same_file_is_refused(tmp_path: Path, spec: Spec) -> None:
    state = tmp_path / "state.sqlite"
    first = build_runtime(on_file(state), spec=spec)
    with pytest.raises(SettingsError) as caught:
        build_runtime(on_file(state), spec=spec)
    message = str(caught.value)
    assert str(state) in message and str(os.getpid()) in message and "\n" not in message
    first.close()
    build_runtime(on_file(state), spec=spec).close()  # free again once the owner closed it


@pytest.mark.parametrize("link", [os.symlink, os.link], ids=["symlink", "hard link"])
def test_another_name_of_the_same_file_is_refused_too(tmp_path: Path, spec: Spec, link: object) -> None:
    state = tmp_path / "state.sqlite"
    first = build_runtime(on_file(state), spec=spec)
    alias = tmp_path / "alias.sqlite"
    link(state, alias)  # type: ignore[operator]
    with pytest.raises(SettingsError, match=r"is in use by (process \d+|another process)"):
        build_runtime(on_file(alias), spec=spec)
    first.close()
    build_runtime(on_file(alias), spec=spec).close()


def test_a_second_server_exits_at_once_naming_the_file_and_the_owner(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    owner = ServerProcess("--state-file", str(state))
    try:
        second = subprocess.run(
            [sys.executable, "-m", "envoice_mock", "serve", "--port", "0", "--state-file", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert owner.client.get("/_mock/health").status_code == 200  # the owner is unharmed
    finally:
        owner.stop()
    assert second.returncode == 2
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert str(state) in lines[0] and str(owner.proc.pid) in lines[0]


@pytest.mark.parametrize(
    "content",
    [b"this is not a database at all\n" * 40, b"SQLite format 3\x00" + b"\xff" * 200],
    ids=["text", "bad-header"],
)
def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, spec: Spec, content: bytes) -> None:
    state = tmp_path / "state.sqlite"
    state.write_bytes(content)
    with pytest.raises(SettingsError) as caught:
        build_runtime(on_file(state), spec=spec)
    assert str(state) in str(caught.value) and "\n" not in str(caught.value)
    assert state.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.sqlite"]  # no lock file left beside it


def test_a_truncated_state_file_is_refused_untouched(tmp_path: Path, spec: Spec) -> None:
    state = tmp_path / "state.sqlite"
    runtime = build_runtime(on_file(state), spec=spec)
    runtime.close()
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = state.read_bytes()
    state.write_bytes(data[: len(data) // 3])
    truncated = state.read_bytes()
    with pytest.raises(SettingsError):
        build_runtime(on_file(state), spec=spec)
    assert state.read_bytes() == truncated


def test_restore_applies_accounts_and_webhooks_given_at_start(tmp_path: Path, spec: Spec) -> None:
    state = tmp_path / "state.sqlite"
    build_runtime(on_file(state), spec=spec).close()  # the file now holds the default account
    flags = on_file(state, accounts=(("ci-key", "ci-secret"),), webhooks=("http://127.0.0.1:9/hook",))
    for _ in range(2):  # twice: applying the flags again registers nothing twice
        ci = {"x-auth-key": "ci-key", "x-auth-secret": "ci-secret"}
        with client_of(build_runtime(flags, spec=spec)) as c:
            assert c.get("/api/worktype/all", headers=ci).status_code == 200
            hooks = c.get("/_mock/webhooks").json()
        assert [h["Url"] for h in hooks] == ["http://127.0.0.1:9/hook"]
