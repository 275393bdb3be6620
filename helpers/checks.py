"""Self-checks for the course's exercises: each says in plain words what is wrong, or ✓.

Every exercise is followed by one call to a checker here (06-10: checks_after_training). It
prints "✓ ..." when the answer is right; not done yet (`...`) or wrong, it raises `NotYet` with a
message in the learner's words, shown without a traceback, which stops "Run All" there. A first
wrong try says what is wrong; the second, or `hint(N)`, gives the answer.

Predictions ("predict first, then run") are written down, not judged: `check_prediction`
records one in `WORK_DIR/predictions.json` with the settings it was made under, and
`compare_predictions` sets each beside what the validation split said.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from helpers.workspace import is_number

#: What the exercises are about, by number (the notebooks' "Exercise N" headings use these).
EXERCISES = {
    1: "the score of always guessing",
    2: "one more augmentation",
    3: "a convolution block",
    4: "the output layer",
    5: "parameters by hand",
    6: "the loss",
    7: "what early stopping watches",
    8: "change one thing and predict",
    9: "a threshold for high recall",
    10: "precision and recall from the confusion matrix",
    11: "one prediction by hand",
    12: "which layer Grad-CAM explains",
    13: "freeze the convolutional base",
    14: "the loss of one picture",
}

_wrong_tries: dict[int, int] = {}  # wrong tries per exercise in this kernel
answers_seen: dict[int, str] = {}  # the answer of each exercise checked so far, for hint()


class NotYet(Exception):
    """An exercise is not done, or not right yet. Jupyter shows only the message."""

    def __init__(self, exercise: int, message: str):
        self.exercise = exercise
        super().__init__(f"Exercise {exercise} ({EXERCISES[exercise]}): {message}")

    def _render_traceback_(self) -> list[str]:  # IPython's hook: show the message, no traceback
        return [f"✗ {self}"]


def hint(exercise: int) -> None:
    """Print the answer to exercise `exercise` (run its check cell once first)."""
    if exercise not in EXERCISES:
        raise ValueError(f"the exercises are numbered {min(EXERCISES)} to {max(EXERCISES)}")
    answer = answers_seen.get(exercise)
    print(f"Exercise {exercise} ({EXERCISES[exercise]}): " + (
        answer or "run its check cell once first, then ask again."))


def wrong(exercise: int, message: str, answer: str) -> NotYet:
    """What is wrong; from the second wrong try of this exercise, the answer too."""
    answers_seen[exercise] = answer
    _wrong_tries[exercise] = tries = _wrong_tries.get(exercise, 0) + 1
    more = (f" The answer: {answer}" if tries >= 2 else
            f" Try again; a second wrong try, or hint({exercise}), shows the answer.")
    return NotYet(exercise, message + more)


def done(exercise: int, message: str) -> None:
    print(f"✓ Exercise {exercise} ({EXERCISES[exercise]}): {message}")


def require_answer(exercise: int, **answers) -> None:
    """Stop with 'not done yet' while any answer is still the `...` placeholder."""
    missing = [name for name, value in answers.items() if value is Ellipsis]
    if missing:
        raise NotYet(exercise, f"not done yet. Replace the `...` of {', '.join(missing)} in the "
                     "cell above with your answer, run that cell, then this one.")


def close(a: float, b: float, tolerance: float = 1e-6) -> bool:
    return abs(float(a) - float(b)) <= tolerance


def _read_records(path: Path) -> list[dict]:
    """The records in `path`; a line that is not a JSON object (edited by hand) is skipped."""
    records = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "prediction" in record:
                records.append({"settings": {}, **record})
    return records


def _write_records(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, default=str) + "\n" for r in records),
                    encoding="utf-8")


def _record(path: str | Path, exercise: int, prediction, settings: Mapping | None) -> None:
    path = Path(path)
    _write_records(path, [*_read_records(path), {"exercise": exercise, "prediction": prediction,
                                                 "settings": dict(settings or {})}])


def check_prediction(exercise: int, prediction, path: str | Path,
                     settings: Mapping | None = None) -> None:
    """Record a prediction (a share between 0 and 1) made before a run, with the settings it
    was made under, in `path` (JSON lines). A prediction is never wrong; a missing one is."""
    answers_seen[exercise] = "any share between 0 and 1 that you believe: this one is yours."
    require_answer(exercise, my_prediction=prediction)
    if not is_number(prediction) or not 0 <= prediction <= 1:
        raise NotYet(exercise, f"write your prediction as a share between 0 and 1 (0.9 for "
                     f"90%), got {prediction!r}.")
    _record(path, exercise, float(prediction), settings)
    done(exercise, f"your prediction ({prediction:.3f}) is written down in "
          f"{Path(path).name}; the run will tell.")


def compare_predictions(path: str | Path, exercise: int, outcome: float,
                        measure: str) -> pd.DataFrame:
    """Give the latest prediction recorded for `exercise` its `outcome` (what validation said)
    and return every prediction for it, oldest first: settings, prediction and result."""
    path = Path(path)
    records = _read_records(path)
    mine = [r for r in records if r.get("exercise") == exercise]
    if not mine:
        print(f"No prediction recorded for exercise {exercise} in {path}.")
        return pd.DataFrame()
    mine[-1][measure] = float(outcome)
    _write_records(path, records)
    print(f"You predicted {mine[-1]['prediction']:.3f}; {measure} is {outcome:.3f}.")
    return pd.DataFrame([{**r["settings"], "predicted": r["prediction"],
                          measure: r.get(measure)} for r in mine])


def check_baseline(baseline: float, manifest) -> None:
    """Exercise 1: the accuracy of always answering the larger class, on the test split."""
    test_counts = manifest.loc[manifest["split"] == "test", "class"].value_counts()
    right = test_counts.max() / test_counts.sum()
    answer = (f"{right:.3f}: the test images of the larger class ({test_counts.idxmax()}, "
              f"{test_counts.max()}) / all test images ({test_counts.sum()}).")
    answers_seen[1] = answer
    require_answer(1, baseline=baseline)
    if not is_number(baseline):
        raise NotYet(1, f"expected one number (a share between 0 and 1), got {baseline!r}.")
    if baseline > 1:
        raise wrong(1, f"{baseline} is a count, not a share: divide by the number of test "
                     "images.", answer)
    if close(baseline, test_counts.min() / test_counts.sum()) and not close(baseline, right):
        raise wrong(1, "that is the share of the *smaller* class; always guessing the larger "
                     "class is right more often.", answer)
    if not close(baseline, right, 1e-4):
        raise wrong(1, f"{baseline:.3f} is not the share of the larger class in the test "
                     "split. Count the classes of the test rows only (split == 'test').",
                     answer)
    done(1, f"{right:.3f}. A model has to beat this to be worth anything.")


def check_extra_augmentation(layer, images, prediction, path: str | Path) -> None:
    """Exercise 2: one more Keras augmentation layer that keeps images valid and labels true,
    and a written prediction of its effect (recorded in `path`)."""
    answer = "for example keras.layers.RandomBrightness(0.3, value_range=(0, 255))."
    answers_seen[2] = answer
    require_answer(2, extra=layer, my_prediction=prediction)
    if not isinstance(layer, keras.layers.Layer):
        raise NotYet(2, f"expected a Keras layer from keras.layers, got {type(layer).__name__}.")
    if isinstance(layer, keras.layers.RandomFlip) and "vertical" in layer.mode:
        raise NotYet(2, "an upside-down face never reaches the model at prediction time, so "
                     "learning to read one wastes its capacity. Try a change real photos have.")
    images = np.asarray(images, dtype="float32")
    changed = np.asarray(layer(images, training=True))
    if changed.shape != images.shape:
        raise NotYet(2, f"the layer changed the images' shape from {images.shape} to "
                     f"{changed.shape}: the model expects {images.shape[1:]}.")
    squashed = images.max(initial=0) > 1 and changed.max(initial=0) <= 1 + 1e-3
    if changed.min() < -1e-3 or changed.max() > 255 + 1e-3 or squashed:
        raise wrong(2, f"pixel values now run from {changed.min():.2f} to {changed.max():.2f}, "
                     "but the model takes raw pixels from 0 to 255 (it scales them itself). "
                     "Layers that change brightness need to be told the range.",
                     "value_range=(0, 255).")
    if np.allclose(changed, images):
        raise NotYet(2, "the images came back unchanged: make the factor larger than 0.")
    if not np.allclose(np.asarray(layer(images, training=False)), images):
        raise NotYet(2, "the layer changes images in inference mode too; augmentation must "
                     "leave validation, test and new images alone.")
    prediction = prediction.strip().lower() if isinstance(prediction, str) else prediction
    if not isinstance(prediction, str) or prediction not in ("better", "worse", "same"):
        raise NotYet(2, f"write your prediction as 'better', 'worse' or 'same': {prediction!r}?")
    _record(path, 2, prediction, {"layer": type(layer).__name__})
    done(2, f"{type(layer).__name__} changes training images only and keeps them valid; "
          f"your prediction ({prediction!r}) is written down in {Path(path).name}.")


def _kinds(layers) -> list[str]:
    return [type(layer).__name__ for layer in layers]


def check_conv_block(conv_block: Callable) -> None:
    """Exercise 3: conv_block(filters, convolutions=1) → that many Conv2D-BatchNorm-ReLU, then
    MaxPooling2D; fresh layers on every call."""
    answer = ('[layers.Conv2D(filters, 3, padding="same", use_bias=False), '
              "layers.BatchNormalization(momentum=0.9), layers.ReLU()] * convolutions "
              "(new layers each time, e.g. in a loop), then layers.MaxPooling2D().")
    answers_seen[3] = answer
    require_answer(3, conv_block=conv_block)
    if not callable(conv_block):
        raise NotYet(3, f"conv_block should be a function (def conv_block(filters, "
                     f"convolutions=1): ...), got {type(conv_block).__name__}.")
    try:
        one, two = list(conv_block(16)), list(conv_block(32, convolutions=2))
    except TypeError as err:
        raise NotYet(3, f"conv_block(16) and conv_block(32, convolutions=2) must both work: "
                     f"{err}.") from None
    unit = ["Conv2D", "BatchNormalization", "ReLU"]
    for got, n, filters in ((one, 1, 16), (two, 2, 32)):
        expected = unit * n + ["MaxPooling2D"]
        if _kinds(got) != expected:
            raise wrong(3, f"conv_block({filters}{', convolutions=2' if n == 2 else ''}) gave "
                         f"{' → '.join(_kinds(got)) or 'no layers'}; a block is `convolutions` "
                         "times a convolution with its normalisation and non-linearity, then "
                         "one pooling.", answer)
        problems = []
        for conv in (layer for layer in got if isinstance(layer, keras.layers.Conv2D)):
            if conv.filters != filters:
                problems.append(f"conv_block({filters}) made a Conv2D with {conv.filters} "
                                "filters: use the `filters` argument")
            if tuple(conv.kernel_size) != (3, 3):
                problems.append(f"the window is {conv.kernel_size}; the notebook's windows "
                                "are 3 pixels square")
            if conv.padding != "same":
                problems.append("the convolution shrinks the image; choose the padding that "
                                "keeps width and height")
            if conv.use_bias:
                problems.append("the convolution has a bias, which the BatchNormalization "
                                "after it makes useless")
        for norm in (layer for layer in got if isinstance(layer, keras.layers.BatchNormalization)):
            if not close(norm.momentum, 0.9):
                problems.append(f"BatchNormalization has momentum {norm.momentum}; the notebook "
                                "explains why it is 0.9 here")
        if problems:
            raise wrong(3, "; ".join(dict.fromkeys(problems)) + ".", answer)
    if len({id(layer) for layer in one + two + list(conv_block(16))}) != len(one + two) + 4:
        raise wrong(3, "conv_block hands out the same layer objects twice; a layer can sit "
                     "in a model once, so make new layers inside the function.", answer)
    out = keras.Sequential([keras.Input((48, 48, 1)), *conv_block(16)]).output_shape
    done(3, f"a 48x48 grey image comes out of conv_block(16) as {out[1]}x{out[2]}x{out[3]}.")


def check_output_layer(layer) -> None:
    """Exercise 4: one unit with a sigmoid, for a yes/no answer read as P(sad). A wrong choice
    is shown what it does to a few faces' features."""
    answer = 'layers.Dense(1, activation="sigmoid"): one number per face, squashed into 0-1.'
    answers_seen[4] = answer
    require_answer(4, output_layer=layer)
    if not isinstance(layer, keras.layers.Dense):
        raise NotYet(4, f"expected a Dense layer, got {type(layer).__name__}.")
    features = np.random.default_rng(0).normal(size=(4, 1152)).astype("float32") * 3
    state = random.getstate()  # a trial layer draws its seed here: keep the notebook's weights
    try:
        trial = keras.layers.Dense.from_config(layer.get_config())
        out = np.asarray(trial(features))
    finally:
        random.setstate(state)
    shown = "[" + ", ".join(" ".join(f"{v:.2f}" for v in row) for row in out) + "]"
    if out.shape[1] != 1:
        raise wrong(4, f"for 4 faces your layer gives {out.shape[1]} numbers each: {shown}. "
                     "Notebook 05's labels are one number per face (0 happy, 1 sad), so the "
                     "model must answer with one.", answer)
    if out.min() < 0 or out.max() > 1:
        raise wrong(4, f"for 4 faces your layer gives {shown}: numbers outside 0-1 cannot "
                     "be P(sad). Which activation squashes any number into 0-1?", answer)
    activation = getattr(layer.activation, "__name__", str(layer.activation))
    if activation != "sigmoid":
        raise wrong(4, f"'{activation}' happens to stay in 0-1 on these faces but is not a "
                     "probability of one class.", answer)
    done(4, f"one unit with a sigmoid: for 4 faces {shown}, each a P(sad) between 0 and 1.")


def check_parameter_count(conv_weights: int, head_weights: int, model: keras.Model,
                          head_share: str | None = None) -> None:
    """Exercise 5: weights of the first Conv2D and of the final Dense layer, counted by hand,
    after a guess (`head_share`) of the output layer's share of all the model's parameters."""
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    right_conv, right_head = conv.count_params(), dense.count_params()
    c_in, flat = conv.input.shape[-1], dense.input.shape[-1]
    answer = (f"3 * 3 * {c_in} * {conv.filters} = {right_conv:,} and {flat:,} + 1 = "
              f"{right_head:,}.")
    answers_seen[5] = answer
    require_answer(5, head_share=head_share, conv_weights=conv_weights, head_weights=head_weights)
    if head_share not in (None, "under 1%", "about 10%", "over half"):
        raise NotYet(5, f'head_share: "under 1%", "about 10%" or "over half"; got {head_share!r}.')
    for name, value in (("conv_weights", conv_weights), ("head_weights", head_weights)):
        if not isinstance(value, (int, np.integer)):
            raise NotYet(5, f"{name} should be a whole number (write the arithmetic, e.g. "
                         f"3 * 3 * ...), got {value!r}.")
    if conv_weights != right_conv:
        hint_ = (" That counts a bias per filter, but this layer has use_bias=False."
                 if conv_weights == right_conv + conv.filters else
                 " Window height x width x input channels x filters.")
        raise wrong(5, f"you counted {conv_weights:,} weights for the first Conv2D; that is "
                     f"not what it holds.{hint_}", answer)
    if head_weights != right_head:
        hint_ = (" Add the bias: one more number." if head_weights == right_head - 1 else
                 " One weight per number coming out of Flatten, plus a bias.")
        raise wrong(5, f"you counted {head_weights:,} weights for the Dense layer; that is "
                     f"not what it holds.{hint_}", answer)
    guess = f"You guessed {head_share}: it" if head_share else "The output layer"
    done(5, f"{right_conv:,} and {right_head:,}, as the table below says. {guess} holds "
          f"{right_head / model.count_params():.1%} of all {model.count_params():,} parameters.")


def _loss_effect(name: str) -> str | None:
    """What a loss does with one sad face (label 1) the model gives p = 0.01 or 0.9."""
    costs = {"meansquarederror": lambda p: (1 - p) ** 2, "mse": lambda p: (1 - p) ** 2,
             "meanabsoluteerror": lambda p: 1 - p, "mae": lambda p: 1 - p,
             "hinge": lambda p: max(0.0, 1 - (2 * 1 - 1) * p)}
    cost = costs.get(name)
    if cost is None:
        return None
    return (f"a sad face the model is sure is happy (p = 0.01) costs {cost(0.01):.2f}, barely "
            f"more than an unsure right answer at p = 0.5 ({cost(0.5):.2f}): confident "
            "mistakes hardly get corrected. Find the loss that grows without limit as the "
            "probability of the right answer goes to 0.")


def check_loss(loss) -> None:
    """Exercise 6: binary cross-entropy for one sigmoid output; a wrong loss is shown what it
    does with a confident mistake."""
    answer = ('"binary_crossentropy": -log(p) for a sad face, -log(1 - p) for a happy one; '
              "a sure mistake costs 4.6 at p = 0.01 and more without limit.")
    answers_seen[6] = answer
    require_answer(6, loss=loss)
    name = loss if isinstance(loss, str) else type(loss).__name__
    normal = name.replace("_", "").lower()
    if normal in ("binarycrossentropy", "bce"):
        if getattr(loss, "from_logits", False):
            raise NotYet(6, "from_logits=True is for models without a sigmoid; ours ends in "
                         "one, so leave from_logits off.")
        costs = ", ".join(f"p = {p}: {-math.log(p):.2f}" for p in (0.9, 0.5, 0.01))
        done(6, f"binary cross-entropy. A sad face costs -log(p): {costs}.")
        return
    if "categorical" in normal:
        raise wrong(6, f"{name} is for several classes with one output unit each; our model "
                     "has one sigmoid output.", answer)
    effect = _loss_effect(normal)
    if effect:
        raise wrong(6, f"with {name}, {effect}", answer)
    raise wrong(6, f"{loss!r} is not one of Keras' losses for a yes/no probability.", answer)


_MONITORS = {"loss": "min", "val_loss": "min", "accuracy": "max", "val_accuracy": "max"}


def check_early_stopping_monitor(monitor, diagnosis: pd.DataFrame | None, patience: int,
                                 start: int) -> None:
    """Exercise 7: early stopping watches the validation loss (or, at a cost, its accuracy).
    A choice is replayed on the unregularised model's curves (`diagnosis`) to show what it does."""
    answer = ('"val_loss": the loss on faces the model does not train on rises as soon as it '
              "memorises, and unlike accuracy it sees a model growing sure of wrong answers.")
    answers_seen[7] = answer
    require_answer(7, monitor=monitor)
    if monitor not in _MONITORS:
        raise NotYet(7, f"monitor is one of the curves Keras logs: {', '.join(_MONITORS)}; got "
                     f"{monitor!r}.")
    evidence = cost = ""
    if diagnosis is not None and len(diagnosis) and monitor in diagnosis:
        values = diagnosis[monitor].to_numpy()
        best = int(np.argmin(values) if _MONITORS[monitor] == "min" else np.argmax(values))
        evidence = (f" On the unregularised model above, '{monitor}' was best after epoch "
                    f"{best + 1} of {len(values)}" + (", the last: it would keep the most "
                    "memorised weights." if best + 1 == len(values) else "."))
        cost = (f" Its weights had val_loss {diagnosis['val_loss'].iloc[best]:.3f} there, "
                f"against the lowest, {diagnosis['val_loss'].min():.3f}.")
    if monitor == "val_loss":
        return done(7, "it watches the loss on faces the model does not train on." + evidence)
    if monitor == "val_accuracy":
        return done(7, "defensible: it watches faces the model does not train on too, at a "
                     "cost: it moves in steps of one face and does not see a model grow sure "
                     "of its wrong answers, which val_loss does." + evidence + cost)
    rises = "the training loss keeps falling" if monitor == "loss" else "training accuracy climbs"
    raise wrong(7, f"'{monitor}': {rises} while a model memorises, so it never says stop."
                 f"{evidence}", answer)

