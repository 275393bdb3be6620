"""Self-checks for the course's exercises: each says in plain words what is wrong, or ✓.

Every exercise in the notebooks is followed by one call to a checker here. A checker prints
"✓ ..." when the answer is right. When it is not done yet (still `...`) or wrong, it raises
`NotYet` with a message in the learner's words ("expected 16 filters, got 32"), which Jupyter
shows as that message alone, without a traceback, and which stops "Run All" right there.
"""

from __future__ import annotations

import keras
import numpy as np

#: What the exercises are about, by number (the notebooks' "Exercise N" headings use these).
EXERCISES = {
    1: "the score of always guessing",
    2: "one more augmentation",
    3: "one convolution block",
    4: "the output layer",
    5: "parameters by hand",
    6: "the loss",
    7: "early stopping",
    8: "a threshold for high recall",
    9: "precision and recall from the confusion matrix",
    10: "one prediction by hand",
    11: "which layer Grad-CAM explains",
}


class NotYet(Exception):
    """An exercise is not done, or not right yet. Jupyter shows only the message."""

    def __init__(self, exercise: int, message: str):
        self.exercise = exercise
        super().__init__(f"Exercise {exercise} ({EXERCISES[exercise]}): {message}")

    def _render_traceback_(self) -> list[str]:  # IPython's hook: show the message, no traceback
        return [f"✗ {self}"]


def _done(exercise: int, message: str) -> None:
    print(f"✓ Exercise {exercise} ({EXERCISES[exercise]}): {message}")


def _require_answer(exercise: int, **answers) -> None:
    """Stop with 'not done yet' while any answer is still the `...` placeholder."""
    missing = [name for name, value in answers.items() if value is Ellipsis]
    if missing:
        raise NotYet(exercise, f"not done yet. Replace the `...` of {', '.join(missing)} in the "
                     "cell above with your answer, run that cell, then this one.")


def _close(a: float, b: float, tolerance: float = 1e-6) -> bool:
    return abs(float(a) - float(b)) <= tolerance


def check_baseline(baseline: float, manifest) -> None:
    """Exercise 1: the accuracy of always answering the larger class, on the test split."""
    _require_answer(1, baseline=baseline)
    test_counts = manifest.loc[manifest["split"] == "test", "class"].value_counts()
    right = test_counts.max() / test_counts.sum()
    if not isinstance(baseline, (int, float, np.number)):
        raise NotYet(1, f"expected one number (a share between 0 and 1), got {baseline!r}.")
    if baseline > 1:
        raise NotYet(1, f"{baseline} is a count, not a share: divide by the number of test "
                     "images.")
    if _close(baseline, test_counts.min() / test_counts.sum()) and not _close(baseline, right):
        raise NotYet(1, "that is the share of the *smaller* class; always guessing the larger "
                     "class is right more often.")
    if not _close(baseline, right, 1e-4):
        raise NotYet(1, f"expected {right:.3f}, got {baseline:.3f}. Count the classes in the "
                     "test split only (manifest rows with split == 'test').")
    _done(1, f"{right:.3f}. A model has to beat this to be worth anything.")


def check_extra_augmentation(layer, images) -> None:
    """Exercise 2: one more Keras augmentation layer that keeps images valid and labels true."""
    _require_answer(2, layer=layer)
    if not isinstance(layer, keras.layers.Layer):
        raise NotYet(2, f"expected a Keras layer such as keras.layers.RandomBrightness(...), got "
                     f"{type(layer).__name__}.")
    if isinstance(layer, keras.layers.RandomFlip) and "vertical" in layer.mode:
        raise NotYet(2, "an upside-down face never reaches the model at prediction time, so "
                     "learning to read one wastes its capacity. Try a change real photos have.")
    images = np.asarray(images, dtype="float32")
    changed = np.asarray(layer(images, training=True))
    if changed.shape != images.shape:
        raise NotYet(2, f"the layer changed the images' shape from {images.shape} to "
                     f"{changed.shape}: the model expects {images.shape[1:]}.")
    if changed.min() < -1e-3 or changed.max() > 1 + 1e-3:
        raise NotYet(2, f"pixel values now run from {changed.min():.2f} to {changed.max():.2f}, "
                     "but the model only ever sees 0 to 1. Layers that change brightness need "
                     "value_range=(0, 1).")
    if np.allclose(changed, images):
        raise NotYet(2, "the images came back unchanged: make the factor larger than 0.")
    if not np.allclose(np.asarray(layer(images, training=False)), images):
        raise NotYet(2, "the layer changes images in inference mode too; augmentation must "
                     "leave validation, test and new images alone.")
    _done(2, f"{type(layer).__name__} changes training images only and keeps them valid.")


def check_conv_block(block) -> None:
    """Exercise 3: Conv2D(16, 3x3, same padding, no bias) → BatchNorm(0.9) → ReLU → MaxPooling."""
    _require_answer(3, block=block)
    if isinstance(block, keras.Sequential):
        layers = list(block.layers)
    elif isinstance(block, keras.layers.Layer):
        layers = [block]  # one layer where a list of four was asked for
    else:
        layers = list(block)
    kinds = [type(layer).__name__ for layer in layers]
    expected = ["Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D"]
    if kinds != expected:
        raise NotYet(3, f"expected the layers {' → '.join(expected)}, got "
                     f"{' → '.join(kinds) or 'no layers'}.")
    conv, norm = layers[0], layers[1]
    problems = []
    if conv.filters != 16:
        problems.append(f"expected 16 filters, got {conv.filters}")
    if tuple(conv.kernel_size) != (3, 3):
        problems.append(f"expected a 3x3 window, got {conv.kernel_size}")
    if conv.padding != "same":
        problems.append('use padding="same" so the block keeps the width and height')
    if conv.use_bias:
        problems.append("use_bias=False: the BatchNormalization after it adds its own shift")
    if not _close(norm.momentum, 0.9):
        problems.append(f"BatchNormalization(momentum=0.9), got momentum {norm.momentum}")
    if problems:
        raise NotYet(3, "; ".join(problems) + ".")
    out = keras.Sequential([keras.Input((48, 48, 1)), *layers]).output_shape
    _done(3, f"a 48x48 grey image comes out as {out[1]}x{out[2]}x{out[3]}.")


def check_output_layer(layer) -> None:
    """Exercise 4: one unit with a sigmoid, for a yes/no answer read as P(sad)."""
    _require_answer(4, output_layer=layer)
    if not isinstance(layer, keras.layers.Dense):
        raise NotYet(4, f"expected a Dense layer, got {type(layer).__name__}.")
    activation = getattr(layer.activation, "__name__", str(layer.activation))
    if layer.units == 2 and activation == "softmax":
        raise NotYet(4, "two units with a softmax can work, but then the labels and the loss "
                     "change too. For a yes/no answer one unit is enough: Dense(1, "
                     "activation=\"sigmoid\") gives P(sad) directly.")
    if layer.units != 1:
        raise NotYet(4, f"the output layer needs one unit for a yes/no answer, got "
                     f"{layer.units}.")
    if activation != "sigmoid":
        raise NotYet(4, f"the output must be a probability between 0 and 1, but "
                     f"'{activation}' can give any number: use activation=\"sigmoid\".")
    _done(4, "one unit with a sigmoid: a probability, P(sad).")


def check_parameter_count(conv_weights: int, head_weights: int, model: keras.Model) -> None:
    """Exercise 5: weights of the first Conv2D and of the final Dense layer, counted by hand."""
    _require_answer(5, conv_weights=conv_weights, head_weights=head_weights)
    for name, value in (("conv_weights", conv_weights), ("head_weights", head_weights)):
        if not isinstance(value, (int, np.integer)):
            raise NotYet(5, f"{name} should be a whole number (write the arithmetic, e.g. "
                         f"3 * 3 * ...), got {value!r}.")
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][-1]
    right_conv, right_head = conv.count_params(), dense.count_params()
    if conv_weights != right_conv:
        c_in = conv.input.shape[-1]
        hint = (" That counts a bias per filter, but this layer has use_bias=False."
                if conv_weights == right_conv + conv.filters else
                f" Window height x width x input channels ({c_in}) x filters ({conv.filters}).")
        raise NotYet(5, f"the first Conv2D has {right_conv:,} weights, you counted "
                     f"{conv_weights:,}.{hint}")
    if head_weights != right_head:
        hint = (" Add the bias: one more number." if head_weights == right_head - 1 else
                " One weight per number coming out of Flatten (3 x 3 x 128), plus a bias.")
        raise NotYet(5, f"the Dense layer has {right_head:,} weights, you counted "
                     f"{head_weights:,}.{hint}")
    _done(5, f"{right_conv:,} and {right_head:,}, as model.summary() says.")


def check_loss(loss) -> None:
    """Exercise 6: binary cross-entropy for one sigmoid output."""
    _require_answer(6, loss=loss)
    name = loss if isinstance(loss, str) else type(loss).__name__
    normal = name.replace("_", "").lower()
    if normal in ("binarycrossentropy", "bce"):
        if getattr(loss, "from_logits", False):
            raise NotYet(6, "from_logits=True is for models without a sigmoid; ours ends in "
                         "one, so leave from_logits off.")
        costs = ", ".join(f"p = {p}: {-np.log(p):.2f}" for p in (0.9, 0.5, 0.1))
        _done(6, f"binary cross-entropy. A sad face costs -log(p): {costs}.")
        return
    if "categorical" in normal:
        raise NotYet(6, f"{name} is for several classes with one output unit each; our model "
                     "has one sigmoid output: use \"binary_crossentropy\".")
    if normal in ("mse", "meansquarederror", "mae", "meanabsoluteerror"):
        raise NotYet(6, f"{name} barely punishes a confident wrong probability; for a yes/no "
                     "probability use \"binary_crossentropy\".")
    raise NotYet(6, f"expected \"binary_crossentropy\", got {loss!r}.")


def check_early_stopping(callback, patience: int, start_from_epoch: int) -> None:
    """Exercise 7: EarlyStopping on the validation loss, with patience and the best weights."""
    _require_answer(7, early_stopping=callback)
    if not isinstance(callback, keras.callbacks.EarlyStopping):
        raise NotYet(7, f"expected keras.callbacks.EarlyStopping(...), got "
                     f"{type(callback).__name__}.")
    if callback.monitor != "val_loss":
        why = (" The training loss keeps falling while the model overfits, so it never says "
               "stop." if not callback.monitor.startswith("val_") else "")
        raise NotYet(7, f"watch monitor=\"val_loss\", not {callback.monitor!r}.{why}")
    if callback.patience != patience:
        raise NotYet(7, f"use patience=PATIENCE ({patience}), got {callback.patience}.")
    if callback.start_from_epoch != start_from_epoch:
        raise NotYet(7, f"judge from start_from_epoch=epochs // 2 ({start_from_epoch}) on, got "
                     f"{callback.start_from_epoch}: early on the validation loss jumps around.")
    if not callback.restore_best_weights:
        raise NotYet(7, "set restore_best_weights=True, or the model keeps the weights of the "
                     "last epoch, which were not the best.")
    _done(7, f"stops after {patience} epochs without a better validation loss and keeps the "
          "best weights.")


def check_recall_threshold(threshold: float, y_true, probabilities, target: float) -> None:
    """Exercise 8: the highest threshold (in steps of 0.01) whose recall reaches `target`."""
    _require_answer(8, threshold=threshold)
    y_true, p = np.asarray(y_true), np.asarray(probabilities)
    sad = p[y_true == 1]

    def recall(t: float) -> float:
        return float(np.mean(sad >= t - 1e-9))

    if not 0 < threshold < 1:
        raise NotYet(8, f"a threshold is a probability between 0 and 1, got {threshold}.")
    if recall(threshold) < target:
        raise NotYet(8, f"at {threshold:.2f} the model finds {recall(threshold):.1%} of the sad "
                     f"faces, short of {target:.0%}: lower the threshold.")
    best = max(t for t in np.round(np.arange(0.01, 1.0, 0.01), 2) if recall(t) >= target)
    if threshold < best - 0.01 + 1e-9:
        raise NotYet(8, f"{threshold:.2f} reaches the recall, but {best:.2f} does too, with "
                     "fewer false alarms: take the highest threshold that still reaches it.")
    false_alarms = float(np.mean(p[y_true == 0] >= threshold))
    _done(8, f"at {threshold:.2f} recall is {recall(threshold):.1%}; the price: "
          f"{false_alarms:.1%} of the happy faces are called sad.")


def check_precision_recall(precision: float, recall: float, y_true, y_pred) -> None:
    """Exercise 9: precision and recall of 'sad' from the confusion matrix's four cells."""
    _require_answer(9, precision=precision, recall=recall)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp = int(np.sum((y_true == 1) & (y_pred == 1)))
    right_precision = tp / max(1, int(np.sum(y_pred == 1)))
    right_recall = tp / max(1, int(np.sum(y_true == 1)))
    if not _close(precision, right_precision, 1e-4):
        hint = (" That is the recall: precision divides by all faces the model *called* sad "
                "(true positives + false positives)." if _close(precision, right_recall, 1e-4)
                else " Precision = TP / (TP + FP).")
        raise NotYet(9, f"precision should be {right_precision:.3f}, got {precision:.3f}.{hint}")
    if not _close(recall, right_recall, 1e-4):
        raise NotYet(9, f"recall should be {right_recall:.3f}, got {recall:.3f}. Recall = TP / "
                     "(TP + FN): of the faces that were sad, the share the model found.")
    _done(9, f"precision {right_precision:.3f}, recall {right_recall:.3f}.")


def check_prediction_by_hand(batch, label: str, classifier, image: np.ndarray) -> None:
    """Exercise 10: a batch of one image, the model's P(sad), and the label from the threshold."""
    _require_answer(10, batch=batch, label=label)
    batch = np.asarray(batch)
    expected_shape = (1, *image.shape)
    if batch.shape != expected_shape:
        raise NotYet(10, f"the model takes a *batch*: expected shape {expected_shape}, got "
                     f"{batch.shape}. image[np.newaxis] adds the batch axis.")
    p_sad = float(np.ravel(classifier.predict(image[np.newaxis]))[0])
    right = classifier.class_names[int(p_sad >= classifier.threshold)]
    if label != right:
        raise NotYet(10, f"P(sad) is {p_sad:.2f} and the threshold {classifier.threshold:.2f}, "
                     f"so the label is {right!r}, not {label!r}: at or above the threshold, "
                     "the second class.")
    _done(10, f"P(sad) = {p_sad:.2f}, threshold {classifier.threshold:.2f}: {right}.")


def check_gradcam_layer(model: keras.Sequential, layer_index: int) -> None:
    """Exercise 11: the last layer that still has a grid of places, before pooling and the head."""
    _require_answer(11, layer_index=layer_index)
    from helpers.explain import last_conv_index

    right = last_conv_index(model)
    if not isinstance(layer_index, (int, np.integer)) or not 0 <= layer_index < len(model.layers):
        raise NotYet(11, f"expected a layer number from 0 to {len(model.layers) - 1}, got "
                     f"{layer_index!r}.")
    layer = model.layers[layer_index]
    if len(layer.output.shape) != 4:
        raise NotYet(11, f"{layer.name} outputs {tuple(layer.output.shape)}: no width and "
                     "height left, so there is nowhere to point. Pick a layer before Flatten.")
    if isinstance(layer, keras.layers.MaxPooling2D) and layer_index > right:
        raise NotYet(11, f"{layer.name} works, but pooling left a coarser grid; the layer "
                     "before it has the same features at twice the resolution.")
    if layer_index < right:
        raise NotYet(11, f"{layer.name} has a finer grid, but its features are simpler (edges, "
                     "not mouths). Grad-CAM uses the last block, whose features decide the "
                     "answer.")
    if layer_index != right:
        raise NotYet(11, f"expected layer {right} ({model.layers[right].name}), got "
                     f"{layer_index} ({layer.name}).")
    grid = layer.output.shape[1:3]
    _done(11, f"{layer.name}: {grid[0]}x{grid[1]} places, the deepest features with a grid.")
