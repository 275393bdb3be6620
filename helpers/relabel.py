"""Cleaning driven by the model: the training pictures it finds hardest to believe.

A picture whose label the trained model strongly disagrees with has a large loss: it may be
mislabelled, odd, or simply hard. `training_losses` ranks the *training* pictures by their
loss (validation and test pictures are never ranked: relabelling them by what the model
thinks would make them agree with the model, and their scores would flatter it).
`suggested_marks` proposes the other class where the model is sure of it, `follow_review`
carries the review's marks (`helpers.review.apply_review`: the copies move, the cleaning
report is updated, the originals are never touched) into the split manifest, and
`decisions_table` records what was decided for every picture shown, beside the planted
flips of notebook 01 (`FLIP_LABELS`) when there are any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.names import readable_name
from helpers.pipeline import make_dataset
from helpers.review import current_mark, review_keys

#: Keeps the loss of a picture the model is sure about finite (as Keras does).
EPSILON = 1e-7


def picture_loss(label: int, p_second: float) -> float:
    """Binary cross-entropy of one picture: -log of the probability given to its label
    (`p_second` is the model's probability of the second class, label 1)."""
    p = float(np.clip(p_second, EPSILON, 1 - EPSILON))
    return float(-np.log(p if label == 1 else 1 - p))


def training_losses(
    model: keras.Model,
    manifest: pd.DataFrame,
    clean_dir: str | Path,
    report: pd.DataFrame,
    image_size: int,
) -> pd.DataFrame:
    """Every training picture of `manifest` (split.csv) with the model's probability of
    label 1 (`p`), its `loss` and its review `key` (the cleaning report's name for it),
    largest loss first (ties by file). Validation and test pictures are left out."""
    train = manifest[manifest["split"] == "train"].reset_index(drop=True)
    if train.empty:
        raise ValueError("split.csv has no training pictures: run notebook 03 again")
    dataset = make_dataset([Path(clean_dir) / f for f in train["file"]], train["label"],
                           image_size)
    p = model.predict(dataset, verbose=0).ravel().astype(float)
    keys = pd.Series(review_keys(report).to_numpy(), index=report["output"])
    outputs = "clean/" + train["file"]
    missing = outputs[~outputs.isin(keys.index)]
    if len(missing):
        raise ValueError(f"{missing.iloc[0]} is in split.csv but not in the cleaning report: "
                         "run notebooks 02 and 03 again")
    ranked = train.assign(p=p, loss=[picture_loss(y, q) for y, q in zip(train["label"], p)],
                          key=keys[outputs].to_numpy())
    return ranked.sort_values(["loss", "file"], ascending=[False, True]).reset_index(drop=True)


def suggested_marks(top: pd.DataFrame, threshold: float = 0.5,
                    sure: float = 0.9) -> dict[str, str]:
    """{key: mark} for `helpers.review.apply_review`: 'move' where the model answers the other
    class (at `threshold`) with a probability of at least `sure`, 'set_aside' where it answers
    the other class less surely, 'keep' where it agrees with the label."""
    marks = {}
    for key, label, p in zip(top["key"], top["label"], top["p"]):
        other = 1 - p if label == 1 else p  # the probability of the other class
        agrees = (p >= threshold) == (label == 1)
        marks[key] = "keep" if agrees else "move" if other >= sure else "set_aside"
    return marks


def follow_review(manifest: pd.DataFrame, reviewed: pd.DataFrame,
                  report: pd.DataFrame) -> pd.DataFrame:
    """The split manifest after the review of `reviewed` (rows of `training_losses`, with
    their `file` before the review): a moved picture takes its new file, class and label in
    the same split, a set-aside one leaves the manifest; every other row stays as it was."""
    classes = sorted(manifest["class"].unique())
    folder_class = {readable_name(c): c for c in classes}
    now = report.set_index(review_keys(report))
    manifest = manifest.set_index("file")
    for key, file in zip(reviewed["key"], reviewed["file"]):
        row = now.loc[key]
        if manifest.loc[file, "split"] != "train":
            raise ValueError(f"{file} is not a training picture: only those are reviewed")
        if row["outcome"] == "set_aside":
            manifest = manifest.drop(index=file)
            continue
        new_file = row["output"].removeprefix("clean/")
        new_class = folder_class[Path(new_file).parent.name]
        manifest = manifest.rename(index={file: new_file})
        manifest.loc[new_file, ["class", "label"]] = [new_class, classes.index(new_class)]
    manifest["label"] = manifest["label"].astype(int)
    return manifest.reset_index().sort_values("file").reset_index(drop=True)


def decisions_table(top: pd.DataFrame, report: pd.DataFrame,
                    flipped: Sequence[Mapping[str, str]] = ()) -> pd.DataFrame:
    """One row per picture shown: rank, file (before the review), class, p, loss, the mark it
    has now (`keep`, `set_aside`, `move`) and whether notebook 01 planted a flipped label on
    it (`planted_flip`)."""
    now = report.fillna({"reason": "", "detail": "", "output": ""}).set_index(
        review_keys(report))
    planted = {f["path"] for f in flipped}
    return top.assign(
        rank=range(1, len(top) + 1),
        decision=[current_mark(now.loc[key]) for key in top["key"]],
        planted_flip=top["key"].isin(planted),
    )[["rank", "file", "class", "p", "loss", "decision", "planted_flip", "key"]]


def planted_in_training(manifest: pd.DataFrame, report: pd.DataFrame,
                        flipped: Sequence[Mapping[str, str]]) -> int:
    """How many of notebook 01's planted flips are training pictures (`flipped` names them
    as in the data folder, as the cleaning report's `file` does)."""
    planted = {f["path"] for f in flipped}
    train = set("clean/" + manifest.loc[manifest["split"] == "train", "file"])
    return int(sum(1 for key, output in zip(review_keys(report), report["output"])
                   if key in planted and output in train))


def labels_as_they_were(manifest: pd.DataFrame, reviewed: pd.DataFrame,
                        report: pd.DataFrame) -> pd.DataFrame:
    """The training pictures with the labels they had before the review, each at its copy's
    path now (`path`, relative to WORK_DIR: a moved or set-aside copy has a new one) and
    `label`: the fair "before" for a comparison."""
    train = manifest[manifest["split"] == "train"]
    now = report.set_index(review_keys(report))["output"]
    moved = dict(zip(reviewed["file"], now[reviewed["key"]]))
    paths = [moved.get(file, f"clean/{file}") for file in train["file"]]
    return pd.DataFrame({"path": paths, "label": train["label"].to_numpy()})
