"""The research data beside a checkout (`../shared/data/`), unpacked at run time, never committed.

Each benchmark takes `--data DIR` (a folder with one subfolder per class) or, without it,
unpacks its archive into a temporary folder; when neither is there it says so and exits 0.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FER_ARCHIVE = SHARED / "fer2013-happy-sad-train.tar.gz"
FER_VALIDATION_ARCHIVE = SHARED / "fer2013-happy-sad-validation.tar.gz"  # outside FER's training
WEB_PHOTOS_ARCHIVE = SHARED / "web-photos-happy-sad.tar.gz"


def find_data(data: Path | None, workdir: Path, archive: Path) -> Path | None:
    """The folder to use: `data` if given (None if it is not a folder), else `archive` unpacked
    into `workdir` (None if the archive is absent)."""
    if data is not None:
        return data if data.is_dir() else None
    if not archive.is_file():
        return None
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    folders = [p for p in workdir.iterdir() if p.is_dir()]
    return folders[0] if len(folders) == 1 and not (workdir / "happy").is_dir() else workdir


def absent(data: Path | None, archive: Path, holds: str) -> str:
    """What to say when neither `data` nor `archive` is there (the benchmark then exits 0)."""
    where = data if data is not None else archive
    return (f"Data absent: {where} not found, nothing to benchmark.\n"
            f"Supply it with --data DIR (a folder with happy/ and sad/ subfolders of {holds}) "
            f"or put the archive at {archive}.")
