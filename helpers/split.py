"""Splitting: a stratified, file-level train/validation/test split saved as a manifest.

The seed tutorial split a `tf.data` dataset with `take`/`skip` after shuffling it; because
the dataset reshuffled every epoch, "test" batches were different images each time and
test images leaked into training. Here each *file* gets exactly one split, decided once
from `SEED`, and written to a CSV manifest that every later notebook reads.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from sklearn.model_selection import train_test_split

from helpers.clean import REPORT_NAME, why_unreadable
from helpers.images import class_folders, iter_files, sha256_of
from helpers.workspace import read_table

SPLITS = ("train", "val", "test")
#: Validation and test each get 15% of a folder, but no more than this many images (and no less
#: than 5%): 500 test images already measure accuracy to about +-2.5 points, and every image
#: beyond that teaches the model more in training (`benchmarks/EXPERIMENTS.md`, fifth round).
HELD_OUT_IMAGES = 500
SHARE_RANGE = (0.05, 0.15)


def default_fractions(n_images: int) -> tuple[float, float]:
    """(validation, test) shares for a folder of `n_images`: 15% each, or 500 images each once
    that is less (10% of 5,000 images, 5% from 10,000 on)."""
    low, high = SHARE_RANGE
    share = min(high, max(low, HELD_OUT_IMAGES / max(n_images, 1)))
    return share, share


def _unreadable_in_report(image_dir: Path, classes: list[str]) -> str:
    """A sentence naming the data folder's folders that cleaning could not read for these
    classes (from the cleaning report next to `image_dir`), or ''."""
    report_path = image_dir.parent / REPORT_NAME
    if not report_path.is_file():
        return ""
    report = read_table(report_path)
    unreadable = report[(report["reason"] == "unreadable_folder") & report["class"].isin(classes)]
    if unreadable.empty:
        return ""
    return (f" Cleaning could not read {', '.join(unreadable['file'])} in DATA_DIR: "
            f"{unreadable['detail'].iloc[0]}.")


def list_pictures(image_dir: str | Path) -> pd.DataFrame:
    """Every image in `image_dir/<class>/`: `file` (relative), `class`, `label` (index in sorted
    class names) and `sha256` (of its bytes), sorted by file. Raises ValueError unless there
    are exactly two classes with at least 5 images each (naming a folder of the user's that
    cleaning could not read), PermissionError if a folder in `image_dir` cannot be read."""
    image_dir = Path(image_dir)
    classes = [folder.name for folder in class_folders(image_dir)]
    skipped: list[tuple[Path, str]] = []
    rows = [
        {"file": f.relative_to(image_dir).as_posix(), "class": name, "label": label}
        for label, name in enumerate(classes)
        for f in iter_files(image_dir / name, skipped=skipped)
    ]
    for folder, reason in skipped:
        if reason == "unreadable_folder":
            raise PermissionError(
                f"{folder} cannot be read ({why_unreadable(folder)}), so its images cannot be "
                f"split: give yourself access to it (e.g. chmod -R u+rwX {image_dir}), or run "
                "notebook 02_clean_data again to make it afresh.")
    files = pd.DataFrame(rows, columns=["file", "class", "label"])
    counts = files["class"].value_counts().reindex(classes, fill_value=0).to_dict()
    if len(classes) > 2:
        raise ValueError(
            f"{image_dir} has {len(classes)} classes {counts}, but this kit is binary: it needs "
            "exactly two, e.g. happy/ and sad/. Move the other class folders out of DATA_DIR, "
            "then run notebook 02_clean_data again."
        )
    if len(classes) < 2 or min(counts.values()) < 5:
        raise ValueError(
            f"Need two classes with at least 5 images each to split; found {counts} usable "
            f"images in {image_dir}. Add photos to the class that is short or missing "
            f"(WORK_DIR/{REPORT_NAME} says which files were set aside and why), then run "
            "notebook 02_clean_data again." + _unreadable_in_report(
                image_dir, [c for c, n in counts.items() if n < 5])
        )
    files["sha256"] = [sha256_of(image_dir / f) for f in files["file"]]
    return files.sort_values("file").reset_index(drop=True)


def split_shares(
    n_images: int, val_fraction: float | None = None, test_fraction: float | None = None
) -> tuple[float, float]:
    """The (validation, test) shares: each one given, or `default_fractions` where None."""
    default_val, default_test = default_fractions(n_images)
    val_fraction = default_val if val_fraction is None else val_fraction
    test_fraction = default_test if test_fraction is None else test_fraction
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(
            f"val_fraction={val_fraction} and test_fraction={test_fraction} must each be "
            "between 0 and 1 and leave room for training (e.g. 0.15 and 0.15)"
        )
    return val_fraction, test_fraction


def label_splits(files: pd.DataFrame, **parts: pd.DataFrame) -> pd.DataFrame:
    """The manifest: `files` (from `list_pictures`) with a `split` column, given the pictures
    of each split as `train=..., val=..., test=...`; a file takes its picture's split."""
    split_of = {sha: name for name, part in parts.items() for sha in part["sha256"]}
    manifest = files.assign(split=files["sha256"].map(split_of)).drop(columns="sha256")
    return manifest.sort_values("file").reset_index(drop=True)


def split_dataset(
    image_dir: str | Path,
    val_fraction: float | None = None,
    test_fraction: float | None = None,
    seed: int = 42,
) -> pd.DataFrame:
    """Assign every image in `image_dir/<class>/` to train, val or test, stratified by class.

    Notebook 03 does the same steps in view (a test checks they agree). A share left as None
    comes from `default_fractions` (15%, or 500 images if that is less). Byte-identical files
    (a copy kept on review in notebook 02) always share a split, so no picture is ever both
    trained on and tested on. Returns columns `file` (relative to `image_dir`), `class`,
    `label` and `split`, sorted by file so the manifest is byte-identical per seed.
    """
    files = list_pictures(image_dir)
    val_share, test_share = split_shares(len(files), val_fraction, test_fraction)
    pictures = files.drop_duplicates("sha256")  # one row per distinct picture
    rest, test = train_test_split(pictures, test_size=test_share, stratify=pictures["label"],
                                  random_state=seed)
    train, val = train_test_split(rest, test_size=val_share / (1 - test_share),
                                  stratify=rest["label"], random_state=seed)
    return label_splits(files, train=train, val=val, test=test)


def split_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per split and class (check that each split keeps the class balance)."""
    table = pd.crosstab(manifest["split"], manifest["class"], margins=True, margins_name="total")
    return table.reindex([*SPLITS, "total"])


def split_counts(manifest: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Pictures per split and class as plain numbers, e.g. for a model's card:
    `{"train": {"happy": 700, "sad": 700}, "val": ...}`."""
    table = pd.crosstab(manifest["split"], manifest["class"])
    return {split: {name: int(n) for name, n in table.loc[split].items()}
            for split in SPLITS if split in table.index}
