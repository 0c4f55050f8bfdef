"""The Dockerfile, .dockerignore and docker-compose.yml keep their promises (no engine needed)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from envoice_mock import __version__

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")


def final_stage() -> str:
    """The instructions of the image that runs (after the last FROM)."""
    return DOCKERFILE[DOCKERFILE.rindex("\nFROM ") :]


def test_the_image_installs_the_wheel_not_the_checkout() -> None:
    stage = final_stage()
    assert not re.search(r"pip install[^\n]* (-e|--editable) ", DOCKERFILE)
    assert "pip wheel" in DOCKERFILE and re.search(r"pip install [^\n]*\.whl", stage)
    assert "COPY envoice_mock" not in stage  # only the built wheel reaches the final image


def test_dependencies_are_a_layer_of_their_own_before_the_package() -> None:
    stage = final_stage()
    dependencies = stage.index("-r /tmp/requirements.txt")
    assert stage.index("COPY pyproject.toml") < dependencies < stage.index("COPY --from=wheel")


def test_it_runs_as_a_user_with_a_healthcheck_that_follows_the_port() -> None:
    stage = final_stage()
    user = re.search(r"^USER (\S+)$", stage, re.M)
    assert user and user.group(1) not in ("root", "0")
    check = re.search(r"^HEALTHCHECK (.+?)CMD (.+?)$", stage, re.M | re.S)
    assert check and "--interval=" in check.group(1) and "--start-period=" in check.group(1)
    assert "ENVOICE_MOCK_PORT" in check.group(2) and "/_mock/health" in check.group(2)
    assert 'org.opencontainers.image.version="${VERSION}"' in stage
    assert f"ARG VERSION={__version__}" in stage
    assert stage.rstrip().endswith('CMD ["envoice-mock", "serve"]')


def test_the_build_context_leaves_out_venv_and_git() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", ".git", "**/__pycache__"} <= set(ignored)
    for needed in ("pyproject.toml", "README.md", "envoice_mock", "fixtures", "scenarios"):
        assert needed not in ignored


def test_compose_starts_the_mock_beside_a_sink_it_delivers_to() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    mock, sink = compose["services"]["mock"], compose["services"]["sink"]
    assert sink["command"][:2] == ["envoice-mock", "sink"] and "9000" in sink["command"]
    assert mock["environment"]["ENVOICE_MOCK_WEBHOOKS"] == "http://sink:9000/hook"
    assert mock["depends_on"]["sink"]["condition"] == "service_healthy"
