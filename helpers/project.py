"""The kit's pyproject.toml, read in one place: its version and the Pythons it installs on.
Standard library only, so the pre-flight check and Colab's set-up can read it before (or
without) the kit's packages."""

from __future__ import annotations

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the pre-flight check must still say it is too old
    tomllib = None

ROOT = Path(__file__).resolve().parent.parent


def pyproject(kit: Path = ROOT) -> dict:
    """The `[project]` table of the pyproject.toml of the kit in `kit` (this one by default).
    Without tomllib (Python < 3.11) only its one-line `version` and `requires-python`."""
    text = (kit / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is None:
        return dict(re.findall(r'^(version|requires-python) = "([^"]*)"$', text, re.MULTILINE))
    return tomllib.loads(text)["project"]


def kit_version(kit: Path = ROOT) -> str:
    """The version of the kit in `kit` (this one by default), written into every card."""
    try:
        return pyproject(kit)["version"]
    except (OSError, KeyError, ValueError):
        return "unknown"
