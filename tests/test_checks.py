"""The exercise checkers: ✓ for a right answer, a message in the learner's words otherwise.

Every checker is tried with the right answer, with the untouched `...` placeholder, and with
the mistakes learners make most; none may ever raise a bare AssertionError.
"""

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from conftest import save_brightness_model
from helpers import checks
from helpers.checks import NotYet
from helpers.model import build_model
from helpers.predict import load_classifier, save_threshold


def fails_with(call, *args, words: str, exercise: int):
    with pytest.raises(NotYet) as info:
        call(*args)
    assert not isinstance(info.value, AssertionError)
    assert info.value.exercise == exercise
    assert words in str(info.value), str(info.value)
    assert info.value._render_traceback_() == [f"✗ {info.value}"]  # what Jupyter shows
    return str(info.value)


def passes(call, *args, capsys, exercise: int) -> str:
    call(*args)
    out = capsys.readouterr().out
    assert out.startswith(f"✓ Exercise {exercise} "), out
    return out


@pytest.fixture(scope="module")
def model():
    return build_model()


def test_every_checker_says_not_done_on_the_placeholder(model):
    calls = {
        1: lambda: checks.check_baseline(..., pd.DataFrame({"split": ["test"], "class": ["a"]})),
        2: lambda: checks.check_extra_augmentation(..., np.zeros((1, 8, 8, 1))),
        3: lambda: checks.check_conv_block(...),
        4: lambda: checks.check_output_layer(...),
        5: lambda: checks.check_parameter_count(144, ..., model),
        6: lambda: checks.check_loss(...),
        7: lambda: checks.check_early_stopping(..., 10, 12),
        8: lambda: checks.check_recall_threshold(..., [1], [0.5], 0.9),
        9: lambda: checks.check_precision_recall(..., 0.5, [1], [1]),
        10: lambda: checks.check_prediction_by_hand(..., "sad", None, np.zeros((4, 4, 1))),
        11: lambda: checks.check_gradcam_layer(model, ...),
    }
    assert sorted(calls) == sorted(checks.EXERCISES)
    for exercise, call in calls.items():
        message = fails_with(call, words="not done yet", exercise=exercise)
        assert "Replace the `...`" in message


def test_baseline(capsys):
    manifest = pd.DataFrame({"split": ["test"] * 10 + ["train"] * 10,
                             "class": ["happy"] * 7 + ["sad"] * 3 + ["sad"] * 10})
    passes(checks.check_baseline, 0.7, manifest, capsys=capsys, exercise=1)
    fails_with(checks.check_baseline, 7, manifest, words="divide by the number", exercise=1)
    fails_with(checks.check_baseline, 0.3, manifest, words="*smaller* class", exercise=1)
    fails_with(checks.check_baseline, 0.65, manifest, words="test split only", exercise=1)


def test_extra_augmentation(capsys):
    images = np.random.default_rng(0).uniform(0.2, 0.8, (4, 16, 16, 1)).astype("float32")
    passes(checks.check_extra_augmentation,
           layers.RandomBrightness(0.3, value_range=(0, 1), seed=1), images,
           capsys=capsys, exercise=2)
    fails_with(checks.check_extra_augmentation, layers.RandomFlip("vertical"), images,
               words="upside-down", exercise=2)
    fails_with(checks.check_extra_augmentation, layers.RandomBrightness(0.9, seed=1), images,
               words="value_range=(0, 1)", exercise=2)
    fails_with(checks.check_extra_augmentation, layers.RandomCrop(8, 8), images,
               words="shape", exercise=2)
    fails_with(checks.check_extra_augmentation, "brightness", images, words="Keras layer",
               exercise=2)


def test_conv_block(capsys):
    def block(filters=16, padding="same", use_bias=False, momentum=0.9):
        return [layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias),
                layers.BatchNormalization(momentum=momentum), layers.ReLU(),
                layers.MaxPooling2D()]

    out = passes(checks.check_conv_block, block(), capsys=capsys, exercise=3)
    assert "24x24x16" in out
    fails_with(checks.check_conv_block, block(32), words="expected 16 filters, got 32",
               exercise=3)
    fails_with(checks.check_conv_block, block(padding="valid"), words='padding="same"',
               exercise=3)
    fails_with(checks.check_conv_block, block(use_bias=True), words="use_bias=False", exercise=3)
    fails_with(checks.check_conv_block, block(momentum=0.99), words="momentum=0.9", exercise=3)
    fails_with(checks.check_conv_block, block()[:1] + block()[2:],
               words="Conv2D → BatchNormalization → ReLU → MaxPooling2D", exercise=3)
    fails_with(checks.check_conv_block, block()[0], words="got Conv2D.", exercise=3)


def test_output_layer(capsys):
    passes(checks.check_output_layer, layers.Dense(1, activation="sigmoid"), capsys=capsys,
           exercise=4)
    fails_with(checks.check_output_layer, layers.Dense(2, activation="softmax"),
               words="one unit is enough", exercise=4)
    fails_with(checks.check_output_layer, layers.Dense(1, activation="relu"),
               words='activation="sigmoid"', exercise=4)
    fails_with(checks.check_output_layer, layers.Dense(3, activation="sigmoid"),
               words="needs one unit", exercise=4)


def test_parameter_count(model, capsys):
    passes(checks.check_parameter_count, 144, 1153, model, capsys=capsys, exercise=5)
    fails_with(checks.check_parameter_count, 160, 1153, model, words="use_bias=False",
               exercise=5)
    fails_with(checks.check_parameter_count, 144, 1152, model, words="Add the bias",
               exercise=5)
    fails_with(checks.check_parameter_count, 9, 1153, model, words="you counted 9", exercise=5)
    fails_with(checks.check_parameter_count, 144, "1153", model, words="whole number", exercise=5)


def test_loss(capsys):
    out = passes(checks.check_loss, "binary_crossentropy", capsys=capsys, exercise=6)
    assert "p = 0.1: 2.30" in out
    passes(checks.check_loss, keras.losses.BinaryCrossentropy(), capsys=capsys, exercise=6)
    fails_with(checks.check_loss, "categorical_crossentropy", words="one sigmoid output",
               exercise=6)
    fails_with(checks.check_loss, "mse", words="binary_crossentropy", exercise=6)
    fails_with(checks.check_loss, keras.losses.BinaryCrossentropy(from_logits=True),
               words="from_logits", exercise=6)


def test_early_stopping(capsys):
    def stopper(**changes):
        settings = dict(monitor="val_loss", patience=10, start_from_epoch=12,
                        restore_best_weights=True) | changes
        return keras.callbacks.EarlyStopping(**settings)

    passes(checks.check_early_stopping, stopper(), 10, 12, capsys=capsys, exercise=7)
    fails_with(checks.check_early_stopping, stopper(monitor="loss"), 10, 12,
               words="never says stop", exercise=7)
    fails_with(checks.check_early_stopping, stopper(patience=3), 10, 12, words="PATIENCE",
               exercise=7)
    fails_with(checks.check_early_stopping, stopper(start_from_epoch=0), 10, 12,
               words="start_from_epoch", exercise=7)
    fails_with(checks.check_early_stopping, stopper(restore_best_weights=False), 10, 12,
               words="restore_best_weights=True", exercise=7)


def test_recall_threshold(capsys):
    y = np.array([1] * 10 + [0] * 10)
    p = np.concatenate([np.linspace(0.35, 0.95, 10), np.linspace(0.05, 0.6, 10)])
    # 9 of 10 sad faces are at or above 0.4167: the highest 0.01 step is 0.41
    out = passes(checks.check_recall_threshold, 0.41, y, p, 0.9, capsys=capsys, exercise=8)
    assert "recall is 90.0%" in out
    fails_with(checks.check_recall_threshold, 0.5, y, p, 0.9, words="lower the threshold",
               exercise=8)
    fails_with(checks.check_recall_threshold, 0.2, y, p, 0.9, words="0.41 does too", exercise=8)


def test_precision_recall(capsys):
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])  # TP 3, FN 1, FP 2
    passes(checks.check_precision_recall, 3 / 5, 3 / 4, y_true, y_pred, capsys=capsys,
           exercise=9)
    fails_with(checks.check_precision_recall, 3 / 4, 3 / 5, y_true, y_pred,
               words="That is the recall", exercise=9)
    fails_with(checks.check_precision_recall, 3 / 5, 3 / 5, y_true, y_pred,
               words="Recall = TP / (TP + FN)", exercise=9)


def test_prediction_by_hand(tmp_path, capsys):
    path = save_brightness_model(tmp_path / "model.keras", size=8)  # output: mean brightness
    save_threshold(path, 0.6)
    classifier = load_classifier(path)
    image = np.full((8, 8, 1), 0.55, dtype="float32")  # P(sad) 0.55: below 0.6, so happy
    passes(checks.check_prediction_by_hand, image[np.newaxis], "happy", classifier, image,
           capsys=capsys, exercise=10)
    fails_with(checks.check_prediction_by_hand, image, "happy", classifier, image,
               words="image[np.newaxis]", exercise=10)
    fails_with(checks.check_prediction_by_hand, image[np.newaxis], "sad", classifier, image,
               words="threshold 0.60", exercise=10)


def test_gradcam_layer(model, capsys):
    kinds = [type(layer).__name__ for layer in model.layers]
    last_relu = len(kinds) - 1 - kinds[::-1].index("ReLU")
    first_relu = kinds.index("ReLU")
    passes(checks.check_gradcam_layer, model, last_relu, capsys=capsys, exercise=11)
    fails_with(checks.check_gradcam_layer, model, last_relu + 1, words="pooling", exercise=11)
    fails_with(checks.check_gradcam_layer, model, kinds.index("Flatten"),
               words="no width and height", exercise=11)
    fails_with(checks.check_gradcam_layer, model, first_relu, words="edges", exercise=11)
    fails_with(checks.check_gradcam_layer, model, 99, words="expected a layer number",
               exercise=11)
