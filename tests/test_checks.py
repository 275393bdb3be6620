"""The exercise checkers: ✓ for a right answer, a message in the learner's words otherwise.

Every checker is tried with the right answer, with the untouched `...` placeholder, and with
the mistakes learners make most; none may ever raise a bare AssertionError, and none shows the
answer before the second wrong try (or `hint(N)`). Predictions are recorded, not judged.
"""

import json
import re

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from conftest import save_brightness_model
from helpers import checks
from helpers import checks_after_training as after_training
from helpers.checks import NotYet
from helpers.model import build_model
from helpers.own_face import convolutional_base
from helpers.predict import load_classifier


@pytest.fixture(autouse=True)
def fresh_kernel():
    """Each test starts as a fresh kernel would: no wrong tries counted yet."""
    checks._wrong_tries.clear()
    checks.answers_seen.clear()


def fails_with(call, *args, words: str, exercise: int, first_try: bool = True):
    if first_try:
        checks._wrong_tries.pop(exercise, None)
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


def conv_block(filters, convolutions=1, padding="same", use_bias=False, momentum=0.9):
    block = []
    for _ in range(convolutions):
        block += [layers.Conv2D(filters, 3, padding=padding, use_bias=use_bias),
                  layers.BatchNormalization(momentum=momentum), layers.ReLU()]
    return block + [layers.MaxPooling2D()]


def test_every_checker_says_not_done_on_the_placeholder(model, tmp_path):
    predictions = tmp_path / "predictions.json"
    images = np.zeros((1, 8, 8, 1))
    calls = {
        1: lambda: checks.check_baseline(..., pd.DataFrame({"split": ["test"], "class": ["a"]})),
        2: lambda: checks.check_extra_augmentation(..., images, "same", predictions),
        3: lambda: checks.check_conv_block(...),
        4: lambda: checks.check_output_layer(...),
        5: lambda: checks.check_parameter_count(144, ..., model),
        6: lambda: checks.check_loss(...),
        7: lambda: checks.check_early_stopping_monitor(..., None, 10, 12),
        8: lambda: checks.check_prediction(8, ..., predictions),
        9: lambda: after_training.check_recall_threshold(..., [1], [0.5], 0.9),
        10: lambda: after_training.check_precision_recall(..., 0.5, [1], [1]),
        11: lambda: after_training.check_prediction_by_hand(..., "sad", None, np.zeros((4, 4, 1))),
        12: lambda: after_training.check_gradcam_layer(model, ...),
        13: lambda: after_training.check_frozen_base(..., model),
        14: lambda: after_training.check_picture_loss(..., 0, 0.9),
    }
    assert sorted(calls) == sorted(checks.EXERCISES)
    for exercise, call in calls.items():
        message = fails_with(call, words="not done yet", exercise=exercise)
        assert "Replace the `...`" in message
    assert not predictions.exists()  # nothing recorded without a prediction


def test_the_answer_comes_with_the_second_wrong_try_or_a_hint(capsys):
    manifest = pd.DataFrame({"split": ["test"] * 10, "class": ["happy"] * 7 + ["sad"] * 3})
    first = fails_with(checks.check_baseline, 0.65, manifest, words="test split", exercise=1)
    assert "0.700" not in first and "hint(1)" in first
    second = fails_with(checks.check_baseline, 0.6, manifest, words="The answer: 0.700",
                        exercise=1, first_try=False)
    assert "test split" in second
    checks._wrong_tries.clear()
    checks.hint(1)
    assert "0.700" in capsys.readouterr().out
    checks.hint(9)  # not checked yet: nothing to reveal
    assert "run its check cell once first" in capsys.readouterr().out
    with pytest.raises(ValueError, match="numbered 1 to 14"):
        checks.hint(15)


def test_no_first_try_names_the_answer(model, tmp_path):
    """The first wrong try of every exercise with a fixed answer says what is wrong only."""
    y = np.array([1] * 10 + [0] * 10)
    p = np.concatenate([np.linspace(0.35, 0.95, 10), np.linspace(0.05, 0.6, 10)])
    wrong = {
        3: (checks.check_conv_block, lambda f, convolutions=1: conv_block(32, convolutions)),
        4: (checks.check_output_layer, layers.Dense(1)),
        5: (checks.check_parameter_count, 9, 1153, model),
        6: (checks.check_loss, "mse"),
        7: (checks.check_early_stopping_monitor, "loss", None, 10, 12),
        9: (after_training.check_recall_threshold, 0.2, y, p, 0.9),
        10: (after_training.check_precision_recall, 0.1, 0.2, y, (p > 0.5).astype(int)),
        12: (after_training.check_gradcam_layer, model, 1),
        13: (after_training.check_frozen_base, convolutional_base(model), model),
        14: (after_training.check_picture_loss, 1.0, 0, 0.9),
    }
    for exercise, (call, *args) in wrong.items():
        message = fails_with(call, *args, words="", exercise=exercise)
        assert "The answer" not in message and f"hint({exercise})" in message
        answer = checks.answers_seen[exercise]
        assert answer not in message
        again = fails_with(call, *args, words=answer, exercise=exercise, first_try=False)
        assert "The answer" in again


def test_baseline(capsys):
    manifest = pd.DataFrame({"split": ["test"] * 10 + ["train"] * 10,
                             "class": ["happy"] * 7 + ["sad"] * 3 + ["sad"] * 10})
    passes(checks.check_baseline, 0.7, manifest, capsys=capsys, exercise=1)
    fails_with(checks.check_baseline, 7, manifest, words="divide by the number", exercise=1)
    fails_with(checks.check_baseline, 0.3, manifest, words="*smaller* class", exercise=1)
    fails_with(checks.check_baseline, 0.65, manifest, words="test split", exercise=1)
    fails_with(checks.check_baseline, "0.7", manifest, words="one number", exercise=1)


def test_extra_augmentation_and_its_prediction_is_recorded(tmp_path, capsys):
    images = np.random.default_rng(0).uniform(50, 200, (4, 16, 16, 3)).astype("float32")
    record = tmp_path / "predictions.json"
    brightness = layers.RandomBrightness(0.3, value_range=(0, 255), seed=1)
    out = passes(checks.check_extra_augmentation, brightness, images, "Better", record,
                 capsys=capsys, exercise=2)
    assert "'better'" in out
    [line] = record.read_text().splitlines()
    assert json.loads(line) == {"exercise": 2, "prediction": "better",
                                "settings": {"layer": "RandomBrightness"}}
    fails_with(checks.check_extra_augmentation, layers.RandomFlip("vertical"), images, "same",
               record, words="upside-down", exercise=2)
    for wrong_range in ((0, 1), (0, 1000)):  # squashed into 0-1, or pushed past 255
        fails_with(checks.check_extra_augmentation,
                   layers.RandomBrightness(0.9, value_range=wrong_range, seed=1), images, "same",
                   record, words="told the range", exercise=2)
    fails_with(checks.check_extra_augmentation, layers.RandomCrop(8, 8), images, "same",
               record, words="shape", exercise=2)
    fails_with(checks.check_extra_augmentation, "brightness", images, "same", record,
               words="Keras layer", exercise=2)
    fails_with(checks.check_extra_augmentation, brightness, images, "no idea", record,
               words="'better', 'worse' or 'same'", exercise=2)
    fails_with(checks.check_extra_augmentation, brightness, images, ..., record,
               words="my_prediction", exercise=2)
    assert len(record.read_text().splitlines()) == 1  # only the complete answer was recorded


def test_conv_block(capsys):
    out = passes(checks.check_conv_block, conv_block, capsys=capsys, exercise=3)
    assert "24x24x16" in out
    fails_with(checks.check_conv_block, lambda f, convolutions=1: conv_block(32, convolutions),
               words="made a Conv2D with 32 filters", exercise=3)
    fails_with(checks.check_conv_block,
               lambda f, convolutions=1: conv_block(f, convolutions, padding="valid"),
               words="choose the padding", exercise=3)
    fails_with(checks.check_conv_block,
               lambda f, convolutions=1: conv_block(f, convolutions, use_bias=True),
               words="has a bias", exercise=3)
    fails_with(checks.check_conv_block,
               lambda f, convolutions=1: conv_block(f, convolutions, momentum=0.99),
               words="momentum 0.99", exercise=3)
    fails_with(checks.check_conv_block, lambda f, convolutions=1: conv_block(f),
               words="conv_block(32, convolutions=2) gave Conv2D → BatchNormalization → ReLU → "
               "MaxPooling2D", exercise=3)
    fails_with(checks.check_conv_block, lambda f: conv_block(f),
               words="must both work", exercise=3)
    shared = conv_block(16)
    fails_with(checks.check_conv_block, lambda f, convolutions=1: shared if convolutions == 1
               else conv_block(f, 2), words="same layer objects", exercise=3)
    fails_with(checks.check_conv_block, conv_block(16), words="should be a function",
               exercise=3)


def test_output_layer_shows_what_a_wrong_choice_gives(capsys):
    out = passes(checks.check_output_layer, layers.Dense(1, activation="sigmoid"),
                 capsys=capsys, exercise=4)
    assert "P(sad)" in out
    fails_with(checks.check_output_layer, layers.Dense(2, activation="softmax"),
               words="gives 2 numbers each", exercise=4)
    message = fails_with(checks.check_output_layer, layers.Dense(1), words="outside 0-1",
                         exercise=4)
    assert re.search(r"gives \[-?\d+\.\d\d, ", message)  # the numbers the layer gave
    fails_with(checks.check_output_layer, layers.Conv2D(1, 3), words="Dense layer", exercise=4)


def test_parameter_count(model, capsys):
    out = passes(checks.check_parameter_count, 144, 1153, model, "about 10%", capsys=capsys,
                 exercise=5)  # a guess is recorded, never wrong; the check gives the share
    assert re.search(r"You guessed about 10%: it holds 0\.\d% of all [\d,]+ parameters", out)
    fails_with(checks.check_parameter_count, 144, 1153, model, "a lot", words="under 1%",
               exercise=5)
    fails_with(checks.check_parameter_count, 160, 1153, model, words="use_bias=False",
               exercise=5)
    fails_with(checks.check_parameter_count, 144, 1152, model, words="Add the bias",
               exercise=5)
    fails_with(checks.check_parameter_count, 9, 1153, model, words="you counted 9", exercise=5)
    fails_with(checks.check_parameter_count, 144, "1153", model, words="whole number", exercise=5)


def test_loss_shows_what_a_wrong_loss_does_with_a_sure_mistake(capsys):
    out = passes(checks.check_loss, "binary_crossentropy", capsys=capsys, exercise=6)
    assert "p = 0.01: 4.61" in out
    passes(checks.check_loss, keras.losses.BinaryCrossentropy(), capsys=capsys, exercise=6)
    fails_with(checks.check_loss, "categorical_crossentropy", words="one sigmoid output",
               exercise=6)
    message = fails_with(checks.check_loss, "mean_squared_error", words="costs 0.98",
                         exercise=6)
    assert "binary_crossentropy" not in message
    fails_with(checks.check_loss, "mean_absolute_error", words="costs 0.99", exercise=6)
    fails_with(checks.check_loss, keras.losses.BinaryCrossentropy(from_logits=True),
               words="from_logits", exercise=6)
    fails_with(checks.check_loss, "cross entropy please", words="not one of Keras' losses",
               exercise=6)


def test_the_monitor_is_replayed_on_the_unregularised_curves(capsys):
    """A memorising model: training loss falls every epoch, validation loss turns up after 4."""
    epochs = np.arange(12)
    diagnosis = pd.DataFrame({"epoch": epochs, "loss": 0.7 * 0.6 ** epochs,
                              "accuracy": np.minimum(1, 0.6 + 0.05 * epochs),
                              "val_loss": 0.5 - 0.05 * np.minimum(epochs, 4)
                              + 0.04 * np.maximum(epochs - 4, 0),
                              "val_accuracy": [0.6, 0.7, 0.75] + [0.8] * 4 + [0.85] + [0.8] * 4})
    out = passes(checks.check_early_stopping_monitor, "val_loss", diagnosis, 10, 12,
                 capsys=capsys, exercise=7)
    assert "'val_loss' was best after epoch 5 of 12." in out
    fails_with(checks.check_early_stopping_monitor, "loss", diagnosis, 10, 12,
               words="'loss' was best after epoch 12 of 12, the last", exercise=7)
    fails_with(checks.check_early_stopping_monitor, "accuracy", diagnosis, 10, 12,
               words="never says stop", exercise=7)
    out = passes(checks.check_early_stopping_monitor, "val_accuracy", diagnosis, 10, 12,
                 capsys=capsys, exercise=7)  # defensible, with what it costs
    assert "steps of one face" in out and "'val_accuracy' was best after epoch 8 of 12" in out
    assert "val_loss 0.420 there, against the lowest, 0.300" in out
    fails_with(checks.check_early_stopping_monitor, "val_los", diagnosis, 10, 12,
               words="one of the curves", exercise=7)
    passes(checks.check_early_stopping_monitor, "val_loss", None, 10, 12, capsys=capsys,
           exercise=7)  # the diagnosis was skipped: nothing to replay, still right


def test_a_prediction_is_recorded_then_compared_with_validation(tmp_path, capsys):
    record = tmp_path / "predictions.json"
    passes(checks.check_prediction, 8, 0.9, record, {"EPOCHS": 25}, capsys=capsys, exercise=8)
    table = checks.compare_predictions(record, 8, 0.875, "val_accuracy")
    assert "You predicted 0.900; val_accuracy is 0.875" in capsys.readouterr().out
    assert table.to_dict("records") == [{"EPOCHS": 25, "predicted": 0.9, "val_accuracy": 0.875}]
    passes(checks.check_prediction, 8, 0.8, record, {"EPOCHS": 10}, capsys=capsys, exercise=8)
    table = checks.compare_predictions(record, 8, 0.85, "val_accuracy")
    assert list(table["EPOCHS"]) == [25, 10] and list(table["val_accuracy"]) == [0.875, 0.85]
    fails_with(checks.check_prediction, 8, 90, record, words="between 0 and 1", exercise=8)
    fails_with(checks.check_prediction, 8, "high", record, words="between 0 and 1", exercise=8)
    assert len(record.read_text().splitlines()) == 2
    assert checks.compare_predictions(tmp_path / "none.json", 8, 0.5, "val_accuracy").empty
    with record.open("a") as file:
        file.write("{not json\n[1, 2]\n")  # a learner edited the file by hand
    assert len(checks.compare_predictions(record, 8, 0.9, "val_accuracy")) == 2


def test_recall_threshold(capsys):
    y = np.array([1] * 10 + [0] * 10)
    p = np.concatenate([np.linspace(0.35, 0.95, 10), np.linspace(0.05, 0.6, 10)])
    # 9 of 10 sad faces are at or above 0.4167: the highest 0.01 step is 0.41
    out = passes(after_training.check_recall_threshold, 0.41, y, p, 0.9, capsys=capsys, exercise=9)
    assert "recall is 90.0%" in out
    assert "at 0.5 recall is 70.0%, so the threshold goes below 0.5: lower, to find more" in out
    assert "40.0% of the happy faces are called sad (at 0.5: 20.0%)" in out
    out = passes(after_training.check_recall_threshold, 0.61, y, p, 0.6, capsys=capsys, exercise=9)
    assert "threshold goes above 0.5: higher, for fewer false alarms" in out  # 60% reached
    fails_with(after_training.check_recall_threshold, 0.5, y, p, 0.9, words="lower the threshold",
               exercise=9)
    message = fails_with(after_training.check_recall_threshold, 0.2, y, p, 0.9,
                         words="a higher threshold does too", exercise=9)
    assert "0.41" not in message
    fails_with(after_training.check_recall_threshold, 1.5, y, p, 0.9, words="between 0 and 1",
               exercise=9)


def test_precision_recall(capsys):
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 1, 0, 0, 0, 0])  # TP 3, FN 1, FP 2
    passes(after_training.check_precision_recall, 3 / 5, 3 / 4, y_true, y_pred, capsys=capsys,
           exercise=10)
    fails_with(after_training.check_precision_recall, 3 / 4, 3 / 5, y_true, y_pred,
               words="That is the recall", exercise=10)
    fails_with(after_training.check_precision_recall, 3 / 5, 3 / 5, y_true, y_pred,
               words="of the faces that were sad", exercise=10)
    never_sad = np.zeros_like(y_true)  # a model that calls no face sad: precision is 0 / 0
    with np.errstate(invalid="ignore"):
        passes(after_training.check_precision_recall, np.int64(0) / np.int64(0), 0.0, y_true,
               never_sad, capsys=capsys, exercise=10)
    fails_with(after_training.check_precision_recall, 0.5, 0.0, y_true, never_sad,
               words="is not the precision", exercise=10)


def test_prediction_by_hand(tmp_path, capsys):
    path = save_brightness_model(tmp_path / "model" / "model.keras", size=8, threshold=0.6)
    classifier = load_classifier(path)
    image = np.full((8, 8, 3), 0.55 * 255, dtype="float32")  # P(sad) 0.55: below 0.6, happy
    passes(after_training.check_prediction_by_hand, image[np.newaxis], "happy", classifier, image,
           capsys=capsys, exercise=11)
    fails_with(after_training.check_prediction_by_hand, image, "happy", classifier, image,
               words="one more axis in front", exercise=11)
    fails_with(after_training.check_prediction_by_hand, image[np.newaxis], "sad", classifier, image,
               words="threshold 0.60", exercise=11)


def test_gradcam_layer(model, capsys):
    kinds = [type(layer).__name__ for layer in model.layers]
    last_relu = len(kinds) - 1 - kinds[::-1].index("ReLU")
    first_relu = kinds.index("ReLU")
    passes(after_training.check_gradcam_layer, model, last_relu, capsys=capsys, exercise=12)
    fails_with(after_training.check_gradcam_layer, model, last_relu + 1, words="pooling",
               exercise=12)
    fails_with(after_training.check_gradcam_layer, model, kinds.index("Flatten"),
               words="no width and height", exercise=12)
    fails_with(after_training.check_gradcam_layer, model, first_relu, words="edges", exercise=12)
    fails_with(after_training.check_gradcam_layer, model, 99, words="expected a layer number",
               exercise=12)


def test_checking_the_output_layer_leaves_the_models_starting_weights_alone(capsys):
    """The check tries the layer on a copy, which draws a seed: it must put Python's random
    state back, or the model built after it would start from other weights."""
    def next_weights(check: bool):
        keras.utils.set_random_seed(3)
        chosen = layers.Dense(1, activation="sigmoid")
        if check:
            checks.check_output_layer(chosen)
        later = layers.Dense(2)
        later.build((None, 4))
        return later.get_weights()[0]

    assert np.array_equal(next_weights(check=True), next_weights(check=False))
