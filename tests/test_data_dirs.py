"""--fixtures / ENVOICE_MOCK_FIXTURES and --scenarios / ENVOICE_MOCK_SCENARIOS reach every command."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from envoice_mock.config import DEFAULT_FIXTURES, DEFAULT_SCENARIOS

from .helpers import cli

STORY = "name: my-story\ndescription: a story of our own\nsteps:\n  - say: hello\n"


@pytest.fixture
def own_scenarios(tmp_path: Path) -> Path:
    """A scenario folder holding one story of our own."""
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "my-story.yaml").write_text(STORY, encoding="utf-8")
    return folder


@pytest.fixture
def own_fixtures(tmp_path: Path) -> Path:
    """A copy of the fixtures with one more declared account."""
    folder = Path(shutil.copytree(DEFAULT_FIXTURES, tmp_path / "fixtures"))
    (folder / "accounts.yaml").write_text(
        "accounts:\n  - key: ours\n    secret: our-secret\n", encoding="utf-8"
    )
    return folder


def test_scenario_list_reads_the_folder_from_the_flag_or_the_environment(own_scenarios: Path) -> None:
    by_flag = cli("scenario", "list", "--scenarios", str(own_scenarios))
    by_env = cli("scenario", "list", env={"ENVOICE_MOCK_SCENARIOS": str(own_scenarios)})
    assert by_flag.stdout == by_env.stdout and by_flag.stdout.split()[:2] == ["my-story", "a"]


def test_scenario_commands_read_the_fixtures_from_the_environment(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    result = cli("scenario", "list", env={"ENVOICE_MOCK_FIXTURES": str(missing)})
    assert result.returncode == 2 and f"fixtures directory not found: {missing}" in result.stderr
    shipped = cli(
        "scenario", "list", "--fixtures", str(DEFAULT_FIXTURES), "--scenarios", str(DEFAULT_SCENARIOS)
    )
    assert shipped.returncode == 0 and "invoice-lifecycle" in shipped.stdout


def test_the_plugin_uses_a_projects_own_fixtures(
    pytester: pytest.Pytester, own_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVOICE_MOCK_FIXTURES", str(own_fixtures))
    pytester.makepyfile(
        f"""
        def test_our_account_exists(envoice_server):
            assert str(envoice_server.runtime.settings.fixtures) == {str(own_fixtures)!r}
            assert "ours" in envoice_server.runtime.store.accounts
        """
    )
    pytester.runpytest("-p", "no:randomly").assert_outcomes(passed=1)


def test_an_editable_install_serves_the_checkouts_own_folders() -> None:
    root = Path(__file__).resolve().parent.parent
    if "site-packages" in str(DEFAULT_FIXTURES):
        pytest.skip("the package is installed from a wheel here, not editable")
    assert DEFAULT_FIXTURES.resolve() == (root / "fixtures").resolve()  # edits show without reinstalling
    assert DEFAULT_SCENARIOS.resolve() == (root / "scenarios").resolve()
