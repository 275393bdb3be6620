"""The input pipeline: file paths in, batches of preprocessed tensors out.

`make_dataset` is a `tf.data` pipeline (decode → resize → cache → shuffle → batch → augment →
prefetch) of raw RGB pixels, 0-255: the model makes them grey and scales them itself. Decoding
calls `helpers.images.load_image`, the same function that cleaning and prediction use, so all
three see exactly the same pixels. A folder whose decoded pictures would not fit
`CACHE_BUDGET_BYTES` is streamed from disk instead (shuffle → decode → batch, every epoch):
memory stays flat however many pictures there are, and the batches are the same ones, in the
same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from helpers.images import load_image

AUTOTUNE = tf.data.AUTOTUNE
#: Decoded pictures are kept in memory up to this many bytes (uint8 RGB pixels: a 48x48
#: picture is 6.9 kB, so about 155,000 of them; 256x256 is 197 kB, about 5,460); a larger
#: set is decoded from disk every epoch. `make_dataset(..., cache_budget=...)` changes it.
CACHE_BUDGET_BYTES = 1 << 30


def build_augmentation(seed: int = 42) -> keras.Sequential:
    """Random changes applied to training images only: each epoch sees slightly different faces.

    Flips (a mirrored smile is still a smile), small rotations, zooms, shifts and contrast
    changes teach the model that position, tilt and lighting do not matter. The layers work on
    raw pixels (0-255), before the model makes them grey.
    """
    return keras.Sequential(
        [
            keras.layers.RandomFlip("horizontal", seed=seed),
            keras.layers.RandomRotation(0.06, fill_mode="reflect", seed=seed + 1),
            keras.layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2),
            keras.layers.RandomTranslation(0.08, 0.08, fill_mode="reflect", seed=seed + 3),
            keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 4),
        ],
        name="augmentation",
    )


def make_dataset(
    paths: Sequence[str],
    labels: Sequence[int],
    image_size: int = 48,
    batch_size: int = 64,
    training: bool = False,
    seed: int = 42,
    augmentation: keras.Sequential | None = None,
    cache_budget: int = CACHE_BUDGET_BYTES,
) -> tf.data.Dataset:
    """Batches of (images, labels) from image files: float32 RGB pixels, 0-255, shape
    (batch, image_size, image_size, 3).

    Images are decoded once and cached in memory if they fit `cache_budget` bytes, otherwise
    decoded from disk every epoch (same batches, flat memory). With `training=True` the order
    is shuffled every epoch (from `seed`) and `augmentation`, if given, is applied. The files
    should be cleaned ones (notebook 02); missing files are reported before any decoding.
    """
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} paths but {len(labels)} labels")
    if len(paths) == 0:
        raise ValueError("No images to load: the list of paths is empty")
    missing = [str(p) for p in paths if not Path(p).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} image files are missing, e.g. {missing[0]}. The "
            "clean folder changed after the split: run notebooks 02_clean_data and "
            "03_explore_and_split again."
        )

    def decode(path: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(lambda p: load_image(p.decode(), image_size), [path], tf.uint8)
        image.set_shape((image_size, image_size, 3))
        return image

    labels_array = np.asarray(labels, dtype=np.float32)
    ds = tf.data.Dataset.from_tensor_slices((list(map(str, paths)), labels_array))
    in_memory = len(paths) * image_size * image_size * 3 <= cache_budget  # uint8: 1 byte each

    def decoded(ds: tf.data.Dataset) -> tf.data.Dataset:
        return ds.map(lambda p, y: (decode(p), y), num_parallel_calls=AUTOTUNE,
                      deterministic=True)

    if in_memory:
        ds = decoded(ds).cache()
    if training:  # the same permutation whether pictures or their paths are shuffled
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    if not in_memory:
        ds = decoded(ds)
    augment = augmentation if training else None

    def prepared(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(x, tf.float32)  # cached as uint8, a quarter of float32's memory
        return (x if augment is None else augment(x, training=True)), y

    ds = ds.batch(batch_size).map(prepared, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds.prefetch(AUTOTUNE)
