"""Cleaning: decide for every file in the data folder whether it can be trained on.

`clean_images` reads each file with the kit's one decoder (`helpers.images.open_image`), so
nothing that passes cleaning can crash training later. Usable images are copied (or, when
their format needs it, converted to PNG) into a separate clean folder; unusable ones are
copied into a set-aside folder. The user's originals are only read, never moved or changed,
and every file appears exactly once in the report with its outcome and reason.

Beyond "can it be decoded", it does what a careful person sorting photos does: exact copies
(same bytes) and near copies (the same picture resized, re-encoded or brightened, found by a
perceptual hash; `helpers.duplicates`) are kept once, the same picture in two classes is a
label conflict for the user to settle, and, optionally (`faces`), each photo is cropped to its
face by the kit's one face step (`helpers.faces`; `helpers.clean_faces.choose_face_step` first
decides, for the whole folder, whether it holds photos to crop or pictures that already are
face crops). Identical copies that `helpers.collect.import_folder` left out of the data folder
(recorded as already_present in its manifest) are listed too, as duplicates, so every imported
source file is in the report, and so is every folder or special file that
`helpers.images.iter_files` left out (a folder that cannot be read, a link out of the data
folder, a named pipe).

Each file is decoded once: the decoded picture gives the perceptual hash, the face step's
crops and the converted copy (written to a staging folder until the outcomes are known;
`helpers.copies`). Copies get names (`helpers.names`) that are unique in their class, valid
UTF-8 and at most `MAX_NAME_BYTES` long (`output_names`), keep the original's permission bits,
and `check_copies` makes sure the report and the folders agree at the end.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

import imagehash
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers import names
from helpers.clean_faces import apply_faces
from helpers.collect import MANIFEST_NAME, copies_left_out
from helpers.copies import (
    FATAL_WRITE_ERRORS,
    STAGING,
    Staging,
    inspect_format,
    keep_mode,
)
from helpers.duplicates import mark_duplicates, mark_near_duplicates, set_aside
from helpers.faces import (
    FaceResult,
    FaceStep,
    crop_face,
    find_faces,
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
from helpers.names import readable_name, unique_name
from helpers.workspace import (
    ARTEFACTS,
    OUTPUT_MARKER,
    Work,
    prepare_output_folder,
    write_error,
)

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
               if p.is_file() and p.name != OUTPUT_MARKER and STAGING not in p.parts}
    problems = {
        "shared by two rows": sorted(set(outputs[outputs.duplicated()])),
        "missing": sorted(set(outputs) - on_disk),
        "not in the report": sorted(on_disk - set(outputs)),
    }
    wrong = {what: paths[:5] for what, paths in problems.items() if paths}
    if wrong:
        raise RuntimeError(f"The cleaning report and the copies in {work_dir} disagree: "
                           f"{wrong}. Run notebook 02_clean_data again to make both afresh.")


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
        image_format, conversion = inspect_format(path)
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
    staging = Staging(clean_dir)
    rows, found = _check_files(data_dir, classes, min_size, faces, staging)
    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    mark_duplicates(report)
    if near_duplicate_distance is not None:
        mark_near_duplicates(report, near_duplicate_distance)
    if faces is not None and faces.mode == "face_crops":
        usable = report["outcome"].isin(["kept", "converted"])
        report.loc[usable, "detail"] = [
            f"{d}; a face crop, kept whole" if d else "a face crop, kept whole"
            for d in report.loc[usable, "detail"]]
    elif faces is not None and faces.mode == "photos":
        report = apply_faces(report, found, faces.rules)
    report = _add_import_copies(report, data_dir)
    for cls in classes:  # a class with no usable image still has its (empty) folder
        (clean_dir / readable_name(cls.name)).mkdir(exist_ok=True)
    _write_copies(report, data_dir, work_dir, staging)
    staging.remove()
    check_copies(report, work_dir)
    return report


def _check_files(data_dir: Path, classes: list[Path], min_size: int, faces: FaceStep | None,
                 staging: Staging) -> tuple[list[dict], dict[str, FaceResult]]:
    """Every file's report row (decoded once); face crops and converted pictures staged.
    Returns the rows and, when photos are cropped, each file's faces."""
    crop_photos = faces is not None and faces.mode == "photos"
    rows: list[dict] = []
    files = []
    for cls in classes:
        skipped: list[tuple[Path, str]] = []
        files += [(cls, f) for f in iter_files(cls, include_hidden=True, skipped=skipped)]
        rows += _skipped_rows(data_dir, cls, skipped)
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
    return rows, found


def _write_copies(report: pd.DataFrame, data_dir: Path, work_dir: Path,
                  staging: Staging) -> None:
    """Write each row's copy where `output_names` says and record it in `output`; a copy that
    cannot be written sets its row aside, a full disk or missing permission stops."""
    for i, target in output_names(report).items():
        row = report.loc[i]
        try:
            _write_copy(row, data_dir, work_dir / target, staging)
        except OSError as err:
            if err.errno in FATAL_WRITE_ERRORS:
                raise write_error((work_dir / target).parent, err) from err
            set_aside(report, i, "copy_failed",
                       f"{CLEAN_REASONS['copy_failed']}: {err.strerror or err} (was "
                       f"{row['outcome']}{': ' + row['detail'] if row['detail'] else ''})")
            continue
        report.loc[i, ["output", "detail"]] = [target, _with_rename(row, Path(target).name)]


def _with_rename(row: pd.Series, name: str) -> str:
    """The row's detail, plus why its copy's name is not the one `_copy_name` gives."""
    natural = readable_name(_copy_name(row))
    if name == natural:
        return row["detail"]
    why = (f"longer than MAX_NAME_BYTES ({names.MAX_NAME_BYTES} bytes)"
           if len(natural.encode()) > names.MAX_NAME_BYTES else "already taken by another copy")
    note = f"copy named {name}: {natural} was {why}"
    return f"{row['detail']}; {note}" if row["detail"] else note


def _write_copy(row: pd.Series, data_dir: Path, target: Path, staging: Staging) -> None:
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


def summarize_report(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per class and outcome, with a total row: what went in and what came out."""
    return pd.crosstab(report["class"], report["outcome"], margins=True, margins_name="total")


def set_aside_table(report: pd.DataFrame) -> pd.DataFrame:
    """The set-aside files with their reasons, for display."""
    cols = ["file", "class", "reason", "detail"]
    return report.loc[report["outcome"] == "set_aside", cols].reset_index(drop=True)
