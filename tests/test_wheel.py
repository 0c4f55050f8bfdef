"""The package as users get it: a built wheel, installed non-editable into a fresh venv, used
from a folder outside the checkout (the server, every scenario, the pytest plugin)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from envoice_mock.config import DEFAULT_SCENARIOS
from envoice_mock.scenarios.loader import scenario_files

from .helpers import clean_env, cli, started

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ("pyproject.toml", "README.md", "envoice_mock", "fixtures", "scenarios")

PLUGIN_TEST = """
import json


def test_the_plugin_works_in_another_project(envoice, envoice_sink, envoice_server):
    invoice = envoice.client.get("/api/invoice/all").json()["Result"][0]
    envoice.client.post("/api/invoice/sendtoaccountant", json={"Id": invoice["Id"]}).raise_for_status()
    arrival = envoice_sink.wait_count(1)[0]
    assert arrival["SignatureValid"] is True
    assert json.loads(arrival["Body"])["Activity"]["InvoiceId"] == invoice["Id"]
    assert envoice.url == envoice_server.url
"""


def run(*command: str | Path, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command to the end; fail the test with its output if it fails."""
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=clean_env()
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result


def assert_wheel_has_every_file(wheel: Path, source: Path) -> None:
    """Every file of the package and of fixtures/ and scenarios/ is in the wheel, where the build maps it."""
    places = {
        "envoice_mock": "envoice_mock",
        "fixtures": "envoice_mock/bundled/fixtures",
        "scenarios": "envoice_mock/bundled/scenarios",
    }
    with zipfile.ZipFile(wheel) as archive:
        packed = set(archive.namelist())
    for folder, inside in places.items():
        for path in (source / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                name = f"{inside}/{path.relative_to(source / folder).as_posix()}"
                assert name in packed, f"{folder}/{path.relative_to(source / folder)} is not in the wheel"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin/ folder of a fresh venv holding the wheel built from this checkout (not editable)."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # a copy, so the build leaves nothing in the checkout
    for name in SHIPPED:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("envoice_mock-*.whl")
    assert_wheel_has_every_file(wheel, source)
    venv = base / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=base)
    # Dependencies come from the configured index (pip's cache makes this quick and mostly offline).
    run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel, "pytest", cwd=base, timeout=300)
    yield venv / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A working folder outside the checkout."""
    assert not tmp_path.is_relative_to(ROOT)
    return tmp_path


@pytest.mark.slow
def test_the_wheel_carries_fixtures_and_scenarios(installed: Path, elsewhere: Path) -> None:
    where = run(
        installed / "python", "-c", "import envoice_mock.bundled as b; print(b.__file__)", cwd=elsewhere
    )
    assert str(installed.parent) in where.stdout  # the installed copy, not the checkout
    listed = run(installed / "envoice-mock", "scenario", "list", cwd=elsewhere).stdout
    assert [line.split()[0] for line in listed.splitlines()] == [
        p.stem for p in scenario_files(DEFAULT_SCENARIOS)
    ]
    assert "INVALID" not in listed
    version = run(installed / "envoice-mock", "--version", cwd=elsewhere).stdout
    assert version.startswith("envoice-mock ") and version.strip() == cli("--version").stdout.strip()
    assert run(installed / "python", "-m", "envoice_mock", "--version", cwd=elsewhere).stdout == version


@pytest.mark.slow
def test_the_installed_server_answers(installed: Path, elsewhere: Path) -> None:
    command = [installed / "envoice-mock", "serve", "--port", "0"]
    with started([str(c) for c in command], r"listening on (http://\S+)", cwd=elsewhere) as (_, found):
        url = found.group(1)
        assert httpx.get(f"{url}/_mock/health", timeout=10).status_code == 200
        invoices = httpx.get(
            f"{url}/api/invoice/all",
            headers={"x-auth-key": "sandbox-key", "x-auth-secret": "sandbox-secret"},
            timeout=10,
        )
        assert invoices.status_code == 200 and invoices.json()["Count"] > 0
        first = invoices.json()["Result"][0]["Id"]
        pdf = httpx.get(
            f"{url}/api/invoice/pdf",
            params={"id": first},
            headers={"x-auth-key": "sandbox-key", "x-auth-secret": "sandbox-secret"},
            timeout=10,
        ).json()["Link"]
        assert httpx.get(pdf, timeout=10).content.startswith(b"%PDF")  # fonts or assets travel too
        assert httpx.get(pdf.replace("/pdf?", "/shared?"), timeout=10).status_code == 200


@pytest.mark.slow
def test_the_installed_command_runs_every_scenario_against_a_sink(installed: Path, elsewhere: Path) -> None:
    sink = [str(installed / "envoice-mock"), "sink", "--port", "0"]
    with started(sink, r"POST (http://\S+/hook)", cwd=elsewhere) as (_, found):
        for path in scenario_files(DEFAULT_SCENARIOS):
            result = cli(
                "scenario",
                "run",
                path.stem,
                "--target",
                found.group(1),
                cwd=elsewhere,
                exe=[str(installed / "envoice-mock")],
            )
            assert result.returncode == 0, result.stdout + result.stderr
            assert f"PASSED: {path.stem}" in result.stdout


@pytest.mark.slow
def test_the_installed_plugin_serves_another_project(installed: Path, elsewhere: Path) -> None:
    project = elsewhere / "their-project"
    (project / "tests").mkdir(parents=True)
    (project / "tests" / "test_with_envoice.py").write_text(PLUGIN_TEST, encoding="utf-8")
    result = run(installed / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project)
    assert "1 passed" in result.stdout
