"""Prediction: classify new pictures with a saved model, in Python or from the command line.

A picture goes through the same steps as in training: the one decoder
(`helpers.images.open_image`), the one face step (`helpers.faces.FaceStep`: find the faces
and crop each the way the training pictures were cropped, or use the picture whole if it
already is a face crop) and the same resizing and scaling (`helpers.images.to_array`). What
training did is saved next to the model (`classes.json`, `preprocessing.json`) and read back
here, so the two cannot be mixed up; so is the threshold notebook 06 chose on the validation
split. A photo with several people gets one answer per face; a photo without a face gets
"no face found", never a guess.

Command line (one JSON line per picture; a bad picture gives an error line, not a crash):

    python -m helpers.predict work/model_served.keras photo1.jpg photo2.png
    python -m helpers.predict work/model_float32.tflite photo1.jpg
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.faces import FaceStep
from helpers.images import ImageError, open_image, to_array

CLASSES_FILE = "classes.json"
PREPROCESSING_FILE = "preprocessing.json"
NO_FACE = "no face found"
_RETRAIN = "Run notebooks 02_clean_data to 05_train again, or copy it from the folder where the " \
           "model was trained."


def save_class_names(class_names: Sequence[str], model_path: str | Path) -> Path:
    """Write the class names next to the model (the model file itself stores only numbers)."""
    path = Path(model_path).with_name(CLASSES_FILE)
    path.write_text(json.dumps(list(class_names)) + "\n")
    return path


def save_preprocessing(model_path: str | Path, image_size: int, channels: int,
                       face_step: FaceStep) -> Path:
    """Write what the model was trained on (input size, channels, the face step) next to it."""
    path = Path(model_path).with_name(PREPROCESSING_FILE)
    record = {"image_size": image_size, "channels": channels, "face_step": face_step.to_dict()}
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def save_threshold(model_path: str | Path, threshold: float) -> Path:
    """Add the decision threshold (chosen on validation data) to the model's preprocessing.json,
    so that every prediction path calls a picture the second class at the same probability."""
    if not 0 < threshold < 1:
        raise ValueError(f"A threshold is a probability strictly between 0 and 1, not {threshold}")
    path = Path(model_path).with_name(PREPROCESSING_FILE)
    record = _read_sidecar(path, "how pictures were prepared for training (size, face cropping)")
    path.write_text(json.dumps(record | {"threshold": float(threshold)}, indent=2) + "\n")
    return path


@dataclass
class Classifier:
    """A trained model with what it needs to see a picture as training did.

    `predict(images)` gives the probability of `class_names[1]` for a batch of preprocessed
    images; a picture is called `class_names[1]` when it reaches `threshold`. `model` is the
    Keras model (None for a `.tflite` file).
    """

    path: Path
    class_names: list[str]
    image_size: int
    channels: int
    face_step: FaceStep
    predict: Callable[[np.ndarray], np.ndarray]
    threshold: float = 0.5
    model: Any = None


def _read_sidecar(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"No {path.name} next to the model in {path.parent}; it says "
                                f"{what}. {_RETRAIN}")
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ValueError(f"{path} is damaged ({err}). {_RETRAIN}") from err


def load_classifier(model_path: str | Path) -> Classifier:
    """Load a `.keras` or `.tflite` model with its class names and preprocessing.

    FileNotFoundError: no model, or a sidecar file missing; ValueError: a file that is not a
    model, or a sidecar that does not match the model.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No model at {model_path}. Train one first (notebook 05_train) or check the path."
        )
    model = None
    try:
        if model_path.suffix == ".tflite":
            from helpers.export import TFLiteClassifier

            tflite = TFLiteClassifier(model_path)
            predict, input_shape = tflite.predict, tflite.input_shape
        else:
            import keras

            model = keras.models.load_model(model_path)
            input_shape = tuple(model.input_shape[1:])

            def predict(images: np.ndarray) -> np.ndarray:
                return np.asarray(model(images, training=False)).reshape(-1)
    except (ValueError, OSError, RuntimeError) as err:
        raise ValueError(
            f"{model_path} is not a model the kit can read ({err}). Give the model.keras file "
            "that notebook 05_train saved (or a .tflite file from notebook 07)."
        ) from err
    class_names = _read_sidecar(model_path.with_name(CLASSES_FILE), "which class is which")
    prep = _read_sidecar(model_path.with_name(PREPROCESSING_FILE),
                         "how pictures were prepared for training (size, face cropping)")
    try:
        size, channels = int(prep["image_size"]), int(prep["channels"])
        face_step = FaceStep.from_dict(prep["face_step"])
        threshold = float(prep.get("threshold", 0.5))  # older models: the usual 0.5
        if not 0 < threshold < 1:
            raise ValueError(f"threshold {threshold} is not between 0 and 1")
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{model_path.with_name(PREPROCESSING_FILE)} is damaged ({err}). "
                         f"{_RETRAIN}") from err
    if input_shape != (size, size, channels):
        raise ValueError(
            f"{PREPROCESSING_FILE} says the model was trained on {size}x{size}x{channels} "
            f"pictures, but {model_path.name} takes {'x'.join(map(str, input_shape))}: they come "
            f"from different runs. {_RETRAIN}")
    if not (isinstance(class_names, list) and len(class_names) == 2):
        raise ValueError(f"{CLASSES_FILE} should name two classes, e.g. [\"happy\", \"sad\"]; "
                         f"it holds {class_names!r}. {_RETRAIN}")
    return Classifier(model_path, class_names, size, channels, face_step, predict, threshold,
                      model)


def classify_images(classifier: Classifier, paths: Sequence[str | Path]) -> list[dict]:
    """One result per path: `{"path", "label", "confidence", "probabilities", "faces"}` or
    `{"path", "error"}`.

    `probabilities` maps each class to the model's probability for it; `label` is the second
    class when its probability reaches the classifier's threshold, and `confidence` is the
    probability of that label (below 0.5 only if the threshold was moved below 0.5). `faces`
    lists every face the model was shown (`box`: x, y, width, height in the picture's pixels,
    and the same three answers), largest first; the answers at the top are the largest face's.
    Models trained on whole pictures (no face step) give no `faces`.
    """
    results: list[dict] = []
    arrays: list[np.ndarray] = []
    owners: list[tuple[int, list[int] | None]] = []  # (result index, box) per array
    for path in map(Path, paths):
        result: dict = {"path": str(path)}
        results.append(result)
        if path.is_dir():
            result["error"] = "is a folder, not an image file"
            continue
        if not path.exists():
            result["error"] = "file not found"
            continue
        try:
            img = open_image(path)
        except ImageError as err:
            result["error"] = str(err)
            continue
        pictures = classifier.face_step.pictures(img)
        if not pictures:
            result.update(error=f"{NO_FACE}: the model only judges faces", faces=[])
            continue
        for box, picture in pictures:
            arrays.append(to_array(picture, classifier.image_size, classifier.channels))
            owners.append((len(results) - 1, None if box is None else list(box)))
    if arrays:
        p_second = classifier.predict(np.stack(arrays))
        first, second = classifier.class_names
        for (i, box), p in zip(owners, map(float, p_second)):
            label = int(p >= classifier.threshold)
            answer = {"label": classifier.class_names[label],
                      "confidence": round(p if label else 1 - p, 4),
                      "probabilities": {first: round(1 - p, 4), second: round(p, 4)}}
            if "label" not in results[i]:  # the largest face answers for the picture
                results[i].update(answer)
            if box is not None:
                results[i].setdefault("faces", []).append({"box": box, **answer})
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per picture; exit 2 if the model cannot be loaded, 1 if a picture
    failed or showed no face."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict", description="Classify pictures with a trained model."
    )
    parser.add_argument("model", help="model.keras or a .tflite file (classes.json and "
                                      "preprocessing.json must sit beside it)")
    parser.add_argument("images", nargs="+", help="image files to classify")
    args = parser.parse_args(argv)
    try:
        classifier = load_classifier(args.model)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(json.dumps({"error": str(err)}))
        return 2
    results = classify_images(classifier, args.images)
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
