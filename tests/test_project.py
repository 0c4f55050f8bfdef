"""The project's promises about itself: the README's commands and the fixtures all load."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from envoice_mock.config import DEFAULT_FIXTURES, DEFAULT_SCENARIOS
from envoice_mock.scenarios.loader import load_scenario, scenario_files
from envoice_mock.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick_start = re.search(r"## Quick start(.*?)\n## ", readme, re.S)
    assert quick_start
    commands = re.findall(r"```sh\n(.+?)\n```", quick_start.group(1))
    assert len(commands) >= 2 and "envoice-mock serve" in commands[0] and "pytest" in commands[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci


def test_every_shipped_fixture_and_scenario_loads() -> None:
    spec = load_spec(DEFAULT_FIXTURES)
    assert len(spec.operations) == 61
    names = [load_scenario(path, spec).name for path in scenario_files(DEFAULT_SCENARIOS)]
    assert len(names) == len(set(names)) >= 9


def test_the_tree_is_ruff_clean() -> None:
    ruff = str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run([ruff, "check", str(ROOT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_the_package_is_mypy_strict_clean() -> None:
    mypy = str(Path(sys.executable).parent / "mypy")
    if not Path(mypy).exists():
        pytest.skip("mypy is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run(
        [mypy, "--config-file", str(ROOT / "pyproject.toml"), str(ROOT / "envoice_mock")],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout
