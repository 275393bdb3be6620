"""Exporting a trained model to TFLite (LiteRT) and measuring how fast it predicts.

A `.keras` file needs all of TensorFlow to run; a `.tflite` file runs with the small
LiteRT interpreter and is what a phone or a web server would use. `export_tflite` writes a
float32 model, or an int8-quantised one (about 4x smaller, with tiny differences in the
predictions). `TFLiteClassifier` loads either and predicts probabilities like
`model.predict` (it lives in `helpers.litert`, which needs no TensorFlow, and is re-exported
here), `measure_latency` times any predict function the same way, and `compare_exports`
puts `.keras`, TFLite float and TFLite int8 side by side for notebook 07.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from helpers.images import load_image
from helpers.litert import TFLiteClassifier  # also importable from here, as before


def export_tflite(
    model: keras.Model,
    path: str | Path,
    quantize: bool = False,
    representative_images: np.ndarray | None = None,
) -> Path:
    """Convert `model` to a `.tflite` file at `path` and return the path.

    With `quantize=True` weights and activations are stored as int8 (post-training
    quantisation); `representative_images` (a few hundred training images as the model takes
    them: raw RGB pixels 0-255, shape (n, size, size, 3)) let the converter choose the int8
    ranges. Inputs and outputs stay float32, so the file is used exactly like the float one:
    raw pixels in (as float32), the probability out.
    """
    if quantize and representative_images is None:
        raise ValueError("quantize=True needs representative_images (e.g. 200 training images)")
    with tempfile.TemporaryDirectory() as saved_model:
        model.export(saved_model, format="tf_saved_model", verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved_model)
        if quantize:
            samples = np.asarray(representative_images, dtype=np.float32)

            def representative_dataset():
                for image in samples:
                    yield [image[np.newaxis]]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative_dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        tflite = converter.convert()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tflite)
    return path


def calibration_images(
    manifest: pd.DataFrame,
    clean_dir: str | Path,
    image_size: int,
    n: int = 200,
    seed: int = 42,
) -> np.ndarray:
    """`n` *training* images from the split manifest, prepared as for training (raw RGB pixels),
    for choosing the int8 ranges of `export_tflite(..., quantize=True)`. Validation and test
    images stay unseen."""
    train = manifest[manifest["split"] == "train"]
    if train.empty:
        raise ValueError("The split has no training images to calibrate the int8 export with.")
    chosen = train.sample(n=min(n, len(train)), random_state=seed)
    return np.stack([load_image(Path(clean_dir) / f, image_size) for f in chosen["file"]])


def measure_latency(
    predict_fn: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    repeats: int = 200,
    batch_size: int = 256,
    warmup: int = 10,
) -> dict[str, float]:
    """Time `predict_fn` on one image at a time and on whole batches.

    Returns `p50_ms` and `p95_ms` (single-image latency over `repeats` calls, cycling
    through `images`) and `throughput_img_s` (images per second in batches of
    `batch_size`, over all of `images`).
    """
    images = np.asarray(images, dtype=np.float32)
    singles = [images[i % len(images)][np.newaxis] for i in range(repeats + warmup)]
    for image in singles[:warmup]:
        predict_fn(image)
    times = []
    for image in singles[warmup:]:
        start = time.perf_counter()
        predict_fn(image)
        times.append((time.perf_counter() - start) * 1000.0)
    batches = [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
    predict_fn(batches[0])
    start = time.perf_counter()
    for batch in batches:
        predict_fn(batch)
    elapsed = time.perf_counter() - start
    return {
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "throughput_img_s": float(len(images) / elapsed),
    }


def keras_predict_fn(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """A compiled (graph-mode) Keras predict function for `measure_latency`.

    `model.predict` has several milliseconds of per-call overhead; calling a `tf.function`
    directly is the fair way to time a Keras model on single images.
    """
    input_shape = model.inputs[0].shape[1:]
    compiled = tf.function(
        lambda images: model(images, training=False),
        input_signature=[tf.TensorSpec((None, *input_shape), tf.float32)],
        reduce_retracing=True,
    )
    return lambda images: compiled(tf.convert_to_tensor(images, tf.float32)).numpy().reshape(-1)


def compare_exports(
    exported: dict[str, str | Path],
    model: keras.Model,
    images: np.ndarray,
    threshold: float = 0.5,
    latency_images: int = 256,
    repeats: int = 200,
) -> pd.DataFrame:
    """Size, speed and answers of each exported file next to the Keras `model` it came from.

    `exported` maps a name to a file: a `.tflite` file is run with `TFLiteClassifier`, any other
    file (the `.keras` one) stands for `model` itself. On `images` (prepared as for training,
    e.g. the validation split) each file's probabilities are compared with the Keras model's:
    `agreement_with_keras` (share of the same label at `threshold`) and `max_prob_diff`; its
    `size_kb` and `measure_latency` on the first `latency_images` images complete the row.
    One row per name, in order, indexed by `model`, rounded to 4 decimals.
    """
    images = np.asarray(images, dtype=np.float32)
    reference = model.predict(images, verbose=0).reshape(-1)
    rows = []
    for name, path in exported.items():
        path = Path(path)
        if path.suffix == ".tflite":
            predict_fn = TFLiteClassifier(path).predict
            p = predict_fn(images)
        else:
            predict_fn, p = keras_predict_fn(model), reference
        rows.append({
            "model": name,
            "size_kb": path.stat().st_size / 1024,
            "agreement_with_keras": float(np.mean((p >= threshold) == (reference >= threshold))),
            "max_prob_diff": float(np.abs(p - reference).max()),
            **measure_latency(predict_fn, images[:latency_images], repeats=repeats),
        })
    return pd.DataFrame(rows).set_index("model").round(4)
