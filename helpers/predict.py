"""Prediction: classify new images with a saved model, in Python or from the command line.

Images go through `helpers.images.load_image`, the same decoder and preprocessing used
in training, so a photo is seen the same way (RGB order, size, scale) in both.

Command line (one JSON line per image; a bad image gives an error line, not a crash):

    python -m helpers.predict work/model.keras photo1.jpg photo2.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from helpers.images import ImageError, load_image

CLASSES_FILE = "classes.json"


def save_class_names(class_names: Sequence[str], model_path: str | Path) -> Path:
    """Write the class names next to the model (the model file itself stores only numbers)."""
    path = Path(model_path).with_name(CLASSES_FILE)
    path.write_text(json.dumps(list(class_names)) + "\n")
    return path


def load_classifier(model_path: str | Path):
    """Load a `.keras` model and its class names; raise a clear error if either is missing.

    FileNotFoundError: no model or no classes.json; ValueError: a file that is not a model.
    """
    import keras

    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(
            f"No model at {model_path}. Train one first (notebook 05_train) or check the path."
        )
    try:
        model = keras.models.load_model(model_path)
    except (ValueError, OSError) as err:
        raise ValueError(
            f"{model_path} is not a model the kit can read ({err}). Give the model.keras file "
            "that notebook 05_train saved, or run 05_train again."
        ) from err
    classes_path = model_path.with_name(CLASSES_FILE)
    if not classes_path.is_file():
        raise FileNotFoundError(
            f"No {CLASSES_FILE} next to {model_path}; it names the classes. Run notebook "
            "05_train again, or copy it from the folder where the model was trained."
        )
    try:
        class_names = json.loads(classes_path.read_text())
    except ValueError as err:
        raise ValueError(
            f"{classes_path} is damaged ({err}); it should be a list such as [\"happy\", "
            "\"sad\"]. Run notebook 05_train again."
        ) from err
    return model, class_names


def classify_images(model, paths: Sequence[str | Path], class_names: Sequence[str]) -> list[dict]:
    """One result per path: `{"path", "label", "probability"}` or `{"path", "error"}`.

    `probability` is the model's confidence in the label it gives (0.5 to 1).
    """
    _, size, _, channels = model.input_shape
    results: list[dict] = []
    arrays, ok = [], []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            results.append({"path": str(path), "error": "is a folder, not an image file"})
            continue
        if not path.exists():
            results.append({"path": str(path), "error": "file not found"})
            continue
        try:
            arrays.append(load_image(path, size, channels))
            ok.append(len(results))
            results.append({"path": str(path)})
        except ImageError as err:
            results.append({"path": str(path), "error": str(err)})
    if arrays:
        p_positive = np.asarray(model(np.stack(arrays), training=False)).ravel()
        for i, p in zip(ok, p_positive):
            label = int(p >= 0.5)
            results[i]["label"] = class_names[label]
            results[i]["probability"] = round(float(p if label else 1 - p), 4)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """Print one JSON line per image; exit 2 if the model cannot be loaded, 1 if an image failed."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.predict", description="Classify images with a trained model."
    )
    parser.add_argument("model", help="path to model.keras (classes.json must sit beside it)")
    parser.add_argument("images", nargs="+", help="image files to classify")
    args = parser.parse_args(argv)
    try:
        model, class_names = load_classifier(args.model)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(json.dumps({"error": str(err)}))
        return 2
    results = classify_images(model, args.images, class_names)
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
