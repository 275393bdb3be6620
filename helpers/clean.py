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
manifest) are listed too, as duplicates, so every imported source file is in the report.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import replace
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers.collect import MANIFEST_NAME, copies_left_out
from helpers.faces import (
    FOLDER_SAMPLE,
    FaceRules,
    FaceStep,
    crop_face,
    find_faces,
    folder_framing,
)
from helpers.images import (
    REASONS,
    ImageError,
    class_folders,
    is_hidden,
    iter_files,
    open_image,
    sha256_of,
)
from helpers.workspace import prepare_output_folder, write_error

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
REPORT_NAME = "cleaning_report.csv"
#: Side of the perceptual hash: HASH_SIZE**2 = 256 bits per image.
HASH_SIZE = 16


def _inspect(path: Path) -> tuple[str, str]:
    """The file's format, and why it should be re-saved as PNG ('' if it can be copied as is)."""
    with warnings.catch_warnings(), Image.open(path) as img:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS guards
        orientation = img.getexif().get(0x0112, 1)
        if img.format not in PLAIN_FORMATS:
            return img.format, f"{img.format} converted to PNG"
        if img.mode not in PLAIN_MODES:
            return img.format, f"{img.mode} image converted to RGB PNG"
        if orientation not in (None, 1):
            return img.format, "EXIF rotation applied"
        return img.format, ""


def copy_usable(src: Path, target: Path) -> tuple[Path, str]:
    """Copy an image that passed cleaning to `target`, or re-save it as PNG (`target` + .png)
    when its format, mode or EXIF rotation needs it. Returns the path written and what was
    converted ('' for a plain copy)."""
    _, conversion = _inspect(src)
    target.parent.mkdir(parents=True, exist_ok=True)
    if conversion:
        target = target.with_name(target.name + ".png")
        open_image(src).save(target, format="PNG")
    else:
        shutil.copyfile(src, target)
    return target, conversion


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
    (copied to `work_dir/set_aside/<class>/`, reason in `helpers.images.REASONS`) and
    `ignored` (hidden files). `output` is where the copy went, relative to `work_dir`.
    An identical copy that `import_folder` recorded as already_present and did not copy into
    `data_dir` (`helpers.collect.copies_left_out`) is a `set_aside` row too, reason `duplicate`,
    `file` its original's absolute path; its copy in set_aside/ is made from that original.

    `near_duplicate_distance`: two images whose perceptual hashes (256 bits) differ in at most
    this many bits are the same picture; in one class the largest is kept and the others are
    set aside as `near_duplicate`, across classes all are a `label_conflict`. None: no check.
    `faces`: the face step (`choose_face_step`). In mode `photos` each image is cropped to its
    face (`helpers.faces.find_faces`; with `every_face`, each clear face of a group photo
    becomes its own row, numbered in column `face`); in mode `face_crops` images are kept
    whole; None or mode `none`: no face step (the kit's drawn faces are not photos).
    """
    data_dir = Path(data_dir)
    classes = class_folders(data_dir)
    work_dir = Path(work_dir).resolve()
    clean_dir = prepare_output_folder(work_dir / "clean", data_dir)
    set_aside_dir = prepare_output_folder(work_dir / "set_aside", data_dir)

    rows: list[dict] = []
    files = [(cls, f) for cls in classes for f in iter_files(cls, include_hidden=True)]
    for cls, path in tqdm(files, desc="Checking images", unit="file"):
        rel = path.relative_to(data_dir).as_posix()
        row = dict.fromkeys(REPORT_COLUMNS, "")
        row.update(file=rel, **{"class": cls.name})
        rows.append(row)
        if any(is_hidden(Path(part)) for part in path.relative_to(cls).parts):
            row.update(outcome="ignored", reason="hidden", detail=REASONS["hidden"])
            continue
        try:
            img = open_image(path)
        except ImageError as err:
            row.update(outcome="set_aside", reason=err.reason, detail=str(err))
            continue
        row["sha256"] = sha256_of(path)
        image_format, conversion = _inspect(path)
        row.update(width=img.width, height=img.height, format=image_format)
        if min(img.size) < min_size:
            row.update(
                outcome="set_aside",
                reason="too_small",
                detail=f"{img.width}x{img.height} px, minimum side is {min_size} px",
            )
            continue
        row.update(outcome="converted" if conversion else "kept", detail=conversion)
        row["phash"] = str(imagehash.phash(img, hash_size=HASH_SIZE))

    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    _mark_duplicates(report)
    if near_duplicate_distance is not None:
        _mark_near_duplicates(report, near_duplicate_distance)
    if faces is not None and faces.mode == "face_crops":
        usable = report["outcome"].isin(["kept", "converted"])
        report.loc[usable, "detail"] = [
            f"{d}; a face crop, kept whole" if d else "a face crop, kept whole"
            for d in report.loc[usable, "detail"]]
    elif faces is not None and faces.mode == "photos":
        report = _apply_faces(report, data_dir, faces.rules)
    report = _add_import_copies(report, data_dir)

    for i, row in report.iterrows():
        try:
            target = _write_copy(row, data_dir, clean_dir, set_aside_dir)
        except OSError as err:
            folder = set_aside_dir if row["outcome"] == "set_aside" else clean_dir
            raise write_error(folder, err) from err
        if target is not None:
            report.at[i, "output"] = target.relative_to(work_dir).as_posix()
    return report


def _write_copy(
    row: pd.Series, data_dir: Path, clean_dir: Path, set_aside_dir: Path
) -> Path | None:
    """Copy, convert or crop one file into the clean or set-aside folder; its new path."""
    src = data_dir / row["file"]  # an import copy's `file` is absolute: its original
    if Path(row["file"]).is_absolute():
        if not src.is_file():  # the original has gone since the import
            return None
        target, n = set_aside_dir / row["class"] / f"import_copy__{src.name}", 1
        while target.exists():  # two copies with one name, in different source subfolders
            n += 1
            target = target.with_name(f"import_copy{n}__{src.name}")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return target
    flat_name = Path(row["file"]).relative_to(row["class"]).as_posix().replace("/", "__")
    if row["outcome"] in ("kept", "converted"):
        return copy_usable(src, clean_dir / row["class"] / flat_name)[0]
    if row["outcome"] == "cropped":
        face = f"__face{row['face']}" if row["face"] else ""
        target = clean_dir / row["class"] / f"{flat_name}{face}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        box = tuple(int(v) for v in row["face_box"].split(","))
        crop_face(open_image(src), box).save(target, format="PNG")
        return target
    if row["outcome"] == "set_aside" and row["reason"] != "unreadable":
        target = set_aside_dir / row["class"] / flat_name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
        return target
    return None


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


def _apply_faces(report: pd.DataFrame, data_dir: Path, rules: FaceRules) -> pd.DataFrame:
    """Run the face step on each still-usable image and turn its verdict into an outcome; a
    group photo cropped face by face (`rules.every_face`) gets one row per face."""
    rows = report.to_dict("records")
    out: list[dict] = []
    for row in tqdm(rows, desc="Finding faces", unit="file"):
        if row["outcome"] not in ("kept", "converted"):
            out.append(row)
            continue
        result = find_faces(open_image(data_dir / row["file"]), rules)
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
