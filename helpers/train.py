"""Training support: seeding for reproducible runs, class weights, the training log."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and make TF ops deterministic (same seed, same result)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def class_weights(labels: Sequence[int]) -> dict[int, float]:
    """Weights that make each class count equally in the loss, for unbalanced data."""
    y = np.asarray(labels, dtype=int)
    classes = np.unique(y)
    weights = compute_class_weight("balanced", classes=classes, y=y)
    return {int(c): float(w) for c, w in zip(classes, weights)}


def load_training_log(path: str | Path) -> pd.DataFrame:
    """The per-epoch log written by Keras' CSVLogger."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No training log at {path}. Run notebook 05_train first.")
    # A run killed between two callbacks' writes can log its last epoch twice: keep the latest.
    return pd.read_csv(path).drop_duplicates("epoch", keep="last").reset_index(drop=True)
