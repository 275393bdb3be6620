"""Prediction: same preprocessing as training, one JSON line per image, errors not crashes."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import REPO
from helpers.images import load_image
from helpers.predict import classify_images, load_classifier, main, save_class_names


@pytest.fixture
def model_path(tmp_path):
    """A tiny 'model' whose output is the mean brightness: bright images are 'sad'."""
    model = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.GlobalAveragePooling2D()])
    path = tmp_path / "model.keras"
    model.save(path)
    save_class_names(["happy", "sad"], path)
    return path


def test_classify_uses_the_training_preprocessing(model_path, tmp_path, make_image):
    bright = make_image(tmp_path / "bright.png", colour=(230, 230, 230))
    dark = make_image(tmp_path / "dark.jpg", colour=(10, 10, 10))
    model, classes = load_classifier(model_path)
    results = classify_images(model, [bright, dark], classes)
    assert [r["label"] for r in results] == ["sad", "happy"]
    expected = float(load_image(bright, 16, 1).mean())
    assert results[0]["probability"] == pytest.approx(expected, abs=1e-3)


def test_cli_prints_json_lines_and_error_lines(model_path, tmp_path, make_image, capsys):
    good = make_image(tmp_path / "ok image.png")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    code = main([str(model_path), str(good), str(text), str(tmp_path), str(tmp_path / "nope.png")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert lines[0]["label"] in ("happy", "sad") and 0.5 <= lines[0]["probability"] <= 1
    assert "not an image" in lines[1]["error"]
    assert "folder" in lines[2]["error"]
    assert "not found" in lines[3]["error"]


def test_cli_missing_model_says_what_to_do(tmp_path, capsys):
    assert main([str(tmp_path / "model.keras"), "x.png"]) == 2
    assert "Train one first" in json.loads(capsys.readouterr().out)["error"]


def test_module_runs_from_the_command_line(model_path, tmp_path, make_image):
    good = make_image(tmp_path / "face.png")
    done = subprocess.run([sys.executable, "-m", "helpers.predict", str(model_path), str(good)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"path", "label", "probability"}
    assert np.isfinite(result["probability"])
