"""Self-checks for the exercises after training (notebooks 06–10): the threshold, precision
and recall, a prediction by hand, Grad-CAM's layer, a frozen base and one picture's loss. The
mechanism (`NotYet`, the second try's answer, `hint`) is `helpers.checks`'."""

from __future__ import annotations

import math

import keras
import numpy as np

from helpers.checks import NotYet, answers_seen, close, done, require_answer, wrong
from helpers.workspace import is_number


def check_recall_threshold(threshold: float, y_true, probabilities, target: float) -> None:
    """Exercise 9: the highest threshold (in steps of 0.01) whose recall reaches `target`."""
    y_true, p = np.asarray(y_true), np.asarray(probabilities)
    sad = p[y_true == 1]

    def recall(t: float) -> float:
        return float(np.mean(sad >= t - 1e-9))

    reaching = [t for t in np.round(np.arange(0.01, 1.0, 0.01), 2) if recall(t) >= target]
    best = max(reaching) if reaching else 0.01
    answer = f"{best:.2f}: the highest threshold whose recall is still {target:.0%} or more."
    answers_seen[9] = answer
    require_answer(9, high_recall_threshold=threshold)
    if not is_number(threshold) or not 0 < threshold < 1:
        raise NotYet(9, f"a threshold is a probability between 0 and 1, got {threshold!r}.")
    if recall(threshold) < target:
        raise wrong(9, f"at {threshold:.2f} the model finds {recall(threshold):.1%} of the sad "
                     f"faces, short of {target:.0%}: lower the threshold.", answer)
    if threshold < best - 0.01 + 1e-9:
        raise wrong(9, f"{threshold:.2f} reaches the recall, but a higher threshold does too, "
                     "with fewer false alarms: take the highest that still reaches it.", answer)
    def false_alarms(t: float) -> float:
        return float(np.mean(p[y_true == 0] >= t - 1e-9))

    moved = ("below 0.5: lower, to find more" if recall(0.5) < target else
             "above 0.5: higher, for fewer false alarms")
    done(9, f"at 0.5 recall is {recall(0.5):.1%}, so the threshold goes {moved}. At "
          f"{threshold:.2f} recall is {recall(threshold):.1%}; {false_alarms(threshold):.1%} of "
          f"the happy faces are called sad (at 0.5: {false_alarms(0.5):.1%}).")


def check_precision_recall(precision: float, recall: float, y_true, y_pred) -> None:
    """Exercise 10: precision and recall of 'sad' from the confusion matrix's four cells."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    tp, called_sad = int(np.sum((y_true == 1) & (y_pred == 1))), int(np.sum(y_pred == 1))
    right_precision = tp / called_sad if called_sad else float("nan")  # 0 / 0: no face called sad
    right_recall = tp / max(1, int(np.sum(y_true == 1)))
    answer = (f"precision = tp / (tp + fp) = {right_precision:.3f}, recall = tp / (tp + fn) = "
              f"{right_recall:.3f}.")
    answers_seen[10] = answer
    require_answer(10, precision=precision, recall=recall)
    if not called_sad and np.isnan(float(precision)) and close(recall, right_recall, 1e-4):
        done(10, f"no face was called sad, so precision is 0 / 0 (nan); recall "
                  f"{right_recall:.3f}.")
        return
    if not close(precision, right_precision, 1e-4):
        hint_ = (" That is the recall: precision divides by all faces the model *called* sad."
                 if close(precision, right_recall, 1e-4) else
                 " Precision: of the faces the model called sad, the share that were sad.")
        raise wrong(10, f"{precision:.3f} is not the precision.{hint_}", answer)
    if not close(recall, right_recall, 1e-4):
        raise wrong(10, f"{recall:.3f} is not the recall. Recall: of the faces that were sad, "
                     "the share the model found.", answer)
    done(10, f"precision {right_precision:.3f}, recall {right_recall:.3f}.")


def check_prediction_by_hand(batch, label: str, classifier, image: np.ndarray) -> None:
    """Exercise 11: a batch of one image, the model's P(sad), and the label from the threshold."""
    require_answer(11, batch=batch, label=label)
    p_sad = float(np.ravel(classifier.predict(image[np.newaxis]))[0])
    right = classifier.answer(p_sad)["label"]  # what the kit answers for p_sad
    answer = (f"batch = image[np.newaxis]; p_sad = {p_sad:.2f}, threshold "
              f"{classifier.threshold:.2f}, so label = {right!r}.")
    answers_seen[11] = answer
    batch = np.asarray(batch)
    expected_shape = (1, *image.shape)
    if batch.shape != expected_shape:
        raise wrong(11, f"the model takes a *batch*: expected shape {expected_shape}, got "
                     f"{batch.shape}: one more axis in front.", answer)
    if label != right:
        raise wrong(11, f"P(sad) is {p_sad:.2f} and the threshold {classifier.threshold:.2f}, "
                     f"so the label is not {label!r}: at or above the threshold the model says "
                     "the second class.", answer)
    done(11, f"P(sad) = {p_sad:.2f}, threshold {classifier.threshold:.2f}: {right}.")


def check_gradcam_layer(model: keras.Sequential, layer_index: int) -> None:
    """Exercise 12: the last layer that still has a grid of places, before pooling and the head."""
    from helpers.explain import last_conv_index

    right = last_conv_index(model)
    answer = f"layer {right} ({model.layers[right].name}), the last one before pooling."
    answers_seen[12] = answer
    require_answer(12, layer_index=layer_index)
    if not isinstance(layer_index, (int, np.integer)) or not 0 <= layer_index < len(model.layers):
        raise NotYet(12, f"expected a layer number from 0 to {len(model.layers) - 1}, got "
                     f"{layer_index!r}.")
    layer = model.layers[layer_index]
    if len(layer.output.shape) != 4:
        raise wrong(12, f"{layer.name} outputs {tuple(layer.output.shape)}: no width and "
                     "height left, so there is nowhere to point. Pick a layer before Flatten.",
                     answer)
    if isinstance(layer, keras.layers.MaxPooling2D) and layer_index > right:
        raise wrong(12, f"{layer.name} works, but pooling left a coarser grid; an earlier "
                     "layer has the same features at twice the resolution.", answer)
    if layer_index < right:
        raise wrong(12, f"{layer.name} has a finer grid, but its features are simpler (edges, "
                     "not mouths). Grad-CAM uses the features that decide the answer.", answer)
    if layer_index != right:
        raise wrong(12, f"layer {layer_index} ({layer.name}) is not the last layer with a "
                     "grid before pooling.", answer)
    grid = layer.output.shape[1:3]
    done(12, f"{layer.name}: {grid[0]}x{grid[1]} places, the deepest features with a grid.")


def check_frozen_base(frozen_base, start_model: keras.Model) -> None:
    """Exercise 13: a copy of the start model's layers up to Flatten, weights kept, frozen."""
    from helpers.own_face import convolutional_base, inner_network

    answer = ("frozen_base = convolutional_base(start.model), then frozen_base.trainable = "
              "False.")
    answers_seen[13] = answer
    require_answer(13, frozen_base=frozen_base)
    if not isinstance(frozen_base, keras.Model):
        raise wrong(13, f"frozen_base is a {type(frozen_base).__name__}, not a Keras model: "
                     "start from convolutional_base(start.model).", answer)
    if frozen_base is start_model or frozen_base is inner_network(start_model):
        raise wrong(13, "that is the start model itself, head and all: take its base, "
                     "convolutional_base(start.model), a copy without the head.", answer)
    reference = convolutional_base(start_model)
    if [type(layer) for layer in frozen_base.layers] != [type(layer) for layer in
                                                          reference.layers]:
        raise wrong(13, "its layers are not the start model's base (its layers up to "
                     "Flatten): use convolutional_base(start.model).", answer)
    if not all(np.array_equal(a, b) for a, b in zip(frozen_base.get_weights(),
                                                    reference.get_weights())):
        raise wrong(13, "its weights are not the start model's: a new network knows nothing "
                     "yet. convolutional_base(start.model) copies them.", answer)
    still = sum(int(np.prod(w.shape)) for w in frozen_base.trainable_weights)
    if still:
        raise wrong(13, f"{still:,} of its weights would still change in training: a layer, "
                     "or a whole model, whose weights must stay has trainable = False.", answer)
    kept = sum(int(np.prod(w.shape)) for w in frozen_base.weights)
    done(13, f"{kept:,} weights kept as the start model learned them; only the new head "
          "will learn.")


def check_picture_loss(loss, label: int, p: float) -> None:
    """Exercise 14: the binary cross-entropy of one picture, -log of the probability of its
    label (`p` is the model's P(label 1), as in `helpers.relabel.training_losses`)."""
    given = float(p if label == 1 else 1 - p)
    right = -math.log(given) if given > 0 else math.inf
    answer = (f"-np.log({'p' if label == 1 else '1 - p'}) = {right:.3f}: the model gives "
              f"its label {given:.1%}.")
    answers_seen[14] = answer
    require_answer(14, my_loss=loss)
    if not is_number(loss):
        raise NotYet(14, f"a loss is one number, got {loss!r}.")
    if given < 1 and math.isclose(float(loss), -math.log(1 - given), rel_tol=1e-3):
        raise wrong(14, "that is -log of the probability of the *other* class: the loss "
                     "uses the probability of the label.", answer)
    if not math.isclose(float(loss), right, rel_tol=1e-3, abs_tol=1e-4):
        raise wrong(14, f"{float(loss):.3f} is not -log of the probability the model gives "
                     "the label.", answer)
    done(14, f"{right:.3f}. The model gives its label {given:.1%}; at 50% the loss would be "
          f"{math.log(2):.3f} and at 1% {-math.log(0.01):.1f}: a confident mistake costs most.")
