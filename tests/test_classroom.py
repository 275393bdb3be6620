"""The offline classroom folder, built and installed from without any index, with or without
a real-face model.

The mechanism is tested on a tiny requirements file: the one wheel CPython ships for ensurepip
stands in for the package index (`--no-index --find-links`), so nothing is downloaded.
"""

import ensurepip
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest

from conftest import REPO
from helpers.classroom import build_classroom, install_command
from helpers.course import notebooks
from helpers.project import kit_version

BUNDLED = Path(ensurepip.__file__).parent / "_bundled"


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    wheel = sorted(BUNDLED.glob("*.whl"))[0]
    package = wheel.name.split("-")[0]
    root = tmp_path_factory.mktemp("usb")
    requirements = root / "tiny-requirements.txt"
    requirements.write_text(f"{package}\n")
    out = build_classroom(root / "classroom", seed=7, n_per_class=6, requirements=requirements,
                          pip_options=["--no-index", "--find-links", str(BUNDLED)],
                          notebooks=notebooks())
    return {"out": out, "package": package, "wheel": wheel}


def test_the_folder_holds_wheels_kit_student_notebooks_and_faces(classroom):
    out = classroom["out"]
    assert [p.name for p in (out / "wheelhouse").iterdir()] == [classroom["wheel"].name]
    kit = out / "kit"
    assert (kit / "helpers" / "course.py").is_file()
    assert not list(kit.rglob("__pycache__"))
    assert sorted(p.name for p in (kit / "student").glob("*.ipynb")) == [
        p.name for p in notebooks()]
    assert "YOUR CODE HERE" in (kit / "student" / "04_build_model.ipynb").read_text()
    assert not (kit / "notebooks").exists()  # the solutions stay with the instructor
    for name in ("happy", "sad"):
        assert len(list((kit / "data" / "generated" / name).iterdir())) >= 6
    install = (out / "INSTALL.txt").read_text()
    assert " ".join(install_command()) in install and "SEED = 7" in install


def test_learners_install_from_the_folder_with_no_index(classroom, tmp_path):
    command = [sys.executable, *install_command()[1:], "--target", str(tmp_path / "site"),
               "--disable-pip-version-check"]
    done = subprocess.run(command, cwd=classroom["out"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "site" / classroom["package"]).is_dir()


def test_an_existing_kit_is_never_overwritten(classroom):
    marker = classroom["out"] / "kit" / "notes.txt"
    marker.write_text("an instructor's notes")
    with pytest.raises(FileExistsError, match="choose another --out"):
        build_classroom(classroom["out"], notebooks=notebooks())
    assert marker.read_text() == "an instructor's notes"


def test_a_failed_download_says_why_and_leaves_no_half_kit(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("no-such-package-for-the-kit\n")
    empty_index = tmp_path / "index"
    empty_index.mkdir()
    with pytest.raises(RuntimeError, match="pip download failed"):
        build_classroom(tmp_path / "classroom", requirements=requirements,
                        pip_options=["--no-index", "--find-links", str(empty_index)],
                        notebooks=notebooks())
    assert not (tmp_path / "classroom" / "kit").exists()


def test_with_solutions_the_kit_can_catch_a_learner_up(tmp_path):
    wheel = sorted(BUNDLED.glob("*.whl"))[0]
    requirements = tmp_path / "tiny-requirements.txt"
    requirements.write_text(f"{wheel.name.split('-')[0]}\n")
    out = build_classroom(tmp_path / "classroom", n_per_class=6, requirements=requirements,
                          pip_options=["--no-index", "--find-links", str(BUNDLED)],
                          notebooks=notebooks(), with_solutions=True)
    kit = out / "kit"
    assert sorted(p.name for p in (kit / "notebooks").glob("*.ipynb")) == [
        p.name for p in notebooks()]
    done = subprocess.run([sys.executable, "-m", "helpers.course", "catch-up", "01"], cwd=kit,
                          capture_output=True, text=True)
    assert done.returncode == 2 and "needs nothing before it" in done.stderr  # found the kit's


# The real-face model: drawn faces stand in for the instructor's real ones (FER2013 is never
# needed here), trained through notebooks 01-07 for two epochs (the path, not the accuracy) and
# with no face step, so that the training run's own model is a drawn-face one (notebook 07 then
# needs REAL_FACE_MODEL).
FACE_PARAMETERS = [("QUICK", "True"), ("EPOCHS", "2"), ("MIN_STEPS", "0"),
                   ("DIAGNOSE_EPOCHS", "0"), ("CROP_FACES", "False")]


def tiny_requirements(folder: Path) -> tuple[Path, list[str]]:
    wheel = sorted(BUNDLED.glob("*.whl"))[0]
    requirements = folder / "tiny-requirements.txt"
    requirements.write_text(f"{wheel.name.split('-')[0]}\n")
    return requirements, ["--no-index", "--find-links", str(BUNDLED)]


@pytest.fixture(scope="module")
def with_faces(tmp_path_factory):
    from helpers.synthetic import generate_dataset

    root = tmp_path_factory.mktemp("usb-faces")
    faces = root / "my-faces"
    generate_dataset(faces, n_per_class=80, seed=3, dirty=False)
    requirements, pip_options = tiny_requirements(root)
    out = build_classroom(root / "classroom", n_per_class=6, requirements=requirements,
                          pip_options=pip_options, notebooks=notebooks(), faces_dir=faces,
                          face_parameters=FACE_PARAMETERS, keep_work=root / "training")
    return {"out": out, "faces": faces, "training": root / "training"}


def test_faces_put_a_real_face_model_with_its_card_in_the_kit(with_faces):
    """SLOW (trains a real-face model through 01-07)."""
    from helpers.predict import classify_images, load_classifier
    from helpers.workspace import Work

    models = with_faces["out"] / "kit" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["real-faces", "real-faces-float32"]
    served = load_classifier(models / "real-faces")
    tflite = load_classifier(models / "real-faces-float32")
    assert served.path.name == "model.keras" and tflite.path.name == "model.tflite"
    card = served.card
    assert card["data"] == {"folder": "my-faces", "pictures": {"happy": 80, "sad": 80}}
    assert card["made_on"] == datetime.now(UTC).date().isoformat()
    assert card["kit_version"] == kit_version() and card["made_by"] == "06_evaluate"
    metrics = Work(with_faces["training"] / "work").json("metrics")  # the run's own numbers
    assert card["test"]["accuracy"] == metrics["accuracy"]
    low, high = card["test"]["intervals"]["accuracy"]
    assert low <= card["test"]["accuracy"] <= high
    assert card["trained_on"]["data_dir"] == "my-faces"
    assert tflite.card["converted_from"] == "real-faces/model.keras"
    assert tflite.card["data"] == card["data"] and tflite.threshold == served.threshold
    sample = sorted((with_faces["faces"] / "happy").iterdir())[:2]
    assert [r["label"] for r in classify_images(served, sample)] == [
        r["label"] for r in classify_images(tflite, sample)]
    assert "kit/models/real-faces is a real-face model (trained on my-faces)" in (
        with_faces["out"] / "INSTALL.txt").read_text()
    assert not list(with_faces["out"].glob("real-faces-models-*"))  # the staging folder went


def _cell_text(executed: Path, cell_id: str) -> str:
    cell = next(c for c in nbformat.read(executed, as_version=4).cells if c.id == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs)


def test_notebook_07_judges_real_photos_with_the_real_face_model_or_says_it_does_not(
        with_faces, tmp_path):
    """SLOW (runs 07)."""
    training = with_faces["training"]
    without = training / "executed" / "07_predict.ipynb"  # the training run: REAL_FACE_MODEL None
    assert "Real photos are judged by your drawn-face model." in _cell_text(without, "07-10")
    assert "judged by " + str(training / "work" / "models" / "served") in _cell_text(
        without, "07-12")
    bundle = with_faces["out"] / "kit" / "models" / "real-faces"
    command = [sys.executable, "-m", "helpers.course", "run", "--only", "07",
               "-p", "WORK_DIR", str(training / "work"), "-p", "DATA_DIR", str(training / "data"),
               "-p", "REAL_FACE_MODEL", str(bundle), "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"judged by the real-face model in {bundle} (trained on my-faces" in _cell_text(
        tmp_path / "07_predict.ipynb", "07-10")
    assert f"judged by {bundle / 'model.keras'}" in _cell_text(tmp_path / "07_predict.ipynb",
                                                                "07-12")


def test_a_bad_face_folder_is_refused_before_anything_is_written(tmp_path):
    requirements, pip_options = tiny_requirements(tmp_path)
    few = tmp_path / "few"
    for name, n in (("happy", 60), ("sad", 3)):
        (few / name).mkdir(parents=True)
        for i in range(n):
            (few / name / f"{i}.png").write_bytes(b"")
    (tmp_path / "no-sad" / "happy").mkdir(parents=True)
    (tmp_path / "no-sad" / "angry").mkdir()
    cases = {tmp_path / "missing": (FileNotFoundError, "no such folder"),
             tmp_path / "tiny-requirements.txt": (ValueError, "is a file, not a folder"),
             tmp_path / "no-sad": (ValueError, r"no sad/ subfolder \(it holds angry, happy\)"),
             few: (ValueError, r"too few pictures \(3 in sad/\).*at least 50 per class")}
    for faces, (error, message) in cases.items():
        with pytest.raises(error, match=message):
            build_classroom(tmp_path / "classroom", requirements=requirements,
                            pip_options=pip_options, notebooks=notebooks(), faces_dir=faces)
        assert not (tmp_path / "classroom").exists()
    enough = tmp_path / "enough"
    for name in ("happy", "sad"):
        (enough / name).mkdir(parents=True)
        for i in range(50):
            (enough / name / f"{i}.png").write_bytes(b"")
    for pairs, message in (([("EPOCHS", "0")], "EPOCHS must be a whole number"),
                           ([("WORK_DIR", "x")], "sets these itself")):
        with pytest.raises(ValueError, match=message):
            build_classroom(tmp_path / "classroom", requirements=requirements,
                            pip_options=pip_options, notebooks=notebooks(), faces_dir=enough,
                            face_parameters=pairs)
        assert not (tmp_path / "classroom").exists()
    done = subprocess.run([sys.executable, "-m", "helpers.course", "classroom", "--out",
                           str(tmp_path / "classroom"), "--faces", str(tmp_path / "no-sad")],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "no sad/ subfolder" in done.stderr
    done = subprocess.run([sys.executable, "-m", "helpers.course", "classroom", "--out",
                           str(tmp_path / "classroom"), "--model-only"],
                          cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 2 and "go with --faces" in done.stderr


def test_a_failed_training_says_which_notebook_and_leaves_no_kit(tmp_path):
    """SLOW (runs notebooks).

    Pictures too small for the course (all set aside by notebook 02): the course stops,
    the message names the notebook and the log, and no kit is written."""
    from PIL import Image

    faces = tmp_path / "thumbnails"
    for name in ("happy", "sad"):
        (faces / name).mkdir(parents=True)
        for i in range(50):
            Image.new("RGB", (8, 8), (i, 100, 200)).save(faces / name / f"{i}.png")
    requirements, pip_options = tiny_requirements(tmp_path)
    with pytest.raises(RuntimeError, match=r"(?s)real-face model was not made: 0\d_\w+\.ipynb "
                       r"failed.*What the kernels printed: .*course\.log") as info:
        build_classroom(tmp_path / "classroom", requirements=requirements,
                        pip_options=pip_options, notebooks=notebooks(), faces_dir=faces,
                        keep_work=tmp_path / "training")
    assert str(tmp_path / "training" / "executed" / "course.log") in str(info.value)
    assert not (tmp_path / "classroom" / "kit").exists()
    assert (tmp_path / "classroom" / "wheelhouse").is_dir()  # kept: a second try reuses it


def test_model_only_adds_the_model_to_a_folder_built_before(classroom, tmp_path):
    from helpers.classroom import add_real_face_model

    with pytest.raises(FileNotFoundError, match="No classroom kit in"):
        add_real_face_model(tmp_path / "nothing-here", tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        add_real_face_model(classroom["out"], tmp_path / "missing")
    assert not (classroom["out"] / "kit" / "models").exists()


def test_out_inside_the_folders_the_kit_copies_is_refused(tmp_path, capsys):
    from helpers.course import main as course_main

    assert course_main(["classroom", "--out", str(REPO / "helpers" / "room")]) == 2
    assert "inside the kit's helpers/ folder" in capsys.readouterr().err
    assert not (REPO / "helpers" / "room").exists()


def test_a_full_disk_leaves_no_half_built_kit_and_a_clear_message(tmp_path, monkeypatch):
    import errno

    from helpers import classroom

    requirements, pip_options = tiny_requirements(tmp_path)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "x"))

    monkeypatch.setattr(classroom, "generate_dataset", disk_full)
    with pytest.raises(RuntimeError, match=r"could not be written \(No space left on device"):
        build_classroom(tmp_path / "classroom", n_per_class=6, requirements=requirements,
                        pip_options=pip_options, notebooks=notebooks())
    assert not (tmp_path / "classroom" / "kit").exists()
    assert (tmp_path / "classroom" / "wheelhouse").is_dir()  # kept for the next try
