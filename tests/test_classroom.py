"""The offline classroom folder, built and installed from without any index.

The mechanism is tested on a tiny requirements file: the one wheel CPython ships for ensurepip
stands in for the package index (`--no-index --find-links`), so nothing is downloaded.
"""

import ensurepip
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.classroom import build_classroom, install_command
from helpers.course import notebooks

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
