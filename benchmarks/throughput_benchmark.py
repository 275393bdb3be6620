"""Where training time goes on this CPU: the bare network against the course's input pipeline,
with and without XLA, and a few variants of the network.

Training images/s, batch 32 unless named, two epochs after a warm-up of five batches. The
pipeline rows use FER faces (`--data DIR`, or ../shared's training archive unpacked); the
network variants train on random pixels (only the speed matters). The CPU's instruction set is
printed first: on an AVX-512 machine `ONEDNN_MAX_CPU_ISA=AVX2` stands in for a laptop.

    python benchmarks/throughput_benchmark.py
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/throughput_benchmark.py --images 3200
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
warnings.filterwarnings("ignore", message=".*shuffle=True.*")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras import layers  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmark import cpu_isa, list_images, load_arrays  # noqa: E402
from research_data import FER_ARCHIVE, absent, find_data  # noqa: E402

from helpers import model as recipe  # noqa: E402
from helpers.pipeline import build_augmentation, make_dataset  # noqa: E402

#: (filters, convolutions) per block, BatchNorm on?, batch size.
VARIANTS = {
    "default: 16, 32x2, 64x2, 128x2": ([(16, 1), (32, 2), (64, 2), (128, 2)], True, 32),
    "default, batch 64": ([(16, 1), (32, 2), (64, 2), (128, 2)], True, 64),
    "default, batch 128": ([(16, 1), (32, 2), (64, 2), (128, 2)], True, 128),
    "default without BatchNorm": ([(16, 1), (32, 2), (64, 2), (128, 2)], False, 32),
    "one convolution per block: 16, 32, 64, 128": ([(16, 1), (32, 1), (64, 1), (128, 1)], True,
                                                   32),
    "half width: 8, 16x2, 32x2, 64x2": ([(8, 1), (16, 2), (32, 2), (64, 2)], True, 32),
}


def variant(blocks: list[tuple[int, int]], batch_norm: bool) -> keras.Sequential:
    """The recipe's shape with other blocks: preprocessing, blocks, Flatten, Dropout, sigmoid."""
    stack = [keras.Input((48, 48, 3)), *recipe.preprocessing_layers(1)]
    for filters, convolutions in blocks:
        for _ in range(convolutions):
            stack += [layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm),
                      *([layers.BatchNormalization(momentum=0.9)] if batch_norm else []),
                      layers.ReLU()]
        stack.append(layers.MaxPooling2D())
    return keras.Sequential([*stack, layers.Flatten(), layers.Dropout(0.3),
                             layers.Dense(1, activation="sigmoid")])


def img_s(model: keras.Model, ds: tf.data.Dataset, n: int, jit: bool = False) -> float:
    """Training images/s of `model` over two epochs of `ds` (n images), after a warm-up."""
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"], jit_compile=jit)
    model.fit(ds.take(5), epochs=1, verbose=0)  # builds (and compiles) the graph: not timed
    start = time.perf_counter()
    model.fit(ds, epochs=2, verbose=0)
    return 2 * n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """Print both tables; returns the exit code."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, help="folder with happy/ and sad/ face images")
    p.add_argument("--images", type=int, default=3200, help="images per measurement")
    p.add_argument("--skip-xla", action="store_true", help="leave out the jit_compile rows")
    args = p.parse_args(argv)
    print(f"CPU: {cpu_isa()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="throughput_") as tmp:
        data = find_data(args.data, Path(tmp), FER_ARCHIVE)
        if data is None:
            print(absent(args.data, FER_ARCHIVE, "face images"))
            return 0
        paths, labels, _ = list_images(data)
        chosen = np.random.default_rng(0).permutation(len(paths))[:args.images]
        paths, labels = [paths[i] for i in chosen], labels[chosen]
        x = load_arrays(paths, 48).astype(np.float32)
        bare = tf.data.Dataset.from_tensor_slices((x, labels.astype(np.float32))).batch(32)
        print("\n| what trains | XLA | img/s |\n|---|---|---:|")
        for jit in (False,) if args.skip_xla else (False, True):
            for name, ds in (
                ("the bare network, tensors in memory, no augmentation", bare.prefetch(2)),
                ("make_dataset, no augmentation",
                 make_dataset(paths, labels, 48, 32, training=True, seed=0)),
                ("make_dataset with build_augmentation",
                 make_dataset(paths, labels, 48, 32, training=True, seed=0,
                              augmentation=build_augmentation(0))),
            ):
                keras.utils.set_random_seed(0)
                speed = img_s(recipe.build_model(), ds, len(paths), jit)
                print(f"| {name} | {'on' if jit else 'off'} | {speed:,.0f} |", flush=True)
    pixels = np.random.default_rng(0).integers(0, 256, (args.images, 48, 48, 3))
    ys = (np.arange(args.images) % 2).astype(np.float32)
    print("\n| network | params | img/s |\n|---|---:|---:|")
    for name, (blocks, batch_norm, batch) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        model = variant(blocks, batch_norm)
        ds = tf.data.Dataset.from_tensor_slices((pixels.astype(np.float32), ys)).batch(batch)
        speed = img_s(model, ds.prefetch(2), args.images)
        print(f"| {name} | {model.count_params():,} | {speed:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
