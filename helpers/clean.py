"""Cleaning: decide for every file in the data folder whether it can be trained on.

`clean_images` reads each file with the kit's one decoder (`helpers.images.open_image`), so
nothing that passes cleaning can crash training later. Usable images are copied (or, when
their format needs it, converted to PNG) into a separate clean folder; unusable ones are
copied into a set-aside folder. The user's originals are only read, never moved or changed,
and every file appears exactly once in the report with its outcome and reason.

Beyond "can it be decoded", it does what a careful person sorting photos does: exact copies
(same bytes) and near copies (the same picture resized, re-encoded or brightened, found by a
perceptual hash) are kept once, the same picture in two classes is a label conflict for the
user to settle, and, optionally (`faces`), each photo is cropped to its face by the kit's one
face step (`helpers.faces`): `choose_face_step` first decides, for the whole folder, whether it
holds photos to crop or pictures that already are face crops. Identical copies that
`helpers.collect.import_folder` left out of the data folder (recorded as already_present in its
manifest) are listed too, as duplicates, so every imported source file is in the report, and
so is every folder or special file that `helpers.images.iter_files` left out (a folder that
cannot be read, a link out of the data folder, a named pipe).

Each file is decoded once: the decoded picture gives the perceptual hash, the face step's
crops and the converted copy (written to a staging folder until the outcomes are known).
Copies get names that are unique in their class, valid UTF-8 and at most `MAX_NAME_BYTES`
long (`output_names`), keep the original's permission bits, and `check_copies` makes sure the
report and the folders agree at the end.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import unicodedata
import warnings
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path, PurePosixPath

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers.collect import MANIFEST_NAME, copies_left_out
from helpers.faces import (
    FOLDER_SAMPLE,
    FaceResult,
    FaceRules,
    FaceStep,
    crop_face,
    find_faces,
    folder_framing,
)
from helpers.images import (
    REASONS,
    SKIP_REASONS,
    ImageError,
    class_folders,
    is_hidden,
    iter_files,
    open_image,
    sha256_of,
)
from helpers.workspace import (
    ARTEFACTS,
    OUTPUT_MARKER,
    Work,
    prepare_output_folder,
    write_error,
)

#: Formats and modes that are copied byte-for-byte; anything else is converted to PNG.
PLAIN_FORMATS = frozenset({"JPEG", "PNG", "BMP"})
PLAIN_MODES = frozenset({"RGB", "L"})
REPORT_COLUMNS = [
    "file", "class", "outcome", "reason", "detail", "width", "height", "format", "sha256",
    "phash", "face", "face_box", "output",
]
#: Outcomes whose copy in `work_dir/clean/` is used for training.
USABLE_OUTCOMES = ("kept", "converted", "cropped")
#: The report is saved here, relative to `work_dir`.
REPORT_NAME = ARTEFACTS["cleaning_report"].path
#: Side of the perceptual hash: HASH_SIZE**2 = 256 bits per image.
HASH_SIZE = 16
#: Longest name, in bytes of UTF-8, that a copy in clean/ or set_aside/ gets: the limit of
#: ext4, APFS and NTFS. A longer one is shortened, keeping its start, a tag and its extension.
MAX_NAME_BYTES = 255
#: Hex digits of the tag (from the original's path) that tells apart two copies whose names
#: would be the same, or a name that was shortened.
NAME_TAG_LENGTH = 8
#: Write errors that stop cleaning: the work folder itself cannot take the copies (disk full,
#: no permission). Any other error writing one copy sets that file aside (`copy_failed`).
FATAL_WRITE_ERRORS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC),
                                errno.EACCES, errno.EPERM, errno.EROFS})
#: Reasons only the cleaning report gives, beyond the decoder's (`helpers.images.REASONS`).
CLEAN_REASONS = {
    **SKIP_REASONS,
    "copy_failed": "its copy could not be written (an error on this one file, named in the "
                   "detail); the original is unchanged",
}
#: Every reason in the cleaning report, with what it means.
REPORT_REASONS = {**REASONS, **CLEAN_REASONS}
#: What `iter_files` left out becomes a `set_aside` row (the user can fix it) or, for what is
#: not a photo at all, an `ignored` one.
_SKIP_OUTCOMES = {"unreadable_folder": "set_aside", "outside_link": "set_aside",
                  "not_a_file": "ignored"}
#: Subfolder of clean/ where converted copies and face crops wait until the outcomes are known
#: (hidden: nothing later reads it, and it is removed at the end).
_STAGING = ".staging"
#: An extension longer than this is not kept apart when a name is shortened.
_MAX_EXTENSION = 8


def _inspect(path: Path) -> tuple[str, str]:
    """The file's format, and why it should be re-saved as PNG ('' if it can be copied as is),
    from its header only: nothing is decoded (a PNG's EXIF after its pixels is not read;
    `open_image` still applies it, so training sees the picture upright)."""
    with warnings.catch_warnings(), Image.open(path) as img:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS guards
        header_exif = img.format != "PNG" or "exif" in img.info  # else getexif decodes it all
        orientation = img.getexif().get(0x0112, 1) if header_exif else 1
        if img.format not in PLAIN_FORMATS:
            return img.format, f"{img.format} converted to PNG"
        if img.mode not in PLAIN_MODES:
            return img.format, f"{img.mode} image converted to RGB PNG"
        if orientation not in (None, 1):
            return img.format, "EXIF rotation applied"
        return img.format, ""


def keep_mode(src: Path, target: Path) -> None:
    """Give `target` the permission bits of `src` (a private photo stays private), keeping
    it readable and writable for its owner so the kit can move and replace it."""
    mode = (src.stat().st_mode & 0o777) | 0o600
    try:
        target.chmod(mode)
    except PermissionError:  # file systems without Unix permissions (FAT, some network drives)
        pass


def copy_usable(src: Path, target: Path) -> tuple[Path, str]:
    """Copy an image that passed cleaning to `target`, or re-save it as PNG (`target` + .png)
    when its format, mode or EXIF rotation needs it; either way with `src`'s permission bits,
    and under another name (`free_path`) if that one is taken. Returns the path written and
    what was converted ('' for a plain copy)."""
    _, conversion = _inspect(src)
    if conversion:
        target = target.with_name(target.name + ".png")
    target = free_path(target, str(src))
    target.parent.mkdir(parents=True, exist_ok=True)
    if conversion:
        open_image(src).save(target, format="PNG")
    else:
        shutil.copyfile(src, target)
    keep_mode(src, target)
    return target, conversion


def readable_name(name: str) -> str:
    """`name` as valid UTF-8: a byte that was not UTF-8 (a Latin-1 name from an old camera,
    which Python keeps as a surrogate) becomes %XX, so `café.png` in Latin-1 is `caf%E9.png`."""
    return "".join(
        (f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else "\ufffd")
        if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)


def _tagged(name: str, tag: str, shorten: bool) -> str:
    """`name` with `~tag` before its extension, cut (by bytes, never inside a character) so
    the whole fits `MAX_NAME_BYTES`."""
    suffix = PurePosixPath(name).suffix
    extension = suffix if 1 < len(suffix) <= _MAX_EXTENSION else ""
    stem = name[: len(name) - len(extension)]
    end = f"~{tag}{extension}"
    room = MAX_NAME_BYTES - len(end.encode())
    if shorten:
        stem = stem.encode()[:room].decode("utf-8", "ignore")
    return stem + end


def _folded(name: str) -> str:
    """`name` as a disk that ignores case and Unicode normalisation (macOS, Windows) sees it."""
    return unicodedata.normalize("NFC", name).casefold()


def unique_name(name: str, key: str, taken: set[str]) -> str:
    """A name for a copy, from `name` (made `readable_name`): as it is if it fits
    `MAX_NAME_BYTES` and no name in `taken` is the same (ignoring case and Unicode
    normalisation, as macOS and Windows do); else shortened and/or tagged with a hash of `key`
    (the original's path), so it is the same on every run. The name chosen is added to
    `taken` (as `_folded` compares it)."""
    name = readable_name(name)
    too_long = len(name.encode()) > MAX_NAME_BYTES
    tag = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:NAME_TAG_LENGTH]
    candidate, n = (_tagged(name, tag, True) if too_long else name), 1
    while _folded(candidate) in taken:
        candidate = _tagged(name, tag if n == 1 else f"{tag}-{n}", True)
        n += 1
    taken.add(_folded(candidate))
    return candidate


def free_path(target: Path, key: str) -> Path:
    """`target`, renamed by `unique_name` (tagged from `key`) if a file in its folder already
    has that name or it is too long: a copy never replaces another."""
    folder = target.parent
    taken = {_folded(p.name) for p in folder.iterdir()} if folder.is_dir() else set()
    return target.with_name(unique_name(target.name, key, taken))


def _copy_name(row: pd.Series) -> str | None:
    """The name a row's copy would have before `unique_name` (None: no copy): subfolders
    flattened with `__`, `.png` after a converted one, `__faceN.png` after a face crop."""
    if Path(row["file"]).is_absolute():  # an import copy: made from its original, if still there
        return f"import_copy__{Path(row['file']).name}" if Path(row["file"]).is_file() else None
    flat = "__".join(PurePosixPath(row["file"]).relative_to(row["class"]).parts)
    if row["outcome"] == "kept":
        return flat
    if row["outcome"] == "converted":
        return f"{flat}.png"
    if row["outcome"] == "cropped":
        return f"{flat}{'__face' + row['face'] if row['face'] else ''}.png"
    if row["outcome"] == "set_aside" and row["reason"] not in ("unreadable", *CLEAN_REASONS):
        return flat
    return None


def output_names(report: pd.DataFrame) -> dict[int, str]:
    """Where each row's copy goes, relative to the work folder (`clean/<class>/<name>` or
    `set_aside/<class>/<name>`), for the rows that get one. Names are unique within a class
    across clean/ and set_aside/ (so review can move a copy between them), decided in report
    order: the same data gives the same names on every run."""
    taken: dict[str, set[str]] = {}
    names = {}
    for i, row in report.iterrows():
        name = _copy_name(row)
        if name is None:
            continue
        key = row["file"] + (f"#face{row['face']}" if row["face"] else "")
        folder = "clean" if row["outcome"] in USABLE_OUTCOMES else "set_aside"
        name = unique_name(name, key, taken.setdefault(row["class"], set()))
        names[i] = f"{folder}/{readable_name(row['class'])}/{name}"
    return names


def check_copies(report: pd.DataFrame, work_dir: str | Path) -> None:
    """Raise RuntimeError unless the report and the copies agree: every `output` is a file, no
    two rows share one, and every file in clean/ and set_aside/ is some row's `output`."""
    work_dir = Path(work_dir)
    outputs = report.loc[report["output"].fillna("") != "", "output"]
    on_disk = {p.relative_to(work_dir).as_posix() for folder in ("clean", "set_aside")
               for p in (work_dir / folder).rglob("*")
               if p.is_file() and p.name != OUTPUT_MARKER and _STAGING not in p.parts}
    problems = {
        "shared by two rows": sorted(set(outputs[outputs.duplicated()])),
        "missing": sorted(set(outputs) - on_disk),
        "not in the report": sorted(on_disk - set(outputs)),
    }
    wrong = {what: paths[:5] for what, paths in problems.items() if paths}
    if wrong:
        raise RuntimeError(f"The cleaning report and the copies in {work_dir} disagree: "
                           f"{wrong}. Run notebook 02_clean_data again to make both afresh.")


class _Staging:
    """Converted copies and face crops, written from the one decoding of each file, waiting in
    `clean/.staging/` until the outcomes are known; keyed by (file, face)."""

    def __init__(self, clean_dir: Path):
        self.folder = clean_dir / _STAGING
        self.paths: dict[tuple[str, str], Path] = {}
        self.errors: dict[tuple[str, str], str] = {}

    def save(self, key: tuple[str, str], img: Image.Image) -> None:
        path = self.folder / f"{len(self.paths) + len(self.errors)}.png"
        try:
            self.folder.mkdir(exist_ok=True)
            img.save(path, format="PNG")
        except OSError as err:
            if err.errno in FATAL_WRITE_ERRORS:
                raise write_error(self.folder.parent, err) from err
            path.unlink(missing_ok=True)
            self.errors[key] = err.strerror or str(err)
            return
        self.paths[key] = path

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def why_unreadable(folder: Path) -> str:
    """Why `folder` cannot be listed, in the system's words ("Permission denied")."""
    try:
        os.listdir(folder)
    except OSError as err:
        return err.strerror or str(err)
    return "it could not be listed"


def _skipped_rows(data_dir: Path, cls: Path, skipped: Iterable[tuple[Path, str]]) -> list[dict]:
    """A report row for each folder or special file `iter_files` left out of a class."""
    rows = []
    for path, reason in skipped:
        row = dict.fromkeys(REPORT_COLUMNS, "")
        detail = SKIP_REASONS[reason]
        if reason == "unreadable_folder":
            detail = f"{why_unreadable(path)}: {detail}"
        row.update(file=path.relative_to(data_dir).as_posix(), outcome=_SKIP_OUTCOMES[reason],
                   reason=reason, detail=detail, **{"class": cls.name})
        rows.append(row)
    return rows


def _check_file(path: Path, row: dict, min_size: int) -> Image.Image | None:
    """Fill in `row` for one file (outcome, size, format, hashes); the decoded picture if it is
    usable, for the face step and the converted copy."""
    try:
        img = open_image(path)
    except ImageError as err:
        row.update(outcome="set_aside", reason=err.reason, detail=str(err))
        return None
    try:
        row["sha256"] = sha256_of(path)
        image_format, conversion = _inspect(path)
    except OSError as err:  # gone or unreadable since it was decoded
        row.update(outcome="set_aside", reason="unreadable", detail=str(err))
        return None
    row.update(width=img.width, height=img.height, format=image_format)
    if min(img.size) < min_size:
        row.update(outcome="set_aside", reason="too_small",
                   detail=f"{img.width}x{img.height} px, minimum side is {min_size} px")
        return None
    row.update(outcome="converted" if conversion else "kept", detail=conversion)
    row["phash"] = str(imagehash.phash(img, hash_size=HASH_SIZE))
    return img


def clean_images(
    data_dir: str | Path,
    work_dir: str | Path,
    min_size: int = 32,
    near_duplicate_distance: int | None = 20,
    faces: FaceStep | None = None,
) -> pd.DataFrame:
    """Sort every file under `data_dir`'s class folders into usable and set aside.

    Returns the report (one row per file, columns `REPORT_COLUMNS`); outcomes are
    `kept` (copied as is to `work_dir/clean/<class>/`), `converted` (re-saved there as PNG),
    `cropped` (cut to the face and saved there as PNG, only with `faces`), `set_aside`
    (copied to `work_dir/set_aside/<class>/`, reason in `REPORT_REASONS`) and `ignored`
    (hidden files, special files). `output` is where the copy went, relative to `work_dir`
    (names from `output_names`); a folder that could not be read or a link out of the data
    folder is a `set_aside` row without a copy. An identical copy that `import_folder`
    recorded as already_present and did not copy into `data_dir`
    (`helpers.collect.copies_left_out`) is a `set_aside` row too, reason `duplicate`, `file`
    its original's absolute path; its copy in set_aside/ is made from that original.

    `near_duplicate_distance`: two images whose perceptual hashes (256 bits) differ in at most
    this many bits are the same picture; in one class the largest is kept and the others are
    set aside as `near_duplicate`, across classes all are a `label_conflict`. None: no check.
    `faces`: the face step (`choose_face_step`). In mode `photos` each image is cropped to its
    face (`helpers.faces.find_faces`; with `every_face`, each clear face of a group photo
    becomes its own row, numbered in column `face`); in mode `face_crops` images are kept
    whole; None or mode `none`: no face step (the kit's drawn faces are not photos).

    A copy that cannot be written is set aside (`copy_failed`) and the others go on; a full
    disk or a work folder without write permission stops cleaning (`write_error` says why).
    """
    data_dir = Path(data_dir)
    classes = class_folders(data_dir)
    work_dir = Path(work_dir).resolve()
    work = Work(work_dir)
    clean_dir = prepare_output_folder(work.path("clean"), data_dir)
    work.path("cleaning_report").unlink(missing_ok=True)  # it described the clean/ just emptied
    prepare_output_folder(work.path("set_aside"), data_dir)
    crop_photos = faces is not None and faces.mode == "photos"

    rows: list[dict] = []
    files = []
    for cls in classes:
        skipped: list[tuple[Path, str]] = []
        files += [(cls, f) for f in iter_files(cls, include_hidden=True, skipped=skipped)]
        rows += _skipped_rows(data_dir, cls, skipped)
    staging = _Staging(clean_dir)
    found: dict[str, FaceResult] = {}
    for cls, path in tqdm(files, desc="Checking images", unit="file"):
        rel = path.relative_to(data_dir).as_posix()
        row = dict.fromkeys(REPORT_COLUMNS, "")
        row.update(file=rel, **{"class": cls.name})
        rows.append(row)
        if any(is_hidden(Path(part)) for part in path.relative_to(cls).parts):
            row.update(outcome="ignored", reason="hidden", detail=REASONS["hidden"])
            continue
        img = _check_file(path, row, min_size)
        if img is None:
            continue
        crops = []
        if crop_photos:
            found[rel] = find_faces(img, faces.rules)
            crops = found[rel].crops  # none unless its verdict is "crop"
        for n, box in enumerate(crops, start=1):
            staging.save((rel, str(n) if len(crops) > 1 else ""), crop_face(img, box))
        if row["outcome"] == "converted" and not crops:
            staging.save((rel, ""), img)

    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    _mark_duplicates(report)
    if near_duplicate_distance is not None:
        _mark_near_duplicates(report, near_duplicate_distance)
    if faces is not None and faces.mode == "face_crops":
        usable = report["outcome"].isin(["kept", "converted"])
        report.loc[usable, "detail"] = [
            f"{d}; a face crop, kept whole" if d else "a face crop, kept whole"
            for d in report.loc[usable, "detail"]]
    elif crop_photos:
        report = _apply_faces(report, found, faces.rules)
    report = _add_import_copies(report, data_dir)

    for cls in classes:  # a class with no usable image still has its (empty) folder
        (clean_dir / readable_name(cls.name)).mkdir(exist_ok=True)
    for i, target in output_names(report).items():
        row = report.loc[i]
        try:
            _write_copy(row, data_dir, work_dir / target, staging)
        except OSError as err:
            if err.errno in FATAL_WRITE_ERRORS:
                raise write_error((work_dir / target).parent, err) from err
            _set_aside(report, i, "copy_failed",
                       f"{CLEAN_REASONS['copy_failed']}: {err.strerror or err} (was "
                       f"{row['outcome']}{': ' + row['detail'] if row['detail'] else ''})")
            continue
        report.loc[i, ["output", "detail"]] = [target, _with_rename(row, Path(target).name)]
    staging.remove()
    check_copies(report, work_dir)
    return report


def _with_rename(row: pd.Series, name: str) -> str:
    """The row's detail, plus why its copy's name is not the one `_copy_name` gives."""
    natural = readable_name(_copy_name(row))
    if name == natural:
        return row["detail"]
    why = (f"longer than MAX_NAME_BYTES ({MAX_NAME_BYTES} bytes)"
           if len(natural.encode()) > MAX_NAME_BYTES else "already taken by another copy")
    note = f"copy named {name}: {natural} was {why}"
    return f"{row['detail']}; {note}" if row["detail"] else note


def _write_copy(row: pd.Series, data_dir: Path, target: Path, staging: _Staging) -> None:
    """Copy one file into the clean or set-aside folder byte for byte, or move its converted
    copy or face crop there from `staging`; with the original's permission bits."""
    src = data_dir / row["file"]  # an import copy's `file` is absolute: its original
    target.parent.mkdir(parents=True, exist_ok=True)
    if row["outcome"] in ("converted", "cropped"):
        key = (row["file"], row["face"])
        if key not in staging.paths:
            raise OSError(errno.EIO, staging.errors.get(key, "the converted copy is missing"))
        os.replace(staging.paths.pop(key), target)
    else:
        shutil.copyfile(src, target)
    keep_mode(src, target)


def _add_import_copies(report: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """A `duplicate` row for each identical copy the import left out of `data_dir`, with the
    size and hashes of the stored file it is a copy of."""
    copies = copies_left_out(data_dir)
    copies = copies[copies["class"].isin(set(report["class"]))]
    if copies.empty:
        return report
    stored = report.drop_duplicates("file").set_index("file")
    rows = []
    for copy in copies.to_dict("records"):
        row = dict.fromkeys(REPORT_COLUMNS, "")
        if copy["stored_path"] in stored.index:
            match = stored.loc[copy["stored_path"]]
            row.update({col: match[col] for col in ("width", "height", "format", "phash")})
        row.update(file=copy["original_path"], outcome="set_aside", reason="duplicate",
                   detail=f"exact copy of {copy['stored_path']}, so not imported "
                          f"(already_present in {MANIFEST_NAME})", sha256=copy["sha256"],
                   **{"class": copy["class"]})
        rows.append(row)
    return pd.concat([report, pd.DataFrame(rows, columns=REPORT_COLUMNS)], ignore_index=True)


def _set_aside(report: pd.DataFrame, i: int, reason: str, detail: str) -> None:
    report.loc[i, ["outcome", "reason", "detail"]] = ["set_aside", reason, detail]


def _mark_duplicates(report: pd.DataFrame) -> None:
    """Set aside exact copies: a second copy in the same class, every copy across classes."""
    usable = report["outcome"].isin(["kept", "converted"])
    for _, group in report[usable].groupby("sha256", sort=False):
        classes = group["class"].unique()
        if len(classes) > 1:
            for i in group.index:
                others = ", ".join(group.loc[group.index != i, "file"])
                _set_aside(report, i, "label_conflict", f"same image as {others}")
            continue
        first = group.index[0]
        for i in group.index[1:]:
            _set_aside(report, i, "duplicate", f"exact copy of {report.at[first, 'file']}")


def near_pairs(bits: np.ndarray, max_distance: int, block: int = 2048) -> list[list[int]]:
    """For each row of `bits` (0/1 hashes, one per row), the earlier rows within `max_distance`
    differing bits. Hamming distances are computed block by block as one matrix product
    (|a| + |b| - 2 a.b), so 100,000 hashes take a minute of BLAS, not hours of Python."""
    as_float = bits.astype(np.float32)
    ones = as_float.sum(axis=1)
    earlier: list[list[int]] = [[] for _ in range(len(bits))]
    for start in range(0, len(bits), block):
        stop = min(start + block, len(bits))
        products = as_float[start:stop] @ as_float[:stop].T
        distances = ones[start:stop, None] + ones[None, :stop] - 2 * products
        rows, cols = np.nonzero(distances <= max_distance + 0.5)
        for r, c in zip(rows + start, cols):
            if c < r:
                earlier[r].append(int(c))
    return earlier


def _mark_near_duplicates(report: pd.DataFrame, max_distance: int) -> None:
    """Set aside near copies: in one class all but the largest, across classes every copy.

    Images are visited largest first; each is compared with the ones visited before it that
    were not near copies themselves.
    """
    usable = report[report["outcome"].isin(["kept", "converted"])]
    order = (usable["width"] * usable["height"]).sort_values(ascending=False, kind="stable").index
    if not len(order):
        return
    bits = np.array([imagehash.hex_to_hash(report.at[i, "phash"]).hash.ravel() for i in order])
    candidates = near_pairs(bits, max_distance)
    kept: set[int] = set()  # positions in `order` of the images that others are compared with
    for pos, i in enumerate(order):
        close = sorted((int((bits[k] != bits[pos]).sum()), order[k])
                       for k in candidates[pos] if k in kept)
        conflicts = [j for _, j in close if report.at[j, "class"] != report.at[i, "class"]]
        if conflicts:
            for j in conflicts:
                _set_aside(report, j, "label_conflict", f"looks like {report.at[i, 'file']}")
            others = ", ".join(report.loc[conflicts, "file"])
            _set_aside(report, i, "label_conflict", f"looks like {others}")
        elif close:
            distance, j = close[0]
            _set_aside(report, i, "near_duplicate",
                       f"near copy of {report.at[j, 'file']} ({distance} of "
                       f"{bits.shape[1]} hash bits differ)")
            continue
        kept.add(pos)


def _apply_faces(report: pd.DataFrame, found: dict[str, FaceResult],
                 rules: FaceRules) -> pd.DataFrame:
    """Turn the face step's verdict on each still-usable image (`found`, by file) into an
    outcome; a group photo cropped face by face (`rules.every_face`) gets one row per face."""
    out: list[dict] = []
    for row in report.to_dict("records"):
        if row["outcome"] not in ("kept", "converted"):
            out.append(row)
            continue
        result = found[row["file"]]
        conversion = row["detail"]
        if result.verdict == "crop":
            for n, box in enumerate(result.crops, start=1):
                out.append({**row, "outcome": "cropped", "detail": result.detail,
                            "face": str(n) if len(result.crops) > 1 else "",
                            "face_box": ",".join(map(str, box))})
            continue
        if result.verdict == "face_crop" or rules.keep_unmatched:
            detail = result.detail
            if result.verdict != "face_crop":  # kept uncropped; the reason says why
                row["reason"] = result.verdict
                detail += ", kept uncropped"
            row["detail"] = f"{conversion}; {detail}" if conversion else detail
        else:
            row.update(outcome="set_aside", reason=result.verdict, detail=result.detail)
        out.append(row)
    return pd.DataFrame(out, columns=REPORT_COLUMNS)


def _image_sizes(data_dir: Path) -> dict[Path, tuple[int, int]]:
    """The pixel size of every readable image under `data_dir`'s class folders (headers only)."""
    sizes = {}
    for folder in class_folders(data_dir):
        for path in iter_files(folder):
            try:
                with warnings.catch_warnings(), Image.open(path) as img:
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    sizes[path] = img.size
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                continue
    return sizes


def choose_face_step(
    data_dir: str | Path, crop_faces: bool | None, rules: FaceRules | None = None,
    generated: bool = False,
) -> FaceStep:
    """Decide once, for the whole data folder, what the face step does (see `FaceStep`).

    `crop_faces`: False, no face step; True, every picture goes through the per-picture rule
    (`find_faces`); None (automatic), drawn faces (`generated`) get none, and an imported
    folder that already is face crops (FER, passport photos: nearly all one small, square-ish
    size, with faces filling the frame) is kept whole, otherwise treated as photos.
    """
    rules = rules or FaceRules()
    if crop_faces is False or (crop_faces is None and generated):
        why = "drawn faces: the detector misses many cartoons" if generated else "CROP_FACES=False"
        return FaceStep("none", rules, f"no face step ({why}): pictures are used whole")
    if crop_faces:
        return FaceStep("photos", rules, "CROP_FACES=True: every picture is cropped to its face")
    sizes = _image_sizes(Path(data_dir))
    paths = sorted(sizes)
    common = pd.Series([sizes[p] for p in paths]).mode()
    same = [p for p in paths if len(common) and sizes[p] == common.iloc[0]]
    step = max(1, len(same) // FOLDER_SAMPLE)
    sample = []
    for path in same[::step][:FOLDER_SAMPLE]:
        try:
            sample.append(open_image(path))
        except ImageError:
            continue
    crops, margin, detail = folder_framing(list(sizes.values()), sample, rules)
    if crops:
        return FaceStep("face_crops", replace(rules, margin=margin), detail)
    return FaceStep("photos", rules, f"{detail}; each picture is cropped to its face")


def summarize_report(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per class and outcome, with a total row: what went in and what came out."""
    return pd.crosstab(report["class"], report["outcome"], margins=True, margins_name="total")


def set_aside_table(report: pd.DataFrame) -> pd.DataFrame:
    """The set-aside files with their reasons, for display."""
    cols = ["file", "class", "reason", "detail"]
    return report.loc[report["outcome"] == "set_aside", cols].reset_index(drop=True)
