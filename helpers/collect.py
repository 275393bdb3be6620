"""Collecting photos: get a learner's own pictures into the kit's data folder.

Three ways in, one result: `data_dir/<class>/<sha256[:16]><ext>` files plus a row per source
file in `data_dir/collect_manifest.csv`.

* `import_folder` copies photos from a folder with one subfolder per class (happy/, sad/);
  it lives here, with its folder walk.
* `download_urls` downloads a text file of image URLs into one class (resumable;
  helpers.download).
* `search_images` fetches search-engine results with icrawler (needs internet;
  helpers.search).

All three, the manifest readers and the limits are importable from here, the one module a
notebook or a learner needs; the storing and the manifest they share are in helpers.store.

Files are named by a hash of their bytes, so the same picture collected twice (or under two
names) is stored once, and re-running a collection step adds nothing new. Originals are
never modified or deleted, and nothing is decoded here: checking that every file really is
a usable image is the cleaning stage's job (a download's first bytes are only looked at to
name its format when the server does not say). The manifest says where every file came
from and what happened to it, including the ones that were skipped or failed; it is written
with `helpers.workspace.write_table`, so any file name survives and a copy re-saved by a
spreadsheet still reads. Nothing waits for ever: each download has a deadline
(`DOWNLOAD_DEADLINE`), and walks never follow a link out of the photo folder.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from .download import (
    DONE_STATUSES,
    DOWNLOAD_DEADLINE,
    DOWNLOAD_TIMEOUT,
    MAX_DOWNLOAD_BYTES,
    download_urls,
)
from .images import IMAGE_EXTENSIONS, class_folders, is_hidden, iter_files
from .search import OfflineError, search_images
from .store import (
    BINARY_HINT,
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    ClassStore,
    ManifestRow,
    append_manifest,
    check_data_dir_classes,
    copies_left_out,
    manifest_frame,
    read_manifest,
    store_file,
    warn_about,
)
from .workspace import overlaps

__all__ = [
    "DONE_STATUSES",
    "DOWNLOAD_DEADLINE",
    "DOWNLOAD_TIMEOUT",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MAX_DOWNLOAD_BYTES",
    "OfflineError",
    "copies_left_out",
    "download_urls",
    "import_folder",
    "read_manifest",
    "search_images",
]

_FORMATS = "JPEG, PNG, BMP, GIF, WebP or TIFF"


def _check_not_nested(source_dir: Path, data_dir: Path) -> None:
    if overlaps(source_dir, data_dir):
        raise ValueError(
            f"The photo folder {source_dir} and the data folder {data_dir} overlap. "
            "Keep your originals in a separate folder (e.g. ~/my_faces) and import from there."
        )


def _pick_classes(source_dir: Path, classes: Sequence[str] | None) -> list[Path]:
    found = class_folders(source_dir)
    names = [p.name for p in found]
    if classes is not None:
        if isinstance(classes, str):
            classes = [classes]
        missing = [c for c in classes if c not in names]
        if missing:
            raise ValueError(
                f"No class folder named {', '.join(map(repr, missing))} in {source_dir}; "
                f"the class folders there are: {', '.join(names) or '(none)'}."
            )
        found = [source_dir / c for c in dict.fromkeys(classes)]
        names = [p.name for p in found]
    if not found:
        loose = sum(1 for p in source_dir.iterdir() if p.is_file() and not is_hidden(p))
        extra = (
            f" It has {loose} file(s) directly inside; move them into those subfolders."
            if loose
            else ""
        )
        raise ValueError(
            f"{source_dir} has no class subfolders. Put your photos in one subfolder per "
            f"class, e.g. {source_dir / 'happy'} and {source_dir / 'sad'}.{extra}"
        )
    if len(found) == 1:
        raise ValueError(
            f"{source_dir} has only one class folder ({names[0]}/), but {BINARY_HINT}. "
            "Add a folder for the other class with its photos."
        )
    if len(found) > 2:
        raise ValueError(
            f"{source_dir} has {len(found)} class folders ({', '.join(names)}), but "
            f"{BINARY_HINT}. Pick two with classes=[{names[0]!r}, {names[1]!r}] "
            "or move the others out of the folder."
        )
    return found


# --------------------------------------------------------------------------- import_folder

#: What to do about the import statuses that need a look (`import_folder` warns about them).
_IMPORT_ADVICE = {
    "skipped_unreadable_folder": "a folder that cannot be read (no permission or a disk "
                                 "error), so the photos in it are left out: fix its "
                                 "permissions (chmod -R u+rX FOLDER) and import again",
    "skipped_outside_link": "a link to a folder outside its class folder, not followed (it "
                            "could mix the classes or lead anywhere on the disk): copy the "
                            "photos in instead of linking to them",
    "skipped_not_a_file": "not a regular file (a named pipe, device, socket or broken link)",
    "unreadable": "a file that cannot be read (no permission or a disk error)",
}


def import_folder(
    source_dir: str | Path, data_dir: str | Path, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Copy a folder of photos, one subfolder per class, into `data_dir`.

    Every file under `source_dir` is recorded in the manifest: files with an image extension
    below each class folder (nested subfolders included) are copied unchanged to
    `data_dir/<class>/<sha256[:16]><ext>` (imported; the copy gets the original's permission
    bits, less the umask). A file byte-identical to one already stored in its class is
    already_present and not copied (`copies_left_out` lists these). The other statuses:
    skipped_extension (no image extension), skipped_hidden (hidden and system files such as
    `.DS_Store`, `._x.jpg`, checkpoint folders), skipped_no_class (directly in `source_dir`),
    skipped_other_class (in a class folder not picked), and, with a warning saying what to do:
    skipped_unreadable_folder (one row for a folder that cannot be read), skipped_outside_link
    (a link out of its class folder, not followed), skipped_not_a_file (pipe, device, broken
    link), unreadable. A class folder that links out of `source_dir` or cannot be read is
    refused before anything is copied. Running it again copies nothing twice. `classes` picks
    which two subfolders to import. Returns this run's manifest rows.
    """
    source_dir, data_dir = Path(source_dir).expanduser(), Path(data_dir).expanduser()
    if not source_dir.exists():
        raise FileNotFoundError(
            f"Photo folder {source_dir} does not exist. Check the path (SOURCE_DIR in "
            "notebook 01): it should be a folder with one subfolder per class, e.g. happy/ "
            "and sad/."
        )
    if not source_dir.is_dir():
        raise ValueError(
            f"{source_dir} is a file, not a folder. If it is a .zip, unzip it first and give "
            "the folder that holds the class subfolders (happy/, sad/)."
        )
    _check_not_nested(source_dir, data_dir)
    picked = _pick_classes(source_dir, classes)
    for folder in picked:
        _check_class_folder(folder, source_dir)
    files, rows = _survey(source_dir, picked)
    for folder in picked:
        _check_has_images(folder, files[folder.name], rows)
    check_data_dir_classes(data_dir, list(files))

    total = sum(len(v) for v in files.values())
    try:
        with tqdm(total=total, desc="Importing", unit="file") as bar:
            for class_name, class_files in files.items():
                store = ClassStore(data_dir, class_name)
                for path in class_files:
                    rows.append(store_file(path, store, "folder"))
                    bar.update()
    finally:
        append_manifest(data_dir, rows)
    warn_about(rows, _IMPORT_ADVICE, "file(s) or folder(s)")
    return manifest_frame(rows)


def _check_class_folder(folder: Path, source_dir: Path) -> None:
    """Refuse a class folder that is a link out of `source_dir` or cannot be read."""
    real = folder.resolve()
    if not real.is_relative_to(source_dir.resolve()):
        raise ValueError(
            f"The class folder {folder} is a link to {real}, outside {source_dir}: the kit "
            "does not follow links out of the photo folder (they can lead anywhere on the "
            f"disk). Copy the photos into {folder} instead of linking to them."
        )
    try:
        os.listdir(folder)
    except OSError as err:
        raise OSError(
            err.errno, f"Cannot read the class folder {folder} ({err.strerror}): fix its "
            "permissions (e.g. chmod -R u+rX on it), or pick other class folders with "
            "classes=[...]."
        ) from err


def _survey(source_dir: Path, picked: Sequence[Path]
            ) -> tuple[dict[str, list[Path]], list[ManifestRow]]:
    """Walk `source_dir`: the files to copy for each picked class, and a row for everything
    else, including what `iter_files` leaves out. A class folder's walk stays inside it, so
    a link cannot pull one class's photos into the other."""
    files: dict[str, list[Path]] = {folder.name: [] for folder in picked}
    rows: list[ManifestRow] = []
    for entry in sorted(source_dir.iterdir()):
        skipped: list[tuple[Path, str]] = []
        if entry.name in files:
            walk = iter_files(entry, include_hidden=True, within=entry, skipped=skipped)
        elif entry.is_dir():
            walk = iter_files(entry, include_hidden=True, within=source_dir, skipped=skipped)
        elif entry.is_file():
            walk = iter([entry])
        else:
            walk, skipped = iter([]), [(entry, "not_a_file")]
        for path in walk:
            if entry.name in files and not _hidden_below(path, source_dir):
                files[entry.name].append(path)
                continue
            status = ("skipped_hidden" if _hidden_below(path, source_dir) else
                      "skipped_no_class" if path.parent == source_dir else "skipped_other_class")
            rows.append(ManifestRow(str(path.absolute()),
                                    entry.name if status == "skipped_other_class" else "",
                                    "folder", status, _size(path)))
        for path, reason in skipped:
            if reason == "outside_link" and _links_up(path, entry, source_dir):
                continue  # a loop back up: everything in it is walked anyway (or not picked)
            in_class = path != entry and not _hidden_below(path, source_dir)
            rows.append(ManifestRow(str(path.absolute()), entry.name if in_class else "", "folder",
                             f"skipped_{reason}"))
    return files, rows


def _check_has_images(folder: Path, files: Sequence[Path], rows: Sequence[ManifestRow]) -> None:
    """Refuse a class folder without a single image, saying what it holds instead."""
    if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
        return
    others = sorted({p.suffix.lower() or "(no extension)" for p in files})
    detail = (f" It holds {len(files)} other file(s) ({', '.join(others)}): convert them to "
              "JPEG or PNG." if others else "")
    left_out = [row for row in rows
                if row.class_ == folder.name and row.status in _IMPORT_ADVICE]
    if left_out:
        detail += (f" {len(left_out)} thing(s) in it were left out, e.g. "
                   f"{left_out[0].original_path} ({left_out[0].status}).")
    raise ValueError(
        f"Class folder {folder} has no images ({_FORMATS}).{detail} Add photos to it, "
        "or pick other class folders with classes=[...]."
    )


def _links_up(link: Path, folder: Path, source_dir: Path) -> bool:
    """True if `link` leads back up to `folder` or a folder above it, within `source_dir`."""
    try:
        target = link.resolve()
        return target.is_relative_to(source_dir.resolve()) and folder.resolve().is_relative_to(
            target)
    except (OSError, RuntimeError):
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hidden_below(path: Path, root: Path) -> bool:
    return any(is_hidden(Path(part)) for part in path.relative_to(root).parts)
