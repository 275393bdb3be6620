"""An offline classroom folder to copy onto a USB stick: packages, the kit, student notebooks.

    python -m helpers.course classroom --out classroom/
    python -m helpers.course classroom --out classroom-windows/ \\
        --pip-option=--platform=win_amd64 --pip-option=--python-version=3.12 \\
        --pip-option=--only-binary=:all:

The folder holds `wheelhouse/` (every package in requirements.txt, downloaded once by
`pip download`), `kit/` (the helpers, the student copies of the notebooks, the generated faces
for the workshop's seed, requirements and guides) and `INSTALL.txt`, whose one install line
learners run with no internet: `pip install --no-index --find-links wheelhouse -r ...`.
Wheels are made for one operating system and Python version: build one folder per kind of
laptop in the room (`--pip-option` is passed to `pip download`).

With `--faces DIR` (a folder with happy/ and sad/ pictures of real faces, e.g. FER2013's) the
folder also carries a real-face model: notebooks 01-07 run headless on DIR (the course's own
path, `SOURCE_DIR`) in a temporary work folder, and its served model and float32 TFLite export
go to `kit/models/real-faces/` and `kit/models/real-faces-float32/` with a card (data,
test accuracy with its interval, date, kit version). Notebook 07 (`REAL_FACE_MODEL`) judges real
photos with it. `--model-only` puts it into a classroom folder built before.

    python -m helpers.course classroom --out classroom/ --faces ~/fer2013/train
    python -m helpers.course classroom --out classroom/ --faces ~/fer2013/train --model-only
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from helpers.bundle import load_card, new_bundle, save_card
from helpers.images import IMAGE_EXTENSIONS, iter_files
from helpers.project import ROOT, kit_version
from helpers.student import make_student_copies
from helpers.synthetic import generate_dataset

KIT_FILES = ("README.md", "INSTRUCTOR.md", "requirements.txt", "environment.yml",
             "pyproject.toml", "data/README.md", "docs/running.md", "docs/own-photos.md",
             "docs/troubleshooting.md", "docs/platforms.md")
#: Where the real-face model goes in the kit (notebook 07's REAL_FACE_MODEL is ../models/...).
REAL_FACE_MODELS = {"served_model": "models/real-faces",
                    "float32_model": "models/real-faces-float32"}
FACE_CLASSES = ("happy", "sad")
#: Fewest pictures per class for a real-face model: below this the test split is a handful of
#: faces and its accuracy interval says little (FER2013's training part has thousands).
MIN_FACES_PER_CLASS = 50
COURSE_NOTEBOOKS = ("01", "02", "03", "04", "05", "06", "07")  # 08 makes no model


def download_wheels(requirements: Path, wheelhouse: Path, pip_options: Sequence[str] = ()) -> None:
    """`pip download` every package of `requirements` (and their dependencies) into `wheelhouse`."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
               "-r", str(requirements), "-d", str(wheelhouse), *pip_options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed (exit {done.returncode}):\n{done.stderr[-2000:]}\n"
                           "Building the folder needs the package index (internet) once.")


def install_command(wheelhouse: str = "wheelhouse",
                    requirements: str = "kit/requirements.txt") -> list[str]:
    """The line learners run, from the folder's top, with no internet."""
    return ["python", "-m", "pip", "install", "--no-index", "--find-links", wheelhouse,
            "-r", requirements]


def count_faces(faces_dir: str | Path) -> dict[str, int]:
    """Pictures per class (happy, sad) in an instructor's face folder; ValueError or
    FileNotFoundError saying what to fix when it cannot make a real-face model."""
    faces = Path(faces_dir).expanduser()
    if not faces.exists():
        raise FileNotFoundError(f"--faces {faces}: no such folder. Give the folder that holds "
                                "happy/ and sad/ subfolders of face pictures.")
    if not faces.is_dir():
        raise ValueError(f"--faces {faces} is a file, not a folder (unpack an archive first): "
                         "give the folder that holds happy/ and sad/ subfolders.")
    missing = [name for name in FACE_CLASSES if not (faces / name).is_dir()]
    if missing:
        found = sorted(p.name for p in faces.iterdir() if p.is_dir())
        raise ValueError(f"--faces {faces} has no {' or '.join(f'{m}/' for m in missing)} "
                         f"subfolder (it holds {', '.join(found) or 'no folders'}): the model "
                         "learns from one subfolder of pictures per class, happy/ and sad/.")
    counts = {name: sum(1 for p in iter_files(faces / name) if p.suffix.lower()
                        in IMAGE_EXTENSIONS) for name in FACE_CLASSES}
    few = {name: n for name, n in counts.items() if n < MIN_FACES_PER_CLASS}
    if few:
        shown = ", ".join(f"{n} in {name}/" for name, n in few.items())
        raise ValueError(f"--faces {faces}: too few pictures ({shown}): "
                         f"a real-face model needs at least {MIN_FACES_PER_CLASS} per class, "
                         "and hundreds to be worth using.")
    return counts


def check_face_parameters(parameters: Sequence[Sequence[str]]) -> None:
    """ValueError listing the bad `-p NAME VALUE` pairs for the training run, before anything
    is downloaded or trained."""
    from helpers.runner import parse_value
    from helpers.workspace import check_parameters

    taken = {"SOURCE_DIR", "WORK_DIR", "DATA_DIR", "SEED"}  # the classroom command sets these
    if clash := sorted(taken & {name for name, _ in parameters}):
        raise ValueError(f"-p {', '.join(clash)}: the classroom command sets these itself "
                         "(--faces, a temporary folder, --seed).")
    check_parameters(**{name: parse_value(value) for name, value in parameters})


def train_real_face_model(faces_dir: str | Path, models_dir: str | Path, seed: int = 42,
                          parameters: Sequence[Sequence[str]] = (),
                          keep_work: str | Path | None = None) -> dict[str, Path]:
    """Run notebooks 01-07 on `faces_dir` (as `course run -p SOURCE_DIR`) in a temporary work
    folder and put the served model and its float32 export in `models_dir`/real-faces and
    real-faces-float32, each with its card; returns {name: bundle folder}. `parameters` are
    (NAME, VALUE) pairs as `-p` gives them; `keep_work` keeps the work folder there (tests).
    RuntimeError if a notebook fails: the work folder is kept and named."""
    from helpers.runner import NotebookFailed, resolve_parameters, run_course, stderr_to
    from helpers.workspace import Work, check_parameters

    faces = Path(faces_dir).expanduser().resolve()
    counts = count_faces(faces)
    check_face_parameters(parameters)
    scratch = Path(keep_work) if keep_work else Path(tempfile.mkdtemp(prefix="real-faces-"))
    pairs = [("REAL_FACE_MODEL", "None"), *parameters, ("SOURCE_DIR", str(faces)),
             ("SEED", str(seed)), ("WORK_DIR", str(scratch / "work")),
             ("DATA_DIR", str(scratch / "data"))]
    params = resolve_parameters(pairs, quick=False)
    check_parameters(**params)
    log = scratch / "executed" / "course.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"Training the real-face model on {faces} ({counts['happy']} happy, {counts['sad']} "
          f"sad) with notebooks 01-07; what the kernels print goes to {log}", flush=True)
    try:
        with stderr_to(log):
            run_course(params, log.parent, COURSE_NOTEBOOKS)
    except NotebookFailed as err:
        raise RuntimeError(f"The real-face model was not made: {err}\nWhat the kernels printed: "
                           f"{log}. Fix the face folder (or the parameters) and run again; "
                           f"{scratch} can be removed.") from err
    work = Work(params["WORK_DIR"])
    made_on = datetime.now(UTC).date().isoformat()
    bundles = {}
    for name, place in REAL_FACE_MODELS.items():
        bundle = new_bundle(Path(models_dir) / Path(place).name)
        shutil.copytree(work.require(name), bundle, dirs_exist_ok=True)
        _, card = load_card(bundle)
        card["trained_on"] = card.get("trained_on", {}) | {"data_dir": faces.name}
        if "converted_from" in card:
            card["converted_from"] = f"{Path(REAL_FACE_MODELS['served_model']).name}/model.keras"
        save_card(bundle, card | {
            "data": {"folder": faces.name, "pictures": counts},
            "made_on": made_on,
            "built_by": "python -m helpers.course classroom --faces"})
        bundles[name] = bundle
    if keep_work is None:
        shutil.rmtree(scratch, ignore_errors=True)
    return bundles


def describe_real_face_model(bundle: str | Path) -> str:
    """One line for the instructor: where the model is, its data and test accuracy."""
    _, card = load_card(bundle)
    test = card.get("test", {})
    low, high = test.get("intervals", {}).get("accuracy", (float("nan"),) * 2)
    pictures = ", ".join(f"{n} {c}" for c, n in card["data"]["pictures"].items())
    return (f"{bundle}: trained on {card['data']['folder']} ({pictures}), test accuracy "
            f"{test.get('accuracy', float('nan')):.3f} (95% interval {low:.3f}–{high:.3f}, "
            f"{test.get('n_test', '?')} faces), face step {card['face_step']['mode']}, "
            f"made on {card['made_on']}")


def _real_face_note(kit: Path) -> str:
    """INSTALL.txt's line about the real-face model, if the kit has one."""
    bundle = kit / REAL_FACE_MODELS["served_model"]
    if not bundle.is_dir():
        return ""
    _, card = load_card(bundle)
    return (f"kit/{REAL_FACE_MODELS['served_model']} is a real-face model (trained on "
            f"{card['data']['folder']}): notebook 07 judges real photos with it.\n")


def add_real_face_model(out_dir: str | Path, faces_dir: str | Path, seed: int = 42,
                        parameters: Sequence[Sequence[str]] = ()) -> dict[str, Path]:
    """Put a real-face model into the classroom folder `out_dir` built before (its kit must
    be this kit's version); a real-face model already there is replaced."""
    kit = Path(out_dir) / "kit"
    if not (kit / "helpers").is_dir():
        raise FileNotFoundError(f"No classroom kit in {out_dir} ({kit}/helpers/ is missing): "
                                "build the folder first (without --model-only).")
    theirs = kit_version(kit)
    if theirs != kit_version():
        raise ValueError(f"The kit in {out_dir} is version {theirs}, this one {kit_version()}: "
                         "its notebooks may not know REAL_FACE_MODEL. Build a new folder.")
    count_faces(faces_dir)  # before anything is written
    check_face_parameters(parameters)
    bundles = train_real_face_model(faces_dir, kit / "models", seed, parameters)
    install = Path(out_dir) / "INSTALL.txt"
    text = install.read_text(encoding="utf-8") if install.is_file() else None
    if text is not None and REAL_FACE_MODELS["served_model"] not in text:
        install.write_text(text + _real_face_note(kit), encoding="utf-8")
    return bundles


def _write_kit(kit: Path, requirements: Path, notebooks: Sequence[Path],
               with_solutions: bool, seed: int, n_per_class: int) -> None:
    """The kit/ part of the classroom folder: helpers, docs, student copies, drawn faces."""
    shutil.copytree(ROOT / "helpers", kit / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in KIT_FILES:
        if (ROOT / name).exists():
            (kit / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, kit / name)
    shutil.copy2(requirements, kit / "requirements.txt")
    make_student_copies(list(notebooks), kit / "student")
    if with_solutions:
        (kit / "notebooks").mkdir()
        for path in notebooks:
            shutil.copy2(path, kit / "notebooks" / path.name)
    generate_dataset(kit / "data" / "generated", n_per_class=n_per_class, seed=seed)


def _write_install(out: Path, kit: Path, seed: int, n_per_class: int,
                   pip_options: Sequence[str]) -> None:
    """INSTALL.txt: what a learner types to install from the wheelhouse and start."""
    (out / "INSTALL.txt").write_text(f"""\
Happy/sad CNN course: offline install (no internet needed)

1. Copy this whole folder to your laptop and open a terminal in it.
2. Make a fresh environment with the same Python the wheels were built for
   ({" ".join(pip_options) or f"Python {sys.version_info.major}.{sys.version_info.minor}, "
     + sys.platform}):
       python -m venv .venv
       source .venv/bin/activate        (Windows: .venv\\Scripts\\activate)
3. Install, from the wheelhouse only:
       {" ".join(install_command())}
4. Check the laptop is ready:
       cd kit
       python -m helpers.course check
5. Start JupyterLab, open student/01_collect_data.ipynb and go through the notebooks in order:
       jupyter lab

The faces in kit/data/generated are the ones notebook 01 draws for SEED = {seed}
({n_per_class} per class); the notebooks are the student copies, with exercises to fill in.
{_real_face_note(kit)}""", encoding="utf-8")


def build_classroom(out_dir: str | Path, seed: int = 42, n_per_class: int = 1000,
                    requirements: str | Path = ROOT / "requirements.txt",
                    pip_options: Sequence[str] = (), notebooks: Sequence[Path] = (),
                    with_solutions: bool = False, faces_dir: str | Path | None = None,
                    face_parameters: Sequence[Sequence[str]] = (),
                    keep_work: str | Path | None = None) -> Path:
    """Write the classroom folder (see the module docstring); returns its path. With
    `with_solutions` the solution notebooks go in `kit/notebooks/` too, so that
    `python -m helpers.course catch-up NN` works in the room. With `faces_dir` the kit gets a
    real-face model (`train_real_face_model`), trained before the kit is written: a failed
    training, a full disk or an interrupt leaves no kit (the wheelhouse is kept)."""
    out = Path(out_dir)
    kit = out / "kit"
    for copied in (ROOT / "helpers", ROOT / "notebooks"):
        if out.resolve().is_relative_to(copied):
            raise ValueError(f"--out {out} is inside the kit's {copied.name}/ folder, which the "
                             "classroom folder copies: choose a folder outside it, e.g. "
                             "classroom/ next to README.md.")
    if faces_dir is not None:  # a bad face folder is refused before anything is downloaded
        count_faces(faces_dir)
        check_face_parameters(face_parameters)
    if kit.exists():
        raise FileExistsError(f"{kit} already exists: choose another --out folder, or remove "
                              "that one first (wheels in a kept wheelhouse/ are reused)"
                              + ("; --model-only adds the model to it." if faces_dir else "."))
    download_wheels(Path(requirements), out / "wheelhouse", pip_options)  # first: it may fail
    staged = None
    try:
        if faces_dir is not None:
            staged = Path(tempfile.mkdtemp(prefix="real-faces-models-", dir=out))
            train_real_face_model(faces_dir, staged, seed, face_parameters, keep_work)
        try:
            _write_kit(kit, Path(requirements), notebooks, with_solutions, seed, n_per_class)
        except OSError as err:  # a full disk, a folder without write permission
            why = f"{err.strerror or err}: {err.filename or out}"
            raise RuntimeError(f"The classroom folder could not be written ({why}); nothing "
                               "half-built was left. "
                               "Free some space or choose another --out, then run again (the "
                               "wheelhouse is kept).") from err
        if staged is not None:
            staged.rename(kit / "models")
    except BaseException:  # a failed training, a full disk, Ctrl-C: no half-built kit
        for half_built in (kit, staged):
            if half_built is not None:
                shutil.rmtree(half_built, ignore_errors=True)
        raise
    _write_install(out, kit, seed, n_per_class, pip_options)
    return out
