"""Exact and near copies in the cleaning report (`helpers.clean`): the same bytes (SHA-256) or
the same picture resized, re-encoded or brightened (a perceptual hash, `imagehash`), kept once
in a class and a label conflict across classes."""

from __future__ import annotations

import imagehash
import numpy as np
import pandas as pd


def set_aside(report: pd.DataFrame, i: int, reason: str, detail: str) -> None:
    """Mark row `i` of the cleaning report set aside, with its reason and detail."""
    report.loc[i, ["outcome", "reason", "detail"]] = ["set_aside", reason, detail]


def mark_duplicates(report: pd.DataFrame) -> None:
    """Set aside exact copies: a second copy in the same class, every copy across classes."""
    usable = report["outcome"].isin(["kept", "converted"])
    for _, group in report[usable].groupby("sha256", sort=False):
        classes = group["class"].unique()
        if len(classes) > 1:
            for i in group.index:
                others = ", ".join(group.loc[group.index != i, "file"])
                set_aside(report, i, "label_conflict", f"same image as {others}")
            continue
        first = group.index[0]
        for i in group.index[1:]:
            set_aside(report, i, "duplicate", f"exact copy of {report.at[first, 'file']}")


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


def mark_near_duplicates(report: pd.DataFrame, max_distance: int) -> None:
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
                set_aside(report, j, "label_conflict", f"looks like {report.at[i, 'file']}")
            others = ", ".join(report.loc[conflicts, "file"])
            set_aside(report, i, "label_conflict", f"looks like {others}")
        elif close:
            distance, j = close[0]
            set_aside(report, i, "near_duplicate",
                       f"near copy of {report.at[j, 'file']} ({distance} of "
                       f"{bits.shape[1]} hash bits differ)")
            continue
        kept.add(pos)
