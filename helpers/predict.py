"""Prediction: classify new pictures with a saved model, in Python or from the command line.

A picture goes through the same steps as in training: the one decoder
(`helpers.images.open_image`), the one face step (`helpers.faces.FaceStep`: find the faces
and crop each the way the training pictures were cropped, or use the picture whole if it
already is a face crop) and the same resizing (`helpers.images.to_array`); the model makes the
pixels grey and scales them itself. What training did is in the model's card (`helpers.bundle`:
every model is a folder with its `card.json`) and read back here, so the two cannot be mixed up;
so is the threshold notebook 06 chose on the validation split. A photo with several people gets
one answer per face; a photo without a face gets "no face found", never a guess.

The model must give one probability per picture (output shape (None, 1), a sigmoid unit);
any other model, and any damaged model or card, is refused when it is loaded.
Pictures are read and answered `PREDICT_BATCH` at a time (`iter_classify`), so memory stays
flat however many there are, and a picture that fails gets its own error line.

Command line (one JSON line per picture, printed as soon as its batch is done; a bad picture
gives an error line, not a crash; paths may start with `-`):

    python -m helpers.predict work/models/served photo1.jpg photo2.png
    python -m helpers.predict work/models/float32 photo1.jpg

A `.tflite` model runs with LiteRT alone (`helpers.litert`): neither TensorFlow nor Keras is
imported, so the command starts in about a second (benchmarks/README.md, "Prediction start-up").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from helpers.bundle import CARD_FILE, load_card
from helpers.faces import FaceStep
from helpers.images import ImageError, open_image, readable, to_array

NO_FACE = "no face found"
#: Pictures read and given to the model at once: the model's working memory grows with it
#: (4,000 pictures at once took 5.9 GB), and each batch's lines print as soon as it is done.
PREDICT_BATCH = 64
#: What a model must give: one probability per picture.
OUTPUT_SHAPE = (None, 1)


@dataclass
class Classifier:
    """A trained model with what it needs to see a picture as training did.

    `predict(images)` gives the probability of `class_names[1]` for a batch of preprocessed
    images, shape (n,); a picture is called `class_names[1]` when it reaches `threshold`.
    `model` is the Keras model (None for a `.tflite` file); `card` the bundle's whole card.
    """

    path: Path
    class_names: list[str]
    image_size: int
    channels: int
    face_step: FaceStep
    predict: Callable[[np.ndarray], np.ndarray]
    threshold: float = 0.5
    model: Any = None
    card: dict = field(default_factory=dict)

    def answer(self, p_second: float) -> dict:
        """The label that probability `p_second` (of `class_names[1]`) gets at `threshold`,
        the model's confidence in it, and both classes' probabilities."""
        label = int(p_second >= self.threshold)
        first, second = self.class_names
        return {"label": self.class_names[label],
                "confidence": round(p_second if label else 1 - p_second, 4),
                "probabilities": {first: round(1 - p_second, 4), second: round(p_second, 4)}}


def _load_model(model_path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], tuple, Any]:
    """(predict, input shape of one picture, the Keras model or None) for a model file."""
    if model_path.suffix == ".tflite":  # LiteRT only: neither TensorFlow nor Keras is imported
        from helpers.litert import TFLiteClassifier

        tflite = TFLiteClassifier(model_path)
        return tflite.predict, tflite.input_shape, None
    import keras

    model = keras.models.load_model(model_path)  # safe mode: Lambda layers are refused
    output_shape = model.output_shape
    if output_shape != OUTPUT_SHAPE:
        raise ValueError(
            f"it gives output shape {output_shape}, not one probability per picture: the kit "
            f"needs output shape {OUTPUT_SHAPE}, a last layer Dense(1, activation=\"sigmoid\") "
            "as notebook 04 builds")

    def predict(images: np.ndarray) -> np.ndarray:
        return np.asarray(model(images, training=False)).reshape(-1)

    return predict, tuple(model.input_shape[1:]), model


def load_classifier(path: str | Path) -> Classifier:
    """Load a model bundle (`helpers.bundle`: the folder, or the model file inside it) with
    its card: class names, picture size and colours, face step and threshold.

    FileNotFoundError: no model, no card (or a model saved by an older kit); ValueError: a
    file that is not a model, a model that does not give one probability per picture
    (output shape (None, 1)), or a card that is damaged or does not match the model.
    """
    model_path, card = load_card(path)
    try:
        predict, input_shape, model = _load_model(model_path)
    except ImportError:  # a missing package is not a damaged file: its own message
        raise
    except Exception as err:  # a damaged or crafted file can fail anywhere inside Keras
        raise ValueError(
            f"{model_path} is not a model the kit can read ({err}). Give the folder that "
            "notebook 06_evaluate saved (work/models/served) or one notebook 07 exported."
        ) from err
    size, channels = card["image_size"], card["channels"]
    if input_shape != (size, size, 3):  # the kit's models take raw RGB pixels, whatever channels
        raise ValueError(
            f"{CARD_FILE} says the model takes {size}x{size}x3 pictures (raw RGB pixels), but "
            f"{model_path.name} takes {'x'.join(map(str, input_shape))}: they come from "
            "different runs, or the model from an older kit. Copy the whole model folder, or "
            "run notebooks 05 to 07 again.")
    if model is not None:  # a Keras model says itself whether it makes pictures grey
        from helpers.model import model_channels

        inside = model_channels(model)
        if inside is not None and inside != channels:
            raise ValueError(
                f"{CARD_FILE} says the model works on {channels}-channel pictures, but the "
                f"convolutions of {model_path.name} see {inside}: they come from different "
                "runs. Copy the whole model folder, or run notebooks 05 to 07 again.")
    return Classifier(model_path, card["classes"], size, channels,
                      FaceStep.from_dict(card["face_step"]), predict, float(card["threshold"]),
                      model, card)


def real_photo_classifier(own: Classifier,
                          real_face_model: str | Path | None) -> tuple[Classifier, str]:
    """The model that judges real photos and one line saying which: `own` if it learned real
    faces (a face step), else the bundle in the folder `real_face_model` (the classroom's,
    `python -m helpers.course classroom --faces`) if it holds one, else `own`, drawn faces."""
    if own.face_step.mode != "none":
        return own, f"Real photos are judged by your own model ({own.path}): it learned faces."
    folder = None if real_face_model is None else Path(real_face_model).expanduser()
    if folder is not None and folder.is_dir() and any(folder.iterdir()):
        try:
            real = load_classifier(folder)
        except (FileNotFoundError, ValueError) as err:
            return own, (f"Real photos are judged by your drawn-face model: the real-face model "
                         f"in {folder} cannot be used ({err})")
        data = real.card.get("data", {}).get("folder", "real faces")
        accuracy = real.card.get("test", {}).get("accuracy")
        shown = f", test accuracy {accuracy:.2f}" if isinstance(accuracy, float) else ""
        return real, (f"Real photos are judged by the real-face model in {folder} (trained on "
                      f"{data}{shown}); new drawn faces and the export use yours.")
    return own, ("Real photos are judged by your drawn-face model. For a real-face one, the "
                 "instructor builds the classroom folder with --faces (see INSTRUCTOR.md), or "
                 "run the course on real faces (SOURCE_DIR).")


def classify_images(classifier: Classifier, paths: Iterable[str | Path]) -> list[dict]:
    """One result per path: `{"path", "label", "confidence", "probabilities", "faces"}` or
    `{"path", "error"}` (all of `iter_classify`, as a list).

    `probabilities` maps each class to the model's probability for it; `label` is the second
    class when its probability reaches the classifier's threshold, and `confidence` is the
    probability of that label (below 0.5 only if the threshold was moved below 0.5). `faces`
    lists every face the model was shown (`box`: x, y, width, height in the picture's pixels,
    and the same three answers), largest first; the answers at the top are the largest face's.
    Models trained on whole pictures (no face step) give no `faces`.
    """
    return list(iter_classify(classifier, paths))


def iter_classify(classifier: Classifier, paths: Iterable[str | Path]) -> Iterator[dict]:
    """The results of `classify_images`, in order, as each batch of `PREDICT_BATCH` pictures
    is done: only one batch is ever in memory."""
    paths = iter(paths)
    while batch := list(islice(paths, PREDICT_BATCH)):
        yield from _classify_batch(classifier, [Path(p) for p in batch])


def _failure(path: Path, err: BaseException) -> str:
    """The error line's text for a picture that failed other than as a bad image file."""
    detail = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
    return f"{readable(path.name)}: could not be classified ({detail})"


def _classify_batch(classifier: Classifier, paths: list[Path]) -> list[dict]:
    results = [{"path": str(path)} for path in paths]
    arrays: list[np.ndarray] = []
    owners: list[tuple[int, list[int] | None]] = []  # (result index, box) per array
    for i, path in enumerate(paths):
        try:
            pictures = classifier.face_step.pictures(open_image(path))
            prepared = [(box, to_array(picture, classifier.image_size))
                        for box, picture in pictures]
        except ImageError as err:
            results[i]["error"] = str(err)
            continue
        except Exception as err:  # one picture's failure is its own line, never the others'
            results[i]["error"] = _failure(path, err)
            continue
        if not prepared:
            results[i].update(error=f"{NO_FACE}: the model only judges faces", faces=[])
        for box, array in prepared:
            arrays.append(array)
            owners.append((i, None if box is None else list(box)))
    if not arrays:
        return results
    try:
        p_second = np.asarray(classifier.predict(np.stack(arrays)), dtype=np.float64)
        if p_second.shape != (len(arrays),):
            raise ValueError(f"{p_second.shape} answers for {len(arrays)} pictures")
    except Exception as err:  # the model failed on this batch: the next ones still run
        for i in dict.fromkeys(i for i, _ in owners):
            results[i]["error"] = _failure(paths[i], err)
        return results
    for (i, _), p in zip(owners, p_second):
        if not 0 <= p <= 1:  # NaN too
            results[i]["error"] = (
                f"{readable(paths[i].name)}: the model gave {p}, not a probability between 0 "
                "and 1 (its last layer should be Dense(1, activation=\"sigmoid\"))")
    for (i, box), p in zip(owners, map(float, p_second)):
        if "error" in results[i]:
            continue
        answer = classifier.answer(p)
        if "label" not in results[i]:  # the largest face answers for the picture
            results[i].update(answer)
        if box is not None:
            results[i].setdefault("faces", []).append({"box": box, **answer})
    return results


def json_line(record: dict) -> str:
    """`record` as one line of JSON, with the names in it readable (see `readable`)."""
    return json.dumps({key: readable(value) if isinstance(value, str) else value
                       for key, value in record.items()}, ensure_ascii=False)


def _print_line(record: dict) -> None:
    """Print `record` as a JSON line, at once, on any stdout: where its encoding cannot write
    a character, the line is written with JSON's ASCII escapes instead."""
    line = json_line(record)
    try:
        line.encode(sys.stdout.encoding or "utf-8")
    except (UnicodeEncodeError, LookupError):
        line = json.dumps(json.loads(line))
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per picture; exit 2 if the model cannot be loaded, 1 if a picture
    failed or showed no face."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict", description="Classify pictures with a trained model.",
        epilog="Everything after the model is an image path, even one starting with '-'; put "
               "-- before a model path that starts with '-'.")
    parser.add_argument("model", help="a model folder (work/models/served) or the model file "
                                      f"in it ({CARD_FILE} must sit beside it)")
    parser.add_argument("images", nargs=argparse.REMAINDER, help="image files to classify")
    args = parser.parse_args(argv)
    if not args.images:
        parser.error("give one or more image files after the model")
    try:
        classifier = load_classifier(args.model)
    except (FileNotFoundError, ValueError, OSError, ImportError) as err:
        _print_line({"error": str(err)})
        return 2
    failed = False
    try:
        for result in iter_classify(classifier, args.images):
            _print_line(result)
            failed |= "error" in result
    except BrokenPipeError:  # the reader stopped early (| head): fine, stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own advice
        return 1 if failed else 0
    except OSError as err:  # e.g. > /dev/full
        print(f"Cannot write the answers: {err.strerror or err}", file=sys.stderr)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
