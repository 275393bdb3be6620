"""The course's folders: checks that each notebook has what it needs, and safe output folders.

Notebooks call `require` to fail early with "run notebook NN first" instead of a confusing
error deep inside, and `prepare_output_folder` to (re)create folders the kit owns without
ever touching a folder of the user's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

#: Written into folders the kit creates, so re-runs may safely replace them.
OUTPUT_MARKER = ".made-by-course-kit"


def require(path: str | Path, made_by: str) -> Path:
    """Return `path` if it exists, else raise FileNotFoundError naming the notebook to run first."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist yet: run notebook {made_by} first "
            "(with the same WORK_DIR and DATA_DIR parameters)."
        )
    return path


def is_kit_folder(folder: str | Path) -> bool:
    """True if the kit created `folder` (it holds the marker file)."""
    return (Path(folder) / OUTPUT_MARKER).exists()


def prepare_output_folder(folder: str | Path, protected: str | Path) -> Path:
    """Create (or empty, if the kit made it) an output folder that must not overlap `protected`."""
    folder, protected = Path(folder).resolve(), Path(protected).resolve()
    if folder == protected or protected in folder.parents or folder in protected.parents:
        raise ValueError(
            f"{folder} overlaps {protected}. Keep DATA_DIR and WORK_DIR apart so the kit "
            "never writes into your photos."
        )
    if folder.exists() and any(folder.iterdir()):
        if not is_kit_folder(folder):
            raise ValueError(
                f"{folder} already holds files the kit did not make; refusing to replace them. "
                "Choose an empty or new folder."
            )
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OUTPUT_MARKER).touch()
    return folder
