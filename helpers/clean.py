"""Cleaning: decide for every file in the data folder whether it can be trained on.

`clean_images` reads each file with the kit's one decoder (`helpers.images.open_image`), so
nothing that passes cleaning can crash training later. Usable images are copied (or, when
their format needs it, converted to PNG) into a separate clean folder; unusable ones are
copied into a set-aside folder. The user's originals are only read, never moved or changed,
and every file appears exactly once in the report with its outcome and reason.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from helpers.images import REASONS, ImageError, class_folders, is_hidden, iter_files, open_image
from helpers.workspace import prepare_output_folder

#: Formats and modes that are copied byte-for-byte; anything else is converted to PNG.
PLAIN_FORMATS = frozenset({"JPEG", "PNG", "BMP"})
PLAIN_MODES = frozenset({"RGB", "L"})
REPORT_COLUMNS = [
    "file", "class", "outcome", "reason", "detail", "width", "height", "format", "sha256", "output",
]


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inspect(path: Path) -> tuple[str, str]:
    """The file's format, and why it should be re-saved as PNG ('' if it can be copied as is)."""
    with Image.open(path) as img:
        orientation = img.getexif().get(0x0112, 1)
        if img.format not in PLAIN_FORMATS:
            return img.format, f"{img.format} converted to PNG"
        if img.mode not in PLAIN_MODES:
            return img.format, f"{img.mode} image converted to RGB PNG"
        if orientation not in (None, 1):
            return img.format, "EXIF rotation applied"
        return img.format, ""


def clean_images(data_dir: str | Path, work_dir: str | Path, min_size: int = 32) -> pd.DataFrame:
    """Sort every file under `data_dir`'s class folders into usable and set aside.

    Returns the report (one row per file, columns `REPORT_COLUMNS`); outcomes are
    `kept` (copied as is to `work_dir/clean/<class>/`), `converted` (re-saved there as PNG),
    `set_aside` (copied to `work_dir/set_aside/<class>/`, reason in `helpers.images.REASONS`)
    and `ignored` (hidden files). `output` is where the copy went, relative to `work_dir`.
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
        if any(is_hidden(Path(part)) for part in path.relative_to(cls).parts):
            row.update(outcome="ignored", reason="hidden", detail=REASONS["hidden"])
            rows.append(row)
            continue
        row["sha256"] = sha256_of(path)
        try:
            img = open_image(path)
        except ImageError as err:
            row.update(outcome="set_aside", reason=err.reason, detail=str(err))
            rows.append(row)
            continue
        image_format, conversion = _inspect(path)
        row.update(width=img.width, height=img.height, format=image_format)
        if min(img.size) < min_size:
            row.update(
                outcome="set_aside",
                reason="too_small",
                detail=f"{img.width}x{img.height} px, minimum side is {min_size} px",
            )
        else:
            row.update(outcome="converted" if conversion else "kept", detail=conversion)
        rows.append(row)

    report = pd.DataFrame(rows, columns=REPORT_COLUMNS)
    _mark_duplicates(report)

    for i, row in report.iterrows():
        src = data_dir / row["file"]
        flat_name = Path(row["file"]).relative_to(row["class"]).as_posix().replace("/", "__")
        if row["outcome"] in ("kept", "converted"):
            target = clean_dir / row["class"] / flat_name
            target.parent.mkdir(parents=True, exist_ok=True)
            if row["outcome"] == "converted":
                target = target.with_name(target.name + ".png")
                open_image(src).save(target, format="PNG")
            else:
                shutil.copyfile(src, target)
        elif row["outcome"] == "set_aside":
            target = set_aside_dir / row["class"] / flat_name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
        else:
            continue
        report.at[i, "output"] = target.relative_to(work_dir).as_posix()
    return report


def _mark_duplicates(report: pd.DataFrame) -> None:
    """Set aside exact copies: a second copy in the same class, every copy across classes."""
    usable = report["outcome"].isin(["kept", "converted"])
    for _, group in report[usable].groupby("sha256", sort=False):
        classes = group["class"].unique()
        if len(classes) > 1:
            for i in group.index:
                others = ", ".join(group.loc[group.index != i, "file"])
                report.loc[i, ["outcome", "reason", "detail"]] = [
                    "set_aside", "label_conflict", f"same image as {others}",
                ]
            continue
        first = group.index[0]
        for i in group.index[1:]:
            report.loc[i, ["outcome", "reason", "detail"]] = [
                "set_aside", "duplicate", f"exact copy of {report.at[first, 'file']}",
            ]


def summarize_report(report: pd.DataFrame) -> pd.DataFrame:
    """Counts per class and outcome, with a total row: what went in and what came out."""
    return pd.crosstab(report["class"], report["outcome"], margins=True, margins_name="total")


def set_aside_table(report: pd.DataFrame) -> pd.DataFrame:
    """The set-aside files with their reasons, for display."""
    cols = ["file", "class", "reason", "detail"]
    return report.loc[report["outcome"] == "set_aside", cols].reset_index(drop=True)
