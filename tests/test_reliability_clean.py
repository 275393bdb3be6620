"""Reliability of cleaning and of the kit's files, second round (issue #23).

Class names stay text from the data folder to the model's card; no copy is lost or replaced;
any file name (too long, nested deep, not UTF-8) is cleaned without stopping the others; each
file is decoded once; wrong folders and parameters are named; copies stay as private as the
originals, and nothing outside the data folder is copied.

The test marked SLOW in its docstring runs notebooks 02-05 with papermill on a tiny folder
(about 2 minutes on a loaded 2-core machine); the others take seconds together.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO
from helpers import names
from helpers.bundle import load_card
from helpers.clean import (
    REPORT_NAME,
    REPORT_REASONS,
    USABLE_OUTCOMES,
    check_copies,
    clean_images,
)
from helpers.course import main as course_main
from helpers.faces import FaceRules, FaceStep
from helpers.review import apply_review
from helpers.split import split_dataset
from helpers.workspace import Work, check_parameters, read_table, write_table

NOTEBOOKS = REPO / "notebooks"


def _noise(path: Path, seed: int, size=(64, 64), mode: str = "RGB", **save) -> Path:
    """A random-noise image: no two look alike to the cleaner's perceptual hash."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels, "RGB").convert(mode).save(path, **save)
    return path


def _classes(data: Path, names=("happy", "sad"), n: int = 5, seed: int = 0) -> Path:
    for c, name in enumerate(names):
        for i in range(n):
            _noise(data / name / f"{name}{i}.png", seed + 100 * c + i)
    return data


def _copies(work: Path) -> set[str]:
    return {p.relative_to(work).as_posix() for folder in ("clean", "set_aside")
            for p in (work / folder).rglob("*") if p.is_file() and not p.name.startswith(".")}


def _assert_report_matches_folders(report: pd.DataFrame, work: Path) -> None:
    outputs = report.loc[report["output"] != "", "output"]
    assert outputs.is_unique, outputs[outputs.duplicated()].tolist()
    assert set(outputs) == _copies(work)
    usable = report["outcome"].isin(USABLE_OUTCOMES)
    assert (report.loc[usable, "output"] != "").all()


# --------------------------------------------------------------------------- class names


@pytest.mark.parametrize("notebook", sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")),
                         ids=lambda p: p.stem[:2])
def test_notebooks_read_and_write_the_kits_tables_as_text(notebook):
    """pd.read_csv turns class 0 into a number and NA into NaN: the notebooks use read_table
    and write_table for the cleaning report and the split."""
    code = "\n".join(c.source for c in nbformat.read(notebook, as_version=4).cells
                     if c.cell_type == "code")
    for line in code.splitlines():
        if re.search(r"split\.csv|REPORT_NAME|cleaning_report", line):
            assert not re.search(r"read_csv|to_csv", line), line


def test_helpers_read_the_cleaning_report_as_text(tmp_path):
    """explain.mouth_boxes reads the report notebook 02 wrote: classes 0 and NA, a file name
    that is not UTF-8."""
    from helpers.explain import mouth_boxes

    data, work = _classes(tmp_path / "data", names=("0", "NA"), n=1), tmp_path / "work"
    _noise(data / "NA" / os.fsdecode(b"caf\xe9.png"), 5)
    report = clean_images(data, work)
    write_table(report, work / REPORT_NAME)
    mouths = {file: [0, 0, 32, 32] for file in report["file"]}
    Work(work).path("collect").write_text(json.dumps({"mouths": mouths}))
    files = [o.removeprefix("clean/") for o in report["output"]]
    assert mouth_boxes(Work(work), files, 32) == [(0, 0, 16, 16)] * 3
    assert read_table(work / REPORT_NAME)["class"].tolist() == ["0", "NA", "NA"]


@pytest.mark.timeout(400)
def test_notebooks_02_to_05_keep_class_names_0_and_NA_and_a_latin1_file_name(tmp_path):
    """SLOW (four papermill runs, ~2 minutes).

    Classes 0/ and NA/ and a file whose name is not
    UTF-8 go through cleaning, the split and training; the model's card names them as text."""
    import papermill as pm

    data, work = _classes(tmp_path / "data", names=("0", "NA"), n=9), tmp_path / "work"
    latin1 = data / "0" / os.fsdecode(b"caf\xe9.png")
    _noise(latin1, 99)
    work.mkdir()
    Work(work).path("collect").write_text(json.dumps({"source": str(tmp_path / "photos")}))
    params = {"DATA_DIR": str(data), "WORK_DIR": str(work), "QUICK": True}
    extra = {"02_clean_data": {"CROP_FACES": False},
             "05_train": {"EPOCHS": 1, "MIN_STEPS": 0, "DIAGNOSE_EPOCHS": 0}}
    for notebook in ("02_clean_data", "03_explore_and_split", "04_build_model", "05_train"):
        pm.execute_notebook(NOTEBOOKS / f"{notebook}.ipynb", tmp_path / f"{notebook}.ipynb",
                            parameters=params | extra.get(notebook, {}), cwd=str(NOTEBOOKS),
                            kernel_name="python3", progress_bar=False)
    assert load_card(Work(work).require("trained_model"))[1]["classes"] == ["0", "NA"]
    manifest = read_table(Work(work).path("split"))
    assert sorted(set(manifest["class"])) == ["0", "NA"] and len(manifest) == 19
    assert "0/caf%E9.png" in set(manifest["file"])
    report = read_table(work / REPORT_NAME)
    assert f"0/{latin1.name}" in set(report["file"])


# --------------------------------------------------------------------------- names


def test_copy_names_are_unique_and_the_report_matches_the_folders(tmp_path):
    """Names that flatten or convert to the same copy name (trip__a.png and trip/a.png,
    b.webp → b.webp.png and b.webp.png, A.png and a.png on a case-blind disk) all survive."""
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    happy = data / "happy"
    for k, name in enumerate(["trip__a.png", "trip/a.png", "A.png", "a.png", "b.webp.png"]):
        _noise(happy / name, 500 + k)
    _noise(happy / "b.webp", 510, format="WEBP")
    for name in ("trip__bad.jpg", "trip/bad.jpg"):  # both set aside under one name
        (happy / name).write_text(f"not a picture: {name}")
    report = clean_images(data, work)
    assert (report.loc[report["class"] == "happy", "outcome"] != "ignored").all()
    _assert_report_matches_folders(report, work)
    assert len(list((work / "clean" / "happy").iterdir())) == 11  # 5 + 6 usable
    for row in report[report["outcome"] == "kept"].itertuples():
        assert (work / row.output).read_bytes() == (data / row.file).read_bytes()
    assert "already taken by another copy" in report.set_index("file").at["happy/a.png", "detail"]
    names = {p.name.casefold() for p in (work / "clean" / "happy").iterdir()}
    assert len(names) == 11
    assert clean_images(data, work)["output"].tolist() == report["output"].tolist()

    (work / report["output"].iloc[0]).unlink()
    with pytest.raises(RuntimeError, match="missing"):
        check_copies(report, work)


def test_review_never_replaces_a_copy(tmp_path):
    """Moving happy/h.png to sad/ as from_happy__h.png, where the user has a file of that name."""
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    _noise(data / "happy" / "h.png", 600)
    _noise(data / "sad" / "from_happy__h.png", 601)
    report = clean_images(data, work)
    reviewed = apply_review(report, {"happy/h.png": "move"}, work).set_index("file")
    moved, theirs = reviewed.loc["happy/h.png", "output"], reviewed.loc["sad/from_happy__h.png",
                                                                         "output"]
    assert moved != theirs and moved.startswith("clean/sad/from_happy__h")
    assert (work / moved).read_bytes() == (data / "happy" / "h.png").read_bytes()
    assert (work / theirs).read_bytes() == (data / "sad" / "from_happy__h.png").read_bytes()
    _assert_report_matches_folders(reviewed.reset_index(), work)


def test_names_too_long_for_the_file_system_are_shortened(tmp_path):
    """A legal 253-byte .webp (its copy gets .png) and a folder 14 deep: cleaning goes on, the
    copies fit MAX_NAME_BYTES, keep their extension and stay valid UTF-8."""
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    long_ascii = "x" * 248 + ".webp"
    long_accents = "é" * 124 + ".webp"  # 253 bytes: cut it inside a character and it breaks
    deep = "/".join(f"holiday_album_{n:02d}" for n in range(14))
    _noise(data / "happy" / long_ascii, 700, format="WEBP")
    _noise(data / "happy" / long_accents, 701, format="WEBP")
    _noise(data / "happy" / deep / "photo.png", 702)
    (data / "happy" / deep / "notes.jpg").write_text("not a picture")
    report = clean_images(data, work).set_index("file")
    rows = report.loc[[f"happy/{long_ascii}", f"happy/{long_accents}", f"happy/{deep}/photo.png",
                       f"happy/{deep}/notes.jpg"]]
    assert rows["outcome"].tolist() == ["converted", "converted", "kept", "set_aside"]
    for output in rows["output"]:
        name = Path(output).name
        assert len(name.encode("utf-8")) <= names.MAX_NAME_BYTES and (work / output).is_file()
    assert [Path(o).suffix for o in rows["output"]] == [".png", ".png", ".png", ".jpg"]
    assert Path(rows["output"].iloc[1]).name.startswith("é" * 100)
    assert "was longer than MAX_NAME_BYTES (255 bytes)" in rows["detail"].iloc[0]
    _assert_report_matches_folders(report.reset_index(), work)


def test_a_smaller_max_name_bytes_is_honoured(monkeypatch):
    """docs/troubleshooting.md's setting: a lower limit shortens names to it, tag and extension
    kept, and says so."""
    monkeypatch.setattr(names, "MAX_NAME_BYTES", 40)
    name = names.unique_name("y" * 60 + ".png", "happy/" + "y" * 60 + ".png", set())
    assert len(name.encode()) <= 40 and name.endswith(".png") and "~" in name


def test_an_unexpected_error_on_one_copy_sets_only_that_file_aside(tmp_path, monkeypatch):
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    copyfile = shutil.copyfile

    def fails_for_one(src, dst, *args, **kwargs):
        if Path(src).name == "happy0.png":
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return copyfile(src, dst, *args, **kwargs)

    monkeypatch.setattr("helpers.clean.shutil.copyfile", fails_for_one)
    report = clean_images(data, work).set_index("file")
    assert tuple(report.loc["happy/happy0.png", ["outcome", "reason", "output"]]) == (
        "set_aside", "copy_failed", "")
    assert os.strerror(errno.EIO) in report.loc["happy/happy0.png", "detail"]
    assert (report.drop("happy/happy0.png")["outcome"] == "kept").all()
    assert "copy_failed" in REPORT_REASONS


# --------------------------------------------------------------------------- not UTF-8


def test_a_file_name_that_is_not_utf8_goes_through_clean_split_and_review(tmp_path):
    """`café.png` written by an old camera in Latin-1: the report keeps its name byte for
    byte, its copy (and so split.csv) gets a UTF-8 name, review can move it."""
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    name = os.fsdecode(b"caf\xe9.png")
    try:
        _noise(data / "happy" / name, 800)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    report = clean_images(data, work)
    row = report.set_index("file").loc[f"happy/{name}"]
    assert row["output"] == "clean/happy/caf%E9.png"
    write_table(report, work / REPORT_NAME)
    assert read_table(work / REPORT_NAME)["file"].tolist() == report["file"].tolist()

    manifest = split_dataset(work / "clean")
    for file in manifest["file"]:
        file.encode("utf-8")  # strict: no surrogates left for later steps
    write_table(manifest, Work(work).path("split"))
    assert read_table(Work(work).path("split"))["file"].tolist() == manifest["file"].tolist()

    reviewed = apply_review(report, {f"happy/{name}": "set_aside"}, work)
    saved = read_table(work / REPORT_NAME).set_index("file")
    assert saved.loc[f"happy/{name}", "output"] == "set_aside/happy/caf%E9.png"
    _assert_report_matches_folders(reviewed, work)


# --------------------------------------------------------------------------- decoding


def test_each_file_is_decoded_once_and_plain_files_are_copied_byte_for_byte(tmp_path,
                                                                            monkeypatch):
    """A kept PNG, an RGBA PNG (converted) and the face step: one decoding per file (the
    format and EXIF come from the header; the hash, the face step and the PNG copy share it)."""
    import PIL.Image

    data, work = _classes(tmp_path / "data", n=3), tmp_path / "work"
    rgba = np.random.default_rng(900).integers(0, 256, (64, 64, 4), np.uint8)
    Image.fromarray(rgba, "RGBA").save(data / "happy" / "alpha.png")
    decodes = []
    get_decoder = PIL.Image._getdecoder

    def counting(mode, decoder_name, *args, **kwargs):
        if decoder_name != "raw":  # "raw" unpacks pixels already in memory (Image.frombytes)
            decodes.append(decoder_name)
        return get_decoder(mode, decoder_name, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "_getdecoder", counting)
    faces = FaceStep("photos", FaceRules(keep_unmatched=True))
    for step in (None, faces):
        decodes.clear()
        report = clean_images(data, work, faces=step).set_index("file")
        assert len(decodes) == 7, (step, decodes)
        assert report.loc["happy/alpha.png", "outcome"] == "converted"
        kept = report.loc["happy/happy0.png", "output"]
        assert (work / kept).read_bytes() == (data / "happy" / "happy0.png").read_bytes()


# --------------------------------------------------------------------------- messages


def _unreadable(monkeypatch, folder: Path) -> None:
    """Make `folder` fail to list as without read permission (even for root)."""
    iterdir, listdir = Path.iterdir, os.listdir

    def refuse(path):
        if Path(path).absolute() == folder.absolute():
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))

    monkeypatch.setattr(Path, "iterdir", lambda self: refuse(self) or iterdir(self))
    monkeypatch.setattr(os, "listdir", lambda path=".": refuse(path) or listdir(path))


def test_an_unreadable_class_folder_is_named_as_such_not_as_empty(tmp_path, monkeypatch):
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    _unreadable(monkeypatch, data / "happy")
    report = clean_images(data, work)
    row = report.set_index("file").loc["happy"]
    assert (row["outcome"], row["reason"], row["output"]) == ("set_aside", "unreadable_folder", "")
    assert "Permission denied" in row["detail"]
    write_table(report, work / REPORT_NAME)
    with pytest.raises(ValueError, match=r"could not read happy in DATA_DIR: Permission denied"):
        split_dataset(work / "clean")


def test_an_unreadable_clean_folder_is_named_at_split(tmp_path, monkeypatch):
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    clean_images(data, work)
    _unreadable(monkeypatch, work / "clean" / "sad")
    with pytest.raises(PermissionError, match=r"sad cannot be read \(Permission denied\)"):
        split_dataset(work / "clean")


@pytest.mark.parametrize("where", ["data", "work/photos", "photos_above"])
def test_source_dir_must_be_apart_from_data_dir_and_work_dir(tmp_path, where):
    data, work = tmp_path / "data", tmp_path / "work"
    source = {"data": data, "work/photos": work / "photos", "photos_above": tmp_path}[where]
    source.mkdir(parents=True, exist_ok=True)
    which = "WORK_DIR" if where == "work/photos" else "DATA_DIR"
    with pytest.raises(ValueError, match=rf"SOURCE_DIR .* and {which} .* overlap.* Set {which}"):
        check_parameters(SOURCE_DIR=str(source), DATA_DIR=str(data), WORK_DIR=str(work))


@pytest.mark.parametrize("command", ["student", "classroom", "run", "catch-up"])
def test_out_pointing_at_a_file_is_explained(tmp_path, capsys, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    args = {"student": ["student", "--out", str(a_file / "copies")],
            "classroom": ["classroom", "--out", str(a_file)],
            "run": ["run", "--out", str(a_file), "-p", "WORK_DIR", str(tmp_path / "work")],
            "catch-up": ["catch-up", "05", "-p", "WORK_DIR", str(tmp_path / "work")]}[command]
    if command == "catch-up":
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "executed").write_text("a file where the kit wants a folder")
    assert course_main(args) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert a_file.read_text() == "mine"


@pytest.mark.parametrize("command", [["run", "--only", "01"], ["student"], ["student", "--force"]])
def test_out_pointing_at_the_notebooks_folder_is_refused(capsys, command):
    from helpers.course import NOTEBOOK_DIR

    before = {p: p.read_bytes() for p in NOTEBOOK_DIR.glob("*.ipynb")}
    assert course_main([*command, "--out", str(NOTEBOOK_DIR / ".." / "notebooks")]) == 2
    assert "the course's own notebooks/ folder" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in NOTEBOOK_DIR.glob("*.ipynb")} == before


def _code_cell_running(executed: Path) -> bool:
    """Whether papermill's copy shows a code cell running (it saves the copy as each starts)."""
    try:
        cells = json.loads(executed.read_text())["cells"]
    except (OSError, ValueError):
        return False  # not there yet, or caught mid-write
    return any(cell["cell_type"] == "code"
               and cell["metadata"].get("papermill", {}).get("status") == "running"
               for cell in cells)


@pytest.mark.parametrize("signal_name, moment", [
    ("SIGTERM", "as 01 starts"), ("SIGHUP", "as 01 starts"), ("SIGINT", "as 01 starts"),
    ("SIGTERM", "in a cell")])
def test_a_signal_ends_a_run_in_one_line_and_puts_the_learners_predictions_back(
        tmp_path, signal_name, moment):
    """SLOW (starts a run).

    A closed terminal (SIGHUP) or a kill (SIGTERM) mid-run, while the kernel starts or while
    it runs a cell: the learner's predictions.json is put back (here the test plays the
    solution notebook writing its own), no traceback, exit status 130 (a stop during the
    kernel's start once ended killed by a late SIGINT)."""
    import signal
    import subprocess
    import sys
    import time

    work = tmp_path / "work"
    work.mkdir()
    learners = work / "predictions.json"
    learners.write_text('{"2": "mine"}')
    run = subprocess.Popen(
        [sys.executable, "-m", "helpers.course", "run", "--quick", "--only", "01", "-p",
         "WORK_DIR", str(work), "-p", "DATA_DIR", str(tmp_path / "data")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    executed = work / "executed" / "01_collect_data.ipynb"  # papermill writes it as 01 starts
    ready = executed.exists if moment == "as 01 starts" else lambda: _code_cell_running(executed)
    while not ready():
        assert run.poll() is None, run.communicate()
        time.sleep(0.01)
    learners.write_text('{"2": "the solution\'s"}')
    run.send_signal(getattr(signal, signal_name))
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 130, stdout + stderr
    assert learners.read_text() == '{"2": "mine"}'
    assert "Traceback" not in stderr and "Stopped" in stderr, stderr


@pytest.mark.parametrize("damage", ["untagged", "not json"])
def test_a_notebook_without_its_parameters_cell_is_refused_before_anything_runs(
        tmp_path, monkeypatch, capsys, damage):
    from helpers import runner

    notebooks = tmp_path / "notebooks"
    shutil.copytree(runner.NOTEBOOK_DIR, notebooks)
    first = notebooks / "01_collect_data.ipynb"
    if damage == "untagged":
        nb = nbformat.read(first, as_version=4)
        for cell in nb.cells:
            cell.metadata.pop("tags", None)
        nbformat.write(nb, first)
    else:
        first.write_text("{ not json")
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", notebooks)
    work = tmp_path / "work"
    assert course_main(["run", "--only", "01", "-p", "WORK_DIR", str(work)]) == 2
    err = capsys.readouterr().err
    assert "01_collect_data.ipynb" in err and "Nothing was run" in err
    assert not (work / "collect.json").exists()


@pytest.mark.parametrize("command", ["run", "catch-up"])
def test_predictions_json_that_is_a_folder_is_named_before_anything_runs(tmp_path, capsys,
                                                                          command):
    work = tmp_path / "work"
    (work / "predictions.json").mkdir(parents=True)
    args = {"run": ["run", "--only", "01"], "catch-up": ["catch-up", "02"]}[command]
    assert course_main([*args, "-p", "WORK_DIR", str(work)]) == 2
    assert "predictions.json is not a file" in capsys.readouterr().err
    assert not (work / "collect.json").exists()


# --------------------------------------------------------------------------- security


def test_copies_keep_the_originals_permission_bits(tmp_path):
    data, work = _classes(tmp_path / "data", n=5), tmp_path / "work"
    private = [_noise(data / "happy" / "private.png", 1000),
               _noise(data / "happy" / "private.webp", 1001, format="WEBP"),
               data / "happy" / "private.jpg"]
    private[2].write_text("not a picture")
    for path in private:
        path.chmod(0o600)
    (data / "sad" / "sad0.png").chmod(0o644)
    report = clean_images(data, work).set_index("file")
    for path in private:
        output = work / report.loc[path.relative_to(data).as_posix(), "output"]
        assert output.stat().st_mode & 0o777 == 0o600, output
    assert (work / report.loc["sad/sad0.png", "output"]).stat().st_mode & 0o777 == 0o644


def test_a_class_folder_linked_outside_the_data_folder_is_not_copied(tmp_path):
    """A class folder (or a subfolder) linked to a folder outside DATA_DIR, like /etc: nothing
    in it is copied, and the report says why."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "shadow").write_text("root:$6$secret:19000:0:99999:7:::")
    _noise(outside / "someone.png", 1100)
    data, work = _classes(tmp_path / "data"), tmp_path / "work"
    (data / "system").symlink_to(outside, target_is_directory=True)
    (data / "happy" / "etc").symlink_to(outside, target_is_directory=True)
    report = clean_images(data, work).set_index("file")
    for link in ("system", "happy/etc"):
        assert tuple(report.loc[link, ["outcome", "reason", "output"]]) == (
            "set_aside", "outside_link", "")
    assert not any(name.endswith(("shadow", "someone.png")) for name in _copies(work))
    assert set(report.index) == {"system", "happy/etc"} | {
        f"{c}/{c}{i}.png" for c in ("happy", "sad") for i in range(5)}
