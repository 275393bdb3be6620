"""Where collected photos go and how each is recorded, shared by the three ways in.

`import_folder` (helpers.collect), `download_urls` (helpers.download) and `search_images`
(helpers.search) all store files as `data_dir/<class>/<sha256[:16]><ext>` through one
`ClassStore`, and record a row per source file in `data_dir/collect_manifest.csv`: kept here
so the naming, the manifest's columns and the two-class rule are the same whichever way a
photo came in. The manifest is written with `helpers.workspace.write_table`, so any file name
survives and a copy re-saved by a spreadsheet still reads.
"""

from __future__ import annotations

import os
import shutil
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from .images import IMAGE_EXTENSIONS, class_folders, is_hidden, iter_files, sha256_of
from .workspace import read_table, write_table

#: The manifest file, at `data_dir / MANIFEST_NAME`; one row per source file per run.
MANIFEST_NAME = "collect_manifest.csv"
#: Manifest columns, in order.
MANIFEST_COLUMNS = [
    "original_path",
    "class",
    "source",
    "status",
    "bytes",
    "sha256",
    "stored_path",
    "url",
]

BINARY_HINT = "this kit is binary: it needs two class folders, e.g. happy/ and sad/"



@dataclass
class ManifestRow:
    """One source file's line in the collect manifest (`MANIFEST_COLUMNS`)."""

    original_path: str
    class_: str
    source: str
    status: str
    bytes: int = 0
    sha256: str = ""
    stored_path: str = ""
    url: str = ""

    def as_dict(self) -> dict:
        row = asdict(self)
        row["class"] = row.pop("class_")
        return {col: row[col] for col in MANIFEST_COLUMNS}


# --------------------------------------------------------------------------- manifest


def read_manifest(data_dir: str | Path) -> pd.DataFrame:
    """The whole collection manifest of `data_dir` (empty DataFrame if there is none yet),
    read with `helpers.workspace.read_table` (a copy re-saved in another encoding reads)."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        return manifest_frame([])
    frame = read_table(path)
    frame["bytes"] = frame["bytes"].fillna(0).astype("int64")
    return frame


def copies_left_out(data_dir: str | Path) -> pd.DataFrame:
    """The files `import_folder` found byte-identical to one already stored in their class
    (status already_present) and so never copied into `data_dir`: one manifest row per such
    original, `stored_path` naming the file it is a copy of. A file imported in any run is not
    one of them (importing again records every file as already_present). Cleaning lists these
    copies too, so that every source file is in the cleaning report."""
    manifest = read_manifest(data_dir)
    folder = manifest[manifest["source"] == "folder"]
    imported = set(folder.loc[folder["status"] == "imported", "original_path"])
    copies = folder[(folder["status"] == "already_present")
                    & ~folder["original_path"].isin(imported)]
    return copies.drop_duplicates("original_path", keep="last").reset_index(drop=True)


def manifest_frame(rows: Iterable[ManifestRow]) -> pd.DataFrame:
    """`rows` as a table with the manifest's columns."""
    frame = pd.DataFrame([row.as_dict() for row in rows], columns=MANIFEST_COLUMNS)
    frame["bytes"] = frame["bytes"].astype("int64")
    return frame


def append_manifest(data_dir: Path, rows: Sequence[ManifestRow]) -> None:
    """Add `rows` to `data_dir`'s collect manifest (made if missing)."""
    if not rows:
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    write_table(manifest_frame(rows), data_dir / MANIFEST_NAME, append=True)


def warn_about(rows: Iterable[ManifestRow], advice: Mapping[str, str], things: str) -> None:
    """One warning naming each status in `advice` that `rows` have, with what to do."""
    counts = Counter(row.status for row in rows if row.status in advice)
    if counts:
        warnings.warn("; ".join(f"{n} {things} {status}: {advice[status]}"
                                for status, n in counts.items()), stacklevel=3)


# --------------------------------------------------------------------------- storing


class ClassStore:
    """One class folder of `data_dir`, storing files under content-hash names."""

    def __init__(self, data_dir: Path, class_name: str):
        self.data_dir = data_dir
        self.name = class_name
        self.folder = data_dir / class_name
        self.folder.mkdir(parents=True, exist_ok=True)
        # Stems already stored: the same bytes under another extension count as present.
        self.stems = {p.stem: p for p in self.folder.iterdir() if p.is_file() and not is_hidden(p)}

    def temp_path(self) -> Path:
        """A hidden scratch file in the class folder (`iter_files` never sees it)."""
        return self.folder / f".partial-{uuid.uuid4().hex}"

    def find(self, sha256: str) -> str:
        """stored_path of the file with these bytes, or "" if there is none yet."""
        existing = self.stems.get(sha256[:16])
        return self._relative(existing) if existing is not None else ""

    def put(self, filled: Path, sha256: str, ext: str) -> tuple[str, str]:
        """Move the scratch file `filled` into place; return (status, stored_path)."""
        stem = sha256[:16]
        existing = self.stems.get(stem)
        if existing is not None:
            filled.unlink(missing_ok=True)
            return "already_present", self._relative(existing)
        target = self.folder / f"{stem}{ext.lower()}"
        os.replace(filled, target)
        self.stems[stem] = target
        return "stored", self._relative(target)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()


def store_file(path: Path, store: ClassStore, source: str, url: str = "") -> ManifestRow:
    """Copy one file into `store` (bytes unchanged, permissions no wider than the
    original's) and describe what happened."""
    row = ManifestRow(url or str(path.absolute()), store.name, source, "skipped_extension", url=url)
    try:
        info = path.stat()
        row.bytes = info.st_size
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return row
        row.sha256 = sha256_of(path)
        existing = store.find(row.sha256)
        if existing:
            row.status, row.stored_path = "already_present", existing
            return row
        scratch = store.temp_path()
        try:
            # Created with the original's read/write bits (less the umask), so a private
            # photo stays private; the descriptor may write even if those bits are read-only.
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, info.st_mode & 0o666)
            with os.fdopen(fd, "wb") as copy, open(path, "rb") as original:
                shutil.copyfileobj(original, copy)
            status, row.stored_path = store.put(scratch, row.sha256, path.suffix)
        finally:
            scratch.unlink(missing_ok=True)
    except OSError:
        row.status = "unreadable"
        return row
    row.status = (
        ("imported" if source == "folder" else "downloaded") if status == "stored" else status
    )
    return row


# --------------------------------------------------------------------------- checks


def check_class_name(class_name: str) -> None:
    """Refuse a class name that is empty, a path or otherwise no folder name."""
    if (
        not isinstance(class_name, str)
        or not class_name.strip()
        or class_name in (".", "..")
        or "/" in class_name
        or "\\" in class_name
        or is_hidden(Path(class_name))
    ):
        raise ValueError(
            f"class_name {class_name!r} is not a usable folder name. "
            "Use a plain name such as 'happy' or 'sad'."
        )


def check_data_dir_classes(data_dir: Path, new_classes: Sequence[str]) -> None:
    """Refuse to give `data_dir` more than two classes (empty class folders don't count)."""
    existing = []
    if data_dir.is_dir():
        existing = [p.name for p in class_folders(data_dir) if next(iter_files(p), None)]
    together = sorted(set(existing) | set(new_classes))
    if len(together) > 2:
        raise ValueError(
            f"Data folder {data_dir} already holds the classes {', '.join(existing)}; "
            f"adding {', '.join(new_classes)} would make {len(together)} classes, but "
            f"{BINARY_HINT}. Use another DATA_DIR, or remove the class folder(s) you no "
            "longer want from the data folder."
        )
