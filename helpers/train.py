"""Training support: seeding for reproducible runs, the devices training runs on (a
`tf.distribute` strategy), class weights, the training log."""

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


def distribution_strategy(name: str | None, cpus: int = 2) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy to build, compile and train the model under.

    None: TensorFlow's default (one device). "mirrored": `tf.distribute.MirroredStrategy`, a
    copy of the model on every GPU, each batch split between them and the gradients added up;
    with no GPU, the CPU is split into `cpus` logical devices instead (the same code path, for
    tests: not faster). Splitting the CPU is only possible before TensorFlow starts: call this
    before the first tensor is made, or restart the kernel.
    """
    if name is None:
        return tf.distribute.get_strategy()
    if name != "mirrored":
        raise ValueError(f"STRATEGY must be None or 'mirrored', got {name!r}")
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(cpus)])
    except RuntimeError as err:  # TensorFlow has started: fine if with this split already
        have = len(tf.config.list_logical_devices("CPU"))
        if have != cpus:
            raise RuntimeError(
                f"TensorFlow already started with {have} CPU device(s), so it cannot split the "
                f"CPU into {cpus} now. Restart the kernel and run the notebook from the top "
                f"(Kernel → Restart Kernel and Run All Cells), or set STRATEGY_CPUS to {have}."
            ) from err
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])


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
