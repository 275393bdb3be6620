"""TFLite export: float and int8 files predict like the Keras model; latency is measured."""

import importlib.util
import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from helpers.export import (
    TFLiteClassifier,
    calibration_images,
    compare_exports,
    export_tflite,
    keras_predict_fn,
    measure_latency,
)
from helpers.model import build_model, compile_model

SIZE = 48


@pytest.fixture(scope="module")
def trained():
    """A default model briefly trained on a toy set, so its outputs are not all ~0.5."""
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x = rng.integers(0, 80, (96, SIZE, SIZE, 3)).astype(np.float32)  # raw RGB pixels
    y = np.arange(96) % 2
    x[y == 1, :, : SIZE // 2] += 150  # class 1: bright left half
    model = compile_model(build_model(SIZE, 1), learning_rate=3e-3)
    model.fit(x, y, batch_size=32, epochs=4, verbose=0)
    return model, x


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory):
    model, x = trained
    folder = tmp_path_factory.mktemp("tflite")
    return (export_tflite(model, folder / "float.tflite"),
            export_tflite(model, folder / "int8.tflite", quantize=True,
                          representative_images=x[:48]))


def test_float_tflite_matches_keras(trained, exported):
    model, x = trained
    expected = model.predict(x, verbose=0).ravel()
    classifier = TFLiteClassifier(exported[0])
    assert classifier.input_shape == (SIZE, SIZE, 3)  # raw RGB pixels, whatever the model
    assert np.max(np.abs(classifier.predict(x) - expected)) < 1e-4
    assert classifier.predict(x[0]).shape == (1,)  # a single image without a batch axis


def test_int8_tflite_is_smaller_and_mostly_agrees(trained, exported):
    model, x = trained
    float_path, int8_path = exported
    assert int8_path.stat().st_size < float_path.stat().st_size / 2
    expected = model.predict(x, verbose=0).ravel() > 0.5
    agreement = np.mean((TFLiteClassifier(int8_path).predict(x) > 0.5) == expected)
    assert agreement >= 0.9


def test_quantize_needs_representative_images(trained, tmp_path):
    with pytest.raises(ValueError, match="representative_images"):
        export_tflite(trained[0], tmp_path / "q.tflite", quantize=True)


def test_int8_calibration_uses_training_images_only(tmp_path):
    import pandas as pd

    for i, shade in enumerate((40, 90, 140)):
        Image.new("L", (20, 20), shade).save(tmp_path / f"train_{i}.png")
    manifest = pd.DataFrame({  # validation and test files do not exist: loading one would fail
        "file": ["train_0.png", "val.png", "train_1.png", "test.png", "train_2.png"],
        "split": ["train", "val", "train", "test", "train"]})
    images = calibration_images(manifest, tmp_path, 16, n=10)
    assert images.shape == (3, 16, 16, 3)  # as the model takes them: raw RGB pixels
    assert sorted(np.round(images.mean(axis=(1, 2, 3)))) == [40, 90, 140]
    with pytest.raises(ValueError, match="no training images"):
        calibration_images(manifest[manifest["split"] != "train"], tmp_path, 16)


def test_measure_latency_reports_percentiles_and_throughput(trained, exported):
    model, x = trained
    for predict in (TFLiteClassifier(exported[0]).predict, keras_predict_fn(model)):
        stats = measure_latency(predict, x[:20], repeats=20, batch_size=8)
        assert set(stats) == {"p50_ms", "p95_ms", "throughput_img_s"}
        assert 0 < stats["p50_ms"] <= stats["p95_ms"] and stats["throughput_img_s"] > 0


def test_compare_exports_gives_one_row_per_file(trained, exported, tmp_path):
    model, x = trained
    keras_path = tmp_path / "model.keras"
    model.save(keras_path)
    files = {"keras": keras_path, "tflite float32": exported[0], "tflite int8": exported[1]}
    table = compare_exports(files, model, x, threshold=0.5, latency_images=16, repeats=10)
    assert list(table.index) == list(files)
    assert {"size_kb", "agreement_with_keras", "max_prob_diff", "p50_ms", "p95_ms",
            "throughput_img_s"} <= set(table.columns)
    assert tuple(table.loc["keras", ["max_prob_diff", "agreement_with_keras"]]) == (0, 1)
    assert table.loc["tflite float32", "max_prob_diff"] < 1e-3
    assert table.loc["tflite int8", "agreement_with_keras"] >= 0.9
    assert table.loc["tflite int8", "size_kb"] < table.loc["tflite float32", "size_kb"] / 2
    assert (table["p50_ms"] > 0).all() and (table["size_kb"] > 0).all()


def run_benchmark(*args: str) -> subprocess.CompletedProcess:
    """Run benchmarks/benchmark.py with `args` in a fresh Python, capturing its output."""
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "benchmark.py"), *args],
                          capture_output=True, text=True, timeout=600)


def test_benchmark_explains_missing_data_and_exits_cleanly(tmp_path):
    done = run_benchmark("--data", str(tmp_path / "nonexistent"))
    assert done.returncode == 0, done.stderr
    assert "Data absent" in done.stdout and "--data" in done.stdout


def test_benchmark_runs_end_to_end_on_a_small_generated_set(tmp_path):
    """SLOW (trains every recipe).

    All recipes' rows (and a learning-curve point) come out of one small run."""
    from helpers.synthetic import generate_dataset

    generate_dataset(tmp_path / "faces", n_per_class=40, dirty=False)
    out = tmp_path / "results.json"
    done = run_benchmark("--data", str(tmp_path / "faces"), "--test-size", "20", "--epochs", "1",
                         "--min-steps", "0", "--epochs-seed", "1", "--learning-curve", "30",
                         "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    names = [row["model"] for row in report["results"]]
    fer_rows = ["`fer` package model, 64px (Keras)", "`fer` package model, mirror-averaged (Keras)"]
    assert names == [
        "default CNN 48px (Keras)", "default CNN 48px (TFLite float)",
        "default CNN 48px (TFLite int8)", "default CNN 48px, mirror-averaged (Keras)",
        "default CNN 48px, mirror-averaged (TFLite float)",
        "default CNN 48px, mirror-averaged (TFLite int8)",
        *(fer_rows if importlib.util.find_spec("fer") else []),
        "seed tutorial CNN 256px RGB (Keras)", "HOG + logistic regression",
        "always the larger class",
    ]
    for row in report["results"]:
        low, high = map(float, row["accuracy_ci"].split("–"))
        assert 0 <= low <= row["accuracy"] <= high <= 1
        if row["model"] != "always the larger class":
            assert row["p50_ms"] > 0 and row["params"] > 0
    assert report["results"][-1]["accuracy"] == 0.5  # 10 happy, 10 sad test faces
    assert [p["train_images"] for p in report["learning_curve"]] == [30]
    assert "| model | accuracy |" in done.stdout


FAKE_COURSE = """
import json, runpy, shutil, subprocess, sys
from pathlib import Path
real_run = subprocess.run
called, course_work, course_out, course_stdout = sys.argv[1:5]

def course_run(command, **kwargs):  # stands in for `python -m helpers.course run ...`
    if command[1:3] != ["-m", "helpers.course"]:
        return real_run(command, **kwargs)
    pairs = {command[i + 1]: command[i + 2] for i, x in enumerate(command) if x == "-p"}
    out = command[command.index("--out") + 1]
    source = Path(pairs["SOURCE_DIR"])
    json.dump({"command": command, "source": sorted(
        str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())}, open(called, "w"))
    shutil.copytree(course_work, pairs["WORK_DIR"])
    shutil.copytree(course_out, out)
    return subprocess.CompletedProcess(command, 0, open(course_stdout).read(), "")

subprocess.run = course_run
sys.argv = [sys.argv[5], *sys.argv[6:]]
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])  # as `python benchmarks/benchmark.py` has it
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_benchmark_runs_the_course_on_its_training_faces_and_scores_the_served_models(
        tmp_path, course):
    """SLOW (scores the course run's models).

    --course gives the course (`helpers.course run -p SOURCE_DIR`, notebooks 01-07) its training
    faces only, never a test or held-out face, with the --course-parameter values, then scores
    the models the run served. The course run itself is the suite's one run (conftest's
    `course`), standing in for the command: its notebooks are tested there."""
    from helpers.images import class_folders, iter_files
    from helpers.synthetic import generate_dataset

    generate_dataset(tmp_path / "drawn", n_per_class=40, dirty=False)
    for folder in class_folders(tmp_path / "drawn"):  # 48x48 grey: small face crops, like FER
        for i, path in enumerate(sorted(iter_files(folder))):
            part = "held_out" if i < 10 else "faces"  # 10 a class that the course never sees
            (tmp_path / part / folder.name).mkdir(parents=True, exist_ok=True)
            Image.open(path).convert("L").resize((48, 48)).save(
                tmp_path / part / folder.name / f"{path.stem}.png")
    (tmp_path / "stdout.txt").write_text(course["stdout"])
    short = [("EPOCHS", "2"), ("MIN_STEPS", "0")]
    done = subprocess.run(
        [sys.executable, "-c", FAKE_COURSE, str(tmp_path / "called.json"), str(course["work"]),
         str(course["out"]), str(tmp_path / "stdout.txt"),
         str(REPO / "benchmarks" / "benchmark.py"), "--data", str(tmp_path / "faces"),
         "--test-size", "20", "--skip-seed", "--skip-default", "--course", "--validation",
         str(tmp_path / "held_out"), "--anchor", "0.01",
         *(x for pair in short for x in ("--course-parameter", *pair))],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    called = json.loads((tmp_path / "called.json").read_text())
    command = " ".join(called["command"])
    assert "--only 01 02 03 04 05 06 07" in command and "-p SEED 42" in command
    assert all(f"-p {name} {value}" in command for name, value in short)
    faces, held = ({str(f.relative_to(tmp_path / part)) for f in (tmp_path / part).rglob("*.png")}
                   for part in ("faces", "held_out"))
    assert set(called["source"]) < faces and len(called["source"]) == len(faces) - 20
    assert not set(called["source"]) & held  # neither a test face nor a held-out one
    held_out = done.stdout.split("On 20 faces held out of the training folder")[1]
    assert re.search(r"^\| kit CNN through the course, served \| [01]\.\d{3} \| "
                     r"\d\.\d{3}–\d\.\d{3} \|", held_out, re.MULTILINE), held_out
    assert "| always the larger class | 0.500 |" in held_out
    speed = done.stdout.split("Speed:")[1]
    assert re.search(r"CPU: (AVX|no AVX2).*, \d+ cores; pre-flight probe \d+\.\d s", speed)
    assert re.search(r"training loop [\d,]+ img/s \(validation included\), bare network "
                     r"[\d,]+ img/s: ratio \d\.\d\d", speed), speed
    reached = re.search(r"validation accuracy first reached 0\.010 (\d+) s into training", speed)
    assert reached and int(reached.group(1)) <= 600, speed  # after the first epoch
    for name in ("as trained", r"served \((mirror-averaged|as trained)\)",
                 r"served \(TFLite float\)"):
        row = re.search(rf"^\| kit CNN through the course, {name}, threshold 0\.\d\d \| "
                        r"[01]\.\d{3} \|", done.stdout, re.MULTILINE)
        assert row, done.stdout[-2000:]
    assert "| always the larger class | 0.500 |" in done.stdout
