"""Where the fixtures and scenarios shipped with the package live.

The repository keeps them in the top-level folders `fixtures/` and `scenarios/`; the build maps
those folders to the packages `envoice_mock.bundled.fixtures` and `envoice_mock.bundled.scenarios`
(pyproject.toml), so a wheel carries them and an editable install points at the checkout's
folders. Either way importlib.resources finds them, whatever the current directory.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def bundled_dir(name: str) -> Path:
    """The directory of the bundled data package `envoice_mock.bundled.<name>` (fixtures or scenarios)."""
    return Path(str(resources.files(f"{__name__}.{name}")))
