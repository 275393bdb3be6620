"""Model bundles: every model the course saves is a folder holding the model file and its card.

The card (`card.json`) holds what a prediction needs besides the weights (the class names,
the picture size and colours, the face step, the decision threshold) and what anyone reusing
the model should know (what it was trained on, its validation and test numbers with their
intervals, the notebook that made it, the kit's version). Each model has its own folder,
written once by one notebook: two models never share a card, nothing is rewritten in place,
and copying the folder copies everything the model needs.

    work/models/trained/   model.keras + card.json   (notebook 05)
    work/models/served/    model.keras + card.json   (notebook 06: threshold, test numbers)
    work/models/float32/   model.tflite + card.json  (notebook 07)
    work/models/int8/      model.tflite + card.json  (notebook 07)

This module imports neither TensorFlow nor Keras: reading a card is cheap.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from helpers.faces import FaceStep
from helpers.project import kit_version
from helpers.workspace import write_json

CARD_FILE = "card.json"
MODEL_FILES = ("model.keras", "model.tflite")
_RETRAIN = ("Run notebooks 02_clean_data to 06_evaluate again, or copy the whole model folder "
            "from where it was trained.")




def model_card(class_names: list[str], image_size: int, channels: int, face_step: FaceStep, *,
               made_by: str, threshold: float = 0.5, **about: Any) -> dict:
    """A card: what predictions need, then anything else worth knowing (`about`: e.g.
    trained_on, validation, test)."""
    card = {"classes": list(class_names), "image_size": int(image_size),
            "channels": int(channels), "face_step": face_step.to_dict(),
            "threshold": float(threshold), "made_by": made_by, "kit_version": kit_version()}
    check_card(card, "the new card")
    return card | about


def new_bundle(folder: str | Path) -> Path:
    """An empty folder for one model: a bundle the kit wrote before is replaced whole, any
    other non-empty folder is refused."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        if not (folder / CARD_FILE).is_file():
            raise ValueError(f"{folder} holds files that are not a model bundle; refusing to "
                             "replace them. Choose another WORK_DIR.")
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_card(folder: str | Path, card: dict) -> Path:
    """Write `card` into the bundle `folder`, which must already hold its model file."""
    folder = Path(folder)
    model_file(folder)  # the model first, so a card never describes a missing model
    check_card(card, "the new card")
    return write_json(folder / CARD_FILE, card)


def model_file(path: str | Path) -> Path:
    """The model file of a bundle, given the bundle folder or the file itself."""
    path = Path(path)
    if path.is_dir():
        found = [path / name for name in MODEL_FILES if (path / name).is_file()]
        if len(found) != 1:
            what = "no model file" if not found else "more than one model file"
            raise FileNotFoundError(
                f"{path} holds {what}: a model folder holds one of {', '.join(MODEL_FILES)} "
                f"and its {CARD_FILE}. {_RETRAIN}")
        return found[0]
    if not path.is_file():
        raise FileNotFoundError(
            f"No model at {path}. Train one first (notebooks 05_train and 06_evaluate save "
            "work/models/served) or check the path.")
    return path


def load_card(path: str | Path) -> tuple[Path, dict]:
    """(model file, card) of the bundle at `path` (the folder or its model file).

    FileNotFoundError: no model or no card (a model saved by an older kit gets its own
    message); ValueError: a card that is damaged.
    """
    model = model_file(path)
    card_path = model.with_name(CARD_FILE)
    if not card_path.is_file():
        if (model.with_name("classes.json").exists()
                or model.with_name("preprocessing.json").exists()):
            raise FileNotFoundError(
                f"{model} was saved by an older version of the kit (classes.json and "
                "preprocessing.json beside it, shared by every model in the folder). Run "
                "notebooks 05_train to 07_predict again: they now save each model in a folder "
                f"of its own with its {CARD_FILE} (work/models/served/).")
        raise FileNotFoundError(
            f"No {CARD_FILE} beside {model}: it says which class is which and how pictures "
            f"are prepared. {_RETRAIN}")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, UnicodeDecodeError) as err:
        raise ValueError(f"{card_path} is damaged ({err}). {_RETRAIN}") from err
    check_card(card, str(card_path))
    return model, card


def check_card(card: Any, where: str) -> None:
    """ValueError unless `card` has two distinct class names, a size, 1 or 3 channels, a
    face step and a threshold strictly between 0 and 1."""
    try:
        if not isinstance(card, dict):
            raise TypeError(f"it holds {type(card).__name__}, not a record")
        classes = card["classes"]
        if not (isinstance(classes, list) and len(classes) == 2
                and all(isinstance(name, str) for name in classes) and classes[0] != classes[1]):
            raise ValueError(f"classes should be two names, e.g. [\"happy\", \"sad\"], not "
                             f"{classes!r:.200}")
        size, channels = card["image_size"], card["channels"]
        if not (type(size) is int and size > 0 and type(channels) is int and channels in (1, 3)):
            raise ValueError(f"image_size {size!r:.50} and channels {channels!r:.50} should be a "
                             "positive whole number and 1 or 3")
        FaceStep.from_dict(card["face_step"])
        threshold = card["threshold"]
        if not (type(threshold) in (float, int) and 0 < threshold < 1):
            raise ValueError(f"threshold {threshold!r:.50} is not between 0 and 1")
    except (KeyError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{where} is damaged ({type(err).__name__}: {err}). {_RETRAIN}") from err
