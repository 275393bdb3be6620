"""The course's folders and parameters: fail early, with a message that says what to do.

`Work(WORK_DIR)` is the contract between the notebooks: it knows every file and folder the
course keeps in WORK_DIR (`ARTEFACTS`: its path, which notebook writes it, what it holds), so
a notebook asks for `work.table("split")` or `work.require("clean")` and gets the data or a
"run notebook 03_explore_and_split first" message, never a confusing error deep inside.
Notebooks call `check_parameters` right after their parameters cell (a typo or an impossible
value is reported before any work is done) and `prepare_output_folder` (re)creates folders
the kit owns without ever touching a folder of the user's. The kit's CSV files (manifest,
cleaning report, split) are written and read by `write_table` and `read_table`, so that a
class named `0` or `NA` stays that text and any file name survives.
"""

from __future__ import annotations

import errno
import json
import numbers
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

#: Written into folders the kit creates, so re-runs may safely replace them.
OUTPUT_MARKER = ".made-by-course-kit"


@dataclass(frozen=True)
class Artefact:
    """One file or folder the course keeps in WORK_DIR."""

    path: str  # relative to WORK_DIR
    made_by: str  # the notebook that writes it
    holds: str  # what it is, in a few words


#: Everything the notebooks hand to each other through WORK_DIR, in course order.
ARTEFACTS: dict[str, Artefact] = {
    "collect": Artefact("collect.json", "01_collect_data", "where the pictures came from"),
    "face_step": Artefact("face_step.json", "02_clean_data",
                          "how faces are found and cropped"),
    "clean": Artefact("clean", "02_clean_data", "the cleaned pictures, one folder per class"),
    "cleaning_report": Artefact("cleaning_report.csv", "02_clean_data",
                                "what cleaning did with every file"),
    "set_aside": Artefact("set_aside", "02_clean_data", "the pictures cleaning set aside"),
    "split": Artefact("split.csv", "03_explore_and_split",
                      "which picture is for training, validation or the test"),
    "untrained_model": Artefact("model_untrained.keras", "04_build_model",
                                "the model before training"),
    "trained_model": Artefact("models/trained", "05_train", "the trained model and its card"),
    "training": Artefact("training.json", "05_train", "training time and epochs"),
    "training_log": Artefact("training_log.csv", "05_train", "the curves, one row per epoch"),
    "served_model": Artefact("models/served", "06_evaluate",
                             "the model predictions use, with its threshold and card"),
    "metrics": Artefact("metrics.json", "06_evaluate", "the one measurement on the test split"),
    "float32_model": Artefact("models/float32", "07_predict", "the TensorFlow Lite model"),
    "int8_model": Artefact("models/int8", "07_predict", "the 8-bit TensorFlow Lite model"),
    "export_comparison": Artefact("export_comparison.csv", "07_predict",
                                  "the exported models side by side"),
    "predictions": Artefact("predictions.json", "03_explore_and_split",
                            "your predictions in the exercises (03 and 05)"),
    "compare": Artefact("compare.json", "08_compare_and_explain", "CNN against HOG"),
    "explain": Artefact("explain.json", "08_compare_and_explain", "where the model looks"),
    "own_face": Artefact("own_face.json", "09_your_own_face",
                         "your own face: fine-tuned against from scratch"),
    "top_losses": Artefact("top_losses.csv", "10_fix_the_labels",
                           "the training pictures with the largest loss and their marks"),
    "relabel": Artefact("relabel.json", "10_fix_the_labels",
                        "planted flips found; validation before and after the review"),
}


class Work:
    """WORK_DIR and what the notebooks keep in it (`ARTEFACTS`), by name.

    `work.path("split")` is where an artefact goes; `work.require("split")` the same, or a
    FileNotFoundError naming the notebook to run first; `work.table`, `work.json` load it.
    Folders of the course's own (figures, logs, new_faces, uploads) are `work.root / name`.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"Work({str(self.root)!r})"

    def path(self, name: str) -> Path:
        """Where artefact `name` lives (it may not exist yet)."""
        if name not in ARTEFACTS:
            raise KeyError(f"{name!r} is not one of the course's artefacts: "
                           f"{', '.join(ARTEFACTS)}")
        return self.root / ARTEFACTS[name].path

    def require(self, name: str) -> Path:
        """The path of artefact `name`, which must exist."""
        path = self.path(name)
        if not path.exists():
            artefact = ARTEFACTS[name]
            raise FileNotFoundError(
                f"{path} ({artefact.holds}) does not exist yet: run notebook "
                f"{artefact.made_by} first (with the same WORK_DIR and DATA_DIR parameters).")
        return path

    def table(self, name: str) -> pd.DataFrame:
        """A CSV artefact (split, cleaning_report, ...) read with `read_table`."""
        return read_table(self.require(name))

    def json(self, name: str) -> Any:
        """A JSON artefact (collect, metrics, training, ...)."""
        return json.loads(self.require(name).read_text(encoding="utf-8"))

    def write_json(self, name: str, record: Any) -> Path:
        """Save a JSON artefact."""
        return write_json(self.path(name), record)


def write_json(path: str | Path, record: Any, sort_keys: bool = False) -> Path:
    """Save `record` as the kit saves every JSON file (work folder, cards, metrics, face step):
    indented UTF-8 text, names as they are, a final newline; its folder made if needed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, sort_keys=sort_keys) + "\n",
                    encoding="utf-8")
    return path


def write_error(path: str | Path, err: OSError) -> OSError:
    """An OSError like `err` (same errno and class) whose message says what to do about it."""
    if err.errno == errno.ENOSPC:
        advice = "The disk is full: free some space, or set WORK_DIR to a disk with room."
    elif err.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "You may not write there: set WORK_DIR to a folder of your own, e.g. ../work."
    else:
        advice = "Check that the disk is working and WORK_DIR is a folder you can write to."
    return OSError(err.errno, f"Cannot write {path} ({err.strerror or err}). {advice}")


def is_kit_folder(folder: str | Path) -> bool:
    """True if the kit created `folder` (it holds the marker file)."""
    return (Path(folder) / OUTPUT_MARKER).exists()


def prepare_output_folder(folder: str | Path, protected: str | Path) -> Path:
    """Create (or empty, if the kit made it) an output folder that must not overlap `protected`."""
    folder, protected = Path(folder).resolve(), Path(protected).resolve()
    if overlaps(folder, protected):
        raise ValueError(
            f"{folder} overlaps {protected}. Keep DATA_DIR and WORK_DIR apart so the kit "
            "never writes into your photos."
        )
    if folder.exists() and any(folder.iterdir()):
        if not is_kit_folder(folder):
            raise ValueError(
                f"{folder} already holds files the kit did not make; refusing to replace them. "
                "Choose an empty or new folder."
            )
        try:
            shutil.rmtree(folder)
        except OSError as err:
            raise write_error(folder, err) from err
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OUTPUT_MARKER).touch()
    except OSError as err:
        raise write_error(folder, err) from err
    return folder


def overlaps(a: str | Path, b: str | Path) -> bool:
    """Whether two folders are the same or one holds the other (links followed)."""
    a, b = Path(a).resolve(), Path(b).resolve()
    return a == b or a in b.parents or b in a.parents


# --------------------------------------------------------------------------- tables

#: Columns of the kit's CSV files that hold numbers; every other column is text.
NUMERIC_COLUMNS = frozenset({"label", "width", "height", "bytes"})
#: A text cell starting with one of these is a formula to a spreadsheet: it is written with a
#: leading apostrophe (and a cell that starts with an apostrophe gets one more, so reading
#: back removes exactly one and every value comes back as it was).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def _escape(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def write_table(frame: pd.DataFrame, path: str | Path, append: bool = False) -> Path:
    """Save one of the kit's CSV files. Text is UTF-8; a file name that is not (a Latin-1
    name from an old camera or zip) is kept byte for byte, so reading it back names the same
    file. `append` adds rows (the header only if the file is new)."""
    path = Path(path)
    text = frame.select_dtypes(exclude="number").columns
    safe = frame.assign(**{col: frame[col].map(_escape) for col in text})
    safe.to_csv(path, mode="a" if append else "w", header=not (append and path.exists()),
                index=False, encoding="utf-8", errors="surrogateescape", lineterminator="\n")
    return path


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV file the kit wrote (`write_table`): class names and file names stay text
    (`0`, `1` or `NA` are class names, not numbers or missing values), `NUMERIC_COLUMNS` are
    numbers (NaN where empty). A file re-saved by a spreadsheet in another encoding still
    reads: bytes that are not UTF-8 are kept as they are."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig",
                        encoding_errors="surrogateescape")
    for col in frame.columns:
        if col in NUMERIC_COLUMNS:
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        else:
            frame[col] = frame[col].map(lambda v: v[1:] if v.startswith("'") else v)
    return frame


# --------------------------------------------------------------------------- parameters


def _is_whole(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A real number (NumPy's included), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and str(value).strip() != ""


def _whole(low: int, high: int | None = None) -> tuple[Callable[[Any], bool], str]:
    allowed = f"a whole number ≥ {low}" + (f" and ≤ {high}" if high is not None else "")
    return (lambda v: _is_whole(v) and v >= low and (high is None or v <= high)), allowed


def _fraction(example: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: is_number(v) and 0 < v < 1), f"a number between 0 and 1, e.g. {example}"


def _fraction_or_auto(example: float) -> tuple[Callable[[Any], bool], str]:
    return ((lambda v: v is None or (is_number(v) and 0 < v < 1)),
            f"None (automatic) or a number between 0 and 1, e.g. {example}")


#: Every notebook parameter: a test of the value and the allowed values, in words.
PARAMETER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "DATA_DIR": (_is_path, "a folder path, e.g. '../data/generated'"),
    "WORK_DIR": (_is_path, "a folder path, e.g. '../work'"),
    "SEED": _whole(0, 2**32 - 1),
    "QUICK": (lambda v: isinstance(v, bool), "True or False"),
    "SOURCE_DIR": (lambda v: v is None or _is_path(v), "None or the path of your photo folder"),
    "N_PER_CLASS": _whole(10),
    "FLIP_LABELS": ((lambda v: is_number(v) and 0 <= v < 0.5),
                    "a share from 0 (none) to below 0.5, e.g. 0.03"),
    "MIN_SIZE": _whole(1),
    "NEAR_DUPLICATE_DISTANCE": (
        lambda v: v is None or (_is_whole(v) and 0 <= v <= 256),
        "None (off) or a whole number of bits from 0 to 256, e.g. 20",
    ),
    "CROP_FACES": (lambda v: v is None or isinstance(v, bool), "None (auto), True or False"),
    "FACE_MARGIN": ((lambda v: is_number(v) and 0 <= v <= 1), "a number in [0, 1], e.g. 0.25"),
    "KEEP_UNMATCHED": (lambda v: isinstance(v, bool), "True or False"),
    "CROP_EVERY_FACE": (lambda v: isinstance(v, bool), "True or False"),
    "VAL_FRACTION": _fraction_or_auto(0.15),
    "TEST_FRACTION": _fraction_or_auto(0.15),
    "IMAGE_SIZE": _whole(16, 256),
    "CHANNELS": ((lambda v: _is_whole(v) and v in (1, 3)), "1 (greyscale) or 3 (colour)"),
    "EPOCHS": _whole(1),
    "BATCH_SIZE": _whole(1),
    "MIN_STEPS": _whole(0),
    "LEARNING_RATE": ((lambda v: is_number(v) and 0 < v <= 1), "a number in (0, 1], e.g. 0.002"),
    "PATIENCE": _whole(0),
    "DIAGNOSE_EPOCHS": _whole(0),
    "STRATEGY": ((lambda v: v is None or v == "mirrored"), "None (one device) or 'mirrored'"),
    "STRATEGY_CPUS": _whole(1, 64),
    "MIRROR": ((lambda v: v is None or isinstance(v, bool)),
               "None (decide on validation), True or False"),
    "THRESHOLD": ((lambda v: v is None or (is_number(v) and 0 < v < 1)),
                  "None (choose on validation) or a number between 0 and 1, e.g. 0.5"),
    "MIN_RECALL": ((lambda v: v is None or (is_number(v) and 0 < v <= 1)),
                   "None (best accuracy) or a number in (0, 1], e.g. 0.9"),
    "TRAIN_SEED_RECIPE": (lambda v: isinstance(v, bool), "True or False"),
    "TOP_LOSSES": _whole(1),
    "ACCEPT_SUGGESTIONS": (lambda v: isinstance(v, bool), "True or False"),
    "FINE_TUNE_EPOCHS": _whole(1, 50),
    "IMAGES": (
        lambda v: v is None or (isinstance(v, (list, tuple)) and all(map(_is_path, v))),
        "None or a list of image file paths, e.g. ['photo1.jpg', 'photo2.png']",
    ),
    "REAL_FACE_MODEL": (lambda v: v is None or _is_path(v),
                        "None or the folder of a real-face model, e.g. '../models/real-faces'"),
    "OWN_FACES_DIR": (lambda v: v is None or _is_path(v),
                      "None (WORK_DIR/own_faces) or a folder with happy/ and sad/ inside"),
    "UNFREEZE_LAST_BLOCK": (lambda v: isinstance(v, bool), "True or False"),
}


def _source_problems(source: Path, params: Mapping[str, Any]) -> list[str]:
    """SOURCE_DIR (the user's photos) must be apart from DATA_DIR (the imported copies) and
    WORK_DIR (which the kit empties and rewrites)."""
    problems = []
    for name, example in (("DATA_DIR", "'../data/imported'"), ("WORK_DIR", "'../work'")):
        if name in params and _is_path(params[name]):
            folder = Path(params[name]).expanduser().resolve()
            if overlaps(source, folder):
                problems.append(
                    f"SOURCE_DIR {source} and {name} {folder} overlap: the kit copies your "
                    f"photos out of SOURCE_DIR and rewrites {name}, so keep them apart. Set "
                    f"{name} to a folder of its own, e.g. {example}, or SOURCE_DIR to the "
                    "folder that holds only your class subfolders (happy/, sad/)")
    return problems


def check_parameters(namespace: Mapping[str, Any] | None = None, /, **params: Any) -> None:
    """Raise ValueError listing every bad notebook parameter with its allowed values.

    In a notebook, `check_parameters(globals())` checks every parameter the notebook defines.
    Besides each value on its own (`PARAMETER_RULES`) it checks that SOURCE_DIR is a folder
    apart from DATA_DIR and WORK_DIR, VAL_FRACTION + TEST_FRACTION leave room for training,
    DATA_DIR and WORK_DIR do not overlap, and WORK_DIR can be written to (it is created if
    missing).
    """
    if namespace is not None:
        params = {k: v for k, v in namespace.items() if k in PARAMETER_RULES} | params
    problems = []
    for name, value in params.items():
        if name not in PARAMETER_RULES:
            problems.append(
                f"unknown parameter {name!r}; the parameters are {', '.join(PARAMETER_RULES)}"
            )
            continue
        is_ok, allowed = PARAMETER_RULES[name]
        if not is_ok(value):
            problems.append(f"{name} must be {allowed}, got {value!r}")
    if problems:
        raise ValueError("\n".join(problems))

    source = params.get("SOURCE_DIR")
    if source is not None and not Path(source).expanduser().is_dir():
        problems.append(
            f"SOURCE_DIR {source} is not a folder: give the folder that holds your class "
            "subfolders (happy/, sad/)"
        )
    elif source is not None:
        problems += _source_problems(Path(source).expanduser().resolve(), params)
    shares = [params.get(name, 0) for name in ("VAL_FRACTION", "TEST_FRACTION")]
    if sum(0.15 if share is None else share for share in shares) >= 1:  # None: 0.15 at most
        problems.append(
            f"VAL_FRACTION + TEST_FRACTION must be below 1 to leave images for training, got "
            f"{params['VAL_FRACTION']} + {params['TEST_FRACTION']}"
        )
    if "DATA_DIR" in params and "WORK_DIR" in params:
        data, work = (Path(params[k]).expanduser().resolve() for k in ("DATA_DIR", "WORK_DIR"))
        if overlaps(data, work):
            problems.append(
                f"DATA_DIR {data} and WORK_DIR {work} overlap: keep them apart, e.g. "
                "'../data/generated' and '../work'"
            )
    if "WORK_DIR" in params and not problems:
        work = Path(params["WORK_DIR"]).expanduser()
        try:
            work.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=work):
                pass
        except OSError as err:
            problems.append(f"WORK_DIR is not usable: {write_error(work, err).strerror}")
    if problems:
        raise ValueError("\n".join(problems))
