"""Reliability: bad inputs, wrong use, interrupted runs and reproducibility, end to end.

* The bad-input matrix sends each awkward file through collect → clean → pipeline → predict:
  it must end as a usable image or as a set-aside file with a reason, never a traceback.
* Wrong use (notebooks out of order, bad parameters, a bad model file) gives a message that
  says what to do.
* Faults: training killed mid-epoch resumes; re-running notebooks changes nothing; disk-full
  and permission errors leave the user's originals alone.

The tests marked SLOW in their docstring execute notebooks with papermill (about 2 minutes
together on a loaded 2-core machine); the rest take seconds.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest
from PIL import Image

from conftest import (
    FROM_05_ON,
    REPO,
    as_options,
    copy_course,
    digests,
    save_brightness_model,
    write_image,
)
from helpers.clean import clean_images
from helpers.collect import import_folder
from helpers.course import main as course_main
from helpers.images import REASONS, open_image
from helpers.pipeline import make_dataset
from helpers.predict import classify_images, load_classifier, main
from helpers.split import split_dataset
from helpers.workspace import Work, check_parameters, prepare_output_folder

NOTEBOOKS = REPO / "notebooks"
HUGE_SIDE = 10_000

# --------------------------------------------------------------------------- bad inputs


def _noise(path: Path, seed: int, size=(64, 64), mode: str = "RGB", **save) -> Path:
    """A random-noise image: unlike flat test images, no two look alike to the cleaner's
    perceptual hash (near copies are set aside)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels, "RGB").convert(mode).save(path, **save)
    return path


def _truncated_jpeg(path: Path) -> None:
    full = path.with_name("full.tmp")
    _noise(full, 1, size=(120, 120), format="JPEG")
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()


def _png_bad_crc(path: Path) -> None:
    _noise(path, 2)
    data = bytearray(path.read_bytes())
    data[29] ^= 0xFF  # the IHDR chunk's CRC
    path.write_bytes(bytes(data))


def _sixteen_bit_png(path: Path) -> None:
    ramp = np.linspace(1000, 60000, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(ramp).save(path)


def _rgba_png(path: Path) -> None:
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[..., 0], pixels[16:48, 16:48, 3] = 200, 255
    Image.fromarray(pixels, "RGBA").save(path)


def _animated_gif(path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), (40 * i, 90, 200 - 40 * i)) for i in range(3)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)


def _exif_rotated(path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    _noise(path, 3, size=(80, 40), exif=exif)


def _huge_jpeg(path: Path) -> None:
    """A 10000×10000 JPEG, drawn in a child process so this process's memory stays small."""
    code = (
        "import sys; from PIL import Image, ImageDraw\n"
        f"img = Image.new('RGB', ({HUGE_SIDE}, {HUGE_SIDE}), (120, 140, 160))\n"
        f"ImageDraw.Draw(img).ellipse((2000, 2000, 8000, 8000), fill=(250, 200, 40))\n"
        "img.save(sys.argv[1], quality=60)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)


#: name: (file name, how to write it, outcome). Outcome "usable": kept or converted by
#: cleaning; a REASONS key: set aside for that reason; "skipped_extension": not imported;
#: "hidden": never imported, and ignored by cleaning if it turns up in the data folder.
CASES = {
    "truncated_jpeg": ("cut.jpg", _truncated_jpeg, "corrupt"),
    "png_broken_crc": ("crc.png", _png_bad_crc, "corrupt"),
    "text_as_jpg": ("notes.jpg", lambda p: p.write_text("shopping list: eggs"), "not_an_image"),
    "html_as_jpg": (
        "page.jpg", lambda p: p.write_text("<!DOCTYPE html><html><body>404</body></html>"),
        "not_an_image",
    ),
    "zero_bytes": ("empty.jpg", lambda p: p.write_bytes(b""), "empty_file"),
    "rgba_png": ("alpha.png", _rgba_png, "usable"),
    "png_16_bit": ("deep.png", _sixteen_bit_png, "usable"),
    "grayscale": ("grey.png", lambda p: _noise(p, 4, mode="L"), "usable"),
    "cmyk_jpeg": ("cmyk.jpg", lambda p: _noise(p, 5, mode="CMYK"), "usable"),
    "palette_png": ("pal.png", lambda p: _noise(p, 6, mode="P"), "usable"),
    "animated_gif": ("moving.gif", _animated_gif, "usable"),
    "webp": ("photo.webp", lambda p: _noise(p, 7), "usable"),
    "tiff": ("scan.tiff", lambda p: _noise(p, 8), "usable"),
    "bmp": ("paint.bmp", lambda p: _noise(p, 9), "usable"),
    "svg": (
        "vector.svg",
        lambda p: p.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>'),
        "skipped_extension",
    ),
    "huge_10000px": ("huge.jpg", _huge_jpeg, "usable"),
    "tiny_3px": ("tiny.png", lambda p: _noise(p, 10, size=(3, 3)), "too_small"),
    "exif_rotated": ("rotated.jpg", _exif_rotated, "usable"),
    "unicode_and_spaces": ("ünï cødé  smile 😀.jpg", lambda p: _noise(p, 11), "usable"),
    "upper_case_extension": ("PHOTO.JPEG", lambda p: _noise(p, 12), "usable"),
    "ds_store": (".DS_Store", lambda p: p.write_bytes(b"\x00\x00\x00\x01Bud1"), "hidden"),
    "apple_double": ("._face.jpg", lambda p: p.write_bytes(b"\x00\x05\x16\x07" * 20), "hidden"),
}


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny stand-in model (mean brightness) saved like notebook 05 saves the real one."""
    return load_classifier(save_brightness_model(tmp_path_factory.mktemp("model") / "model.keras"))


def _source_with(tmp_path: Path, name: str, write) -> Path:
    """A photo folder with two good images per class plus the bad input in happy/."""
    source = tmp_path / "photos"
    for i in range(2):
        _noise(source / "happy" / f"good{i}.jpg", 100 + i)
        _noise(source / "sad" / f"good{i}.jpg", 200 + i)
    bad = source / "happy" / name
    write(bad)
    return bad


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_ends_usable_or_set_aside_with_a_reason(case, classifier, tmp_path):
    """collect → clean → one pipeline pass → predict, for one awkward file."""
    name, write, outcome = CASES[case]
    bad = _source_with(tmp_path, name, write)
    data, work = tmp_path / "data", tmp_path / "work"

    imported = import_folder(bad.parents[1], data)
    row = imported[imported["original_path"] == str(bad.absolute())]
    if outcome == "hidden":
        assert row["status"].tolist() == ["skipped_hidden"] and not list(data.rglob(name))
        shutil.copyfile(bad, data / "happy" / name)  # it turns up in the data folder anyway
    elif outcome == "skipped_extension":
        assert row["status"].tolist() == ["skipped_extension"] and not row["stored_path"].item()
    else:
        assert row["status"].tolist() == ["imported"]

    report = clean_images(data, work)
    assert report["file"].is_unique and set(report["outcome"]) <= {
        "kept", "converted", "set_aside", "ignored"}
    if outcome in ("hidden", "skipped_extension"):
        mine = report[report["file"] == f"happy/{name}"]
        assert mine["outcome"].tolist() == (["ignored"] if outcome == "hidden" else [])
    else:
        mine = report[report["file"] == row["stored_path"].item()].iloc[0]
        if outcome == "usable":
            assert mine["outcome"] in ("kept", "converted")
        else:
            assert (mine["outcome"], mine["reason"]) == ("set_aside", outcome)
            assert REASONS[outcome] in mine["detail"] or outcome == "too_small"
        assert (work / mine["output"]).is_file()

    usable = report[report["outcome"].isin(["kept", "converted"])]
    dataset = make_dataset([work / p for p in usable["output"]], usable["class"] == "sad", 16)
    images = np.concatenate([x.numpy() for x, _ in dataset])
    assert images.shape == (len(usable), 16, 16, 3) and 0 <= images.min() <= images.max() <= 255

    [result] = classify_images(classifier, [bad])
    assert result["path"] == str(bad)
    if outcome in ("usable", "too_small"):
        assert result["label"] in classifier.class_names and 0.5 <= result["confidence"] <= 1
    else:
        assert result["error"].startswith(f"{name}: ")


def test_exif_rotation_and_huge_image_sizes_are_handled(tmp_path):
    """Rotated photos are cleaned upright; a 10000-pixel photo is decoded reduced."""
    rotated = tmp_path / "rotated.jpg"
    _exif_rotated(rotated)
    assert open_image(rotated).size == (40, 80)
    huge = tmp_path / "huge.jpg"
    _huge_jpeg(huge)
    assert max(open_image(huge).size) <= 2048


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads Linux's VmHWM")
def test_huge_image_does_not_blow_up_memory(tmp_path):
    """Cleaning and loading a 10000×10000 JPEG (400 MB as full RGB) stays far below that.

    Measured in a child process as its peak resident memory (VmHWM) over its resident memory
    before the work; `resource.getrusage`'s ru_maxrss would include this big test process,
    which Linux hands down to a child it starts.
    """
    data = tmp_path / "data"
    (data / "happy").mkdir(parents=True)
    _huge_jpeg(data / "happy" / "huge.jpg")
    code = (
        "import re, sys\n"
        "from helpers.clean import clean_images\n"
        "from helpers.images import load_image\n"
        "def mb(field):\n"
        "    return int(re.search(field + r':\\s+(\\d+)', open('/proc/self/status').read())[1])"
        " // 1024\n"
        "before = mb('VmRSS')\n"
        "report = clean_images(sys.argv[1], sys.argv[2])\n"
        "assert report['outcome'].tolist() == ['kept'], report\n"
        "load_image(sys.argv[2] + '/' + report['output'][0], 48)\n"
        "print(mb('VmHWM') - before)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(data), str(tmp_path / "work")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    extra_mb = int(done.stdout.split()[-1])
    assert extra_mb < 120, f"decoding a 10000x10000 JPEG raised peak memory by {extra_mb} MB"


# --------------------------------------------------------------------------- bad layouts


def _two_classes(root: Path, n: int = 6) -> Path:
    for i in range(n):
        _noise(root / "happy" / f"h{i}.png", 300 + i)
        _noise(root / "sad" / f"s{i}.png", 400 + i)
    return root


def test_checkpoint_folders_in_the_data_folder_never_become_classes(tmp_path):
    data, work = _two_classes(tmp_path / "data"), tmp_path / "work"
    _noise(data / ".ipynb_checkpoints" / "x-checkpoint.png", 1)
    _noise(data / "happy" / ".ipynb_checkpoints" / "h0-checkpoint.png", 2)
    report = clean_images(data, work)
    assert set(report["class"]) == {"happy", "sad"}
    hidden = report[report["file"].str.contains(".ipynb_checkpoints", regex=False)]
    assert hidden["outcome"].tolist() == ["ignored"]
    manifest = split_dataset(work / "clean")
    assert set(manifest["class"]) == {"happy", "sad"} and len(manifest) == 12


def test_symlink_loops_neither_hang_nor_mix_classes(tmp_path):
    source = _two_classes(tmp_path / "photos", n=3)
    (source / "happy" / "up").symlink_to("..", target_is_directory=True)
    (source / "happy" / "self").symlink_to(".", target_is_directory=True)
    (source / "happy" / "circle.jpg").symlink_to("circle.jpg")
    imported = import_folder(source, tmp_path / "data")
    assert imported.groupby("class")["status"].value_counts().to_dict() == {
        ("happy", "imported"): 3, ("happy", "skipped_not_a_file"): 1, ("sad", "imported"): 3}
    report = clean_images(tmp_path / "data", tmp_path / "work")
    assert (report["outcome"] == "kept").all()


@pytest.mark.parametrize(
    "classes, phrase",
    [
        ({"happy": 3, "sad": 0}, "has no images"),
        ({"happy": 3}, "this kit is binary"),
        ({"happy": 3, "sad": 3, "surprised": 3}, "this kit is binary"),
    ],
    ids=["empty_class", "one_class", "three_classes"],
)
def test_wrong_number_of_classes_is_explained_at_import_and_at_split(tmp_path, classes, phrase):
    for root in (tmp_path / "photos", tmp_path / "data"):
        for c, (name, n) in enumerate(classes.items()):
            (root / name).mkdir(parents=True)
            for i in range(n):
                _noise(root / name / f"{i}.png", 10 * c + i)
    with pytest.raises(ValueError, match=phrase):
        import_folder(tmp_path / "photos", tmp_path / "imported")
    clean_images(tmp_path / "data", tmp_path / "work")
    split_phrase = "this kit is binary" if len(classes) > 2 else "at least 5 images each"
    with pytest.raises(ValueError, match=split_phrase):
        split_dataset(tmp_path / "work" / "clean")


def test_pipeline_names_missing_files_instead_of_failing_inside_tensorflow(tmp_path):
    path = write_image(tmp_path / "a.png")
    with pytest.raises(FileNotFoundError, match="run notebooks 02_clean_data and 03"):
        make_dataset([path, tmp_path / "gone.png"], [0, 1])


# --------------------------------------------------------------------------- wrong use


GOOD = {
    "DATA_DIR": "data", "SEED": 42, "QUICK": False, "SOURCE_DIR": None, "N_PER_CLASS": 1000,
    "MIN_SIZE": 32, "VAL_FRACTION": 0.15, "TEST_FRACTION": 0.15, "IMAGE_SIZE": 48,
    "CHANNELS": 1, "EPOCHS": 30, "MIN_STEPS": 1200, "BATCH_SIZE": 32, "LEARNING_RATE": 2e-3,
    "PATIENCE": 10,
    "THRESHOLD": 0.5, "IMAGES": None, "DIAGNOSE_EPOCHS": 15, "MIRROR": None, "MIN_RECALL": None,
}


def test_good_parameters_pass(tmp_path):
    check_parameters(**GOOD, WORK_DIR=str(tmp_path / "new" / "work"))
    assert (tmp_path / "new" / "work").is_dir()


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("EPOCHS", -3, "EPOCHS must be a whole number ≥ 1, got -3"),
        ("EPOCHS", 2.5, "EPOCHS must be a whole number ≥ 1, got 2.5"),
        ("SEED", "abc", "SEED must be a whole number ≥ 0 and ≤ 4294967295, got 'abc'"),
        ("SEED", True, "SEED must be a whole number"),
        ("IMAGE_SIZE", 4, "IMAGE_SIZE must be a whole number ≥ 16 and ≤ 256, got 4"),
        ("CHANNELS", 2, "CHANNELS must be 1 (greyscale) or 3 (colour), got 2"),
        ("VAL_FRACTION", 1.5, "VAL_FRACTION must be None (automatic) or a number between 0 and 1"),
        ("TEST_FRACTION", 0.9, "VAL_FRACTION + TEST_FRACTION must be below 1"),
        ("LEARNING_RATE", 0, "LEARNING_RATE must be a number in (0, 1]"),
        ("THRESHOLD", 1.2, "THRESHOLD must be None (choose on validation) or a number between 0"),
        ("MIN_RECALL", 0, "MIN_RECALL must be None (best accuracy) or a number in (0, 1]"),
        ("MIRROR", "yes", "MIRROR must be None (decide on validation), True or False"),
        ("QUICK", "yes", "QUICK must be True or False, got 'yes'"),
        ("IMAGES", "photo.jpg", "IMAGES must be None or a list of image file paths"),
        ("SOURCE_DIR", "/no/such/photos", "SOURCE_DIR /no/such/photos is not a folder"),
        ("DATA_DIR", "WORK", "overlap: keep them apart"),
        ("EPOCH", 5, "unknown parameter 'EPOCH'; the parameters are DATA_DIR, WORK_DIR"),
    ],
)
def test_bad_parameters_name_the_allowed_values(tmp_path, name, value, message):
    work = tmp_path / "work"
    params = {**GOOD, "WORK_DIR": str(work), name: str(work) if value == "WORK" else value}
    with pytest.raises(ValueError, match=re.escape(message)):
        check_parameters(**params)


def test_a_notebook_checks_the_parameters_it_defines(tmp_path):
    namespace = {"EPOCHS": 0, "REPORT_NAME": "report.csv", "np": object(),
                 "WORK_DIR": str(tmp_path / "work")}  # a notebook's globals()
    with pytest.raises(ValueError, match="EPOCHS must be a whole number ≥ 1, got 0$"):
        check_parameters(namespace)
    check_parameters(namespace | {"EPOCHS": 3})


@pytest.mark.parametrize("code", [errno.EACCES, errno.ENOSPC], ids=["no_permission", "disk_full"])
def test_unwritable_work_dir_is_explained(tmp_path, monkeypatch, code):
    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(ValueError, match="WORK_DIR is not usable: Cannot write .*(WORK_DIR|disk)"):
        check_parameters(WORK_DIR=str(tmp_path / "work"))
    with pytest.raises(OSError, match="set WORK_DIR to") as info:
        prepare_output_folder(tmp_path / "work" / "clean", tmp_path / "data")
    assert info.value.errno == code


def test_runner_refuses_bad_parameters_before_running_anything(tmp_path, capsys):
    code = course_main(["run", "-p", "WORK_DIR", str(tmp_path), "-p", "EPOCHS", "-3",
                        "-p", "SEEED", "1", "--only", "99"])
    err = capsys.readouterr().err
    assert code == 2
    assert "EPOCHS must be a whole number ≥ 1, got -3" in err and "'SEEED'" in err


def test_runner_says_when_there_is_no_notebook_to_run(tmp_path, monkeypatch, capsys):
    import helpers.runner

    assert course_main(["run", "-p", "WORK_DIR", str(tmp_path / "a"), "--only", "99"]) == 2
    assert "No notebooks starting with 99" in capsys.readouterr().err
    monkeypatch.setattr(helpers.runner, "NOTEBOOK_DIR", tmp_path / "kit" / "notebooks")
    assert course_main(["run", "-p", "WORK_DIR", str(tmp_path / "b")]) == 2
    assert "student copies (student/): open those in JupyterLab" in capsys.readouterr().err


def test_predict_cli_explains_bad_models_and_inputs(tmp_path, classifier, capsys):
    from helpers.bundle import CARD_FILE, save_card

    fake = tmp_path / "model.keras"
    fake.write_text("not a model")
    save_card(tmp_path, classifier.card)  # a good card beside a file that is not a model
    assert main([str(fake), "x.png"]) == 2
    assert "not a model the kit can read" in json.loads(capsys.readouterr().out)["error"]
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "x.png"]) == 2
    assert "holds no model file" in json.loads(capsys.readouterr().out)["error"]

    classifier.model.save(fake)
    (tmp_path / CARD_FILE).unlink()
    assert main([str(fake), "x.png"]) == 2
    assert "No card.json beside" in json.loads(capsys.readouterr().out)["error"]
    (tmp_path / CARD_FILE).write_text("[happy")
    assert main([str(fake), "x.png"]) == 2
    assert "card.json is damaged" in json.loads(capsys.readouterr().out)["error"]


def test_unreadable_image_gives_an_error_line(tmp_path, classifier, monkeypatch):
    path = write_image(tmp_path / "locked.png")
    real_open = open

    def locked(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", locked)
    [result] = classify_images(classifier, [path])
    assert result["error"] == f"locked.png: {REASONS['unreadable']} (Permission denied)"


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES], ids=["disk_full", "no_permission"])
def test_write_errors_while_cleaning_leave_originals_untouched(tmp_path, monkeypatch, code):
    data = _two_classes(tmp_path / "data", n=2)
    _noise(data / "sad" / "convert.webp", 1)
    before = digests(data)

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr("helpers.clean.shutil.copyfile", fail)
    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError) as info:
        clean_images(data, tmp_path / "work")
    assert info.value.errno == code and os.strerror(code) in str(info.value)
    assert digests(data) == before


def test_write_errors_while_cleaning_say_what_to_do(tmp_path, monkeypatch):
    data = _two_classes(tmp_path / "data", n=2)

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("helpers.clean.shutil.copyfile", disk_full)
    with pytest.raises(OSError, match="free some space"):
        clean_images(data, tmp_path / "work")


def _papermill(notebook: str, out: Path, **params) -> None:
    import papermill as pm

    out.mkdir(parents=True, exist_ok=True)
    pm.execute_notebook(NOTEBOOKS / notebook, out / notebook, parameters=params,
                        cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)


def test_notebook_run_too_early_names_the_notebook_to_run_first(tmp_path):
    """SLOW (one papermill run): 05_train on an empty WORK_DIR."""
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError) as info:
        _papermill("05_train.ipynb", tmp_path, WORK_DIR=str(tmp_path / "work"),
                   DATA_DIR=str(tmp_path / "data"), QUICK=True)
    assert info.value.ename == "FileNotFoundError"
    assert "run notebook 02_clean_data first" in info.value.evalue


@pytest.fixture(scope="module")
def prepared(course, tmp_path_factory):
    """A copy of the course run's files as notebooks 01–04 left them, and what they hold."""
    copied = copy_course(course, tmp_path_factory.mktemp("prepared"), leave_out=FROM_05_ON)
    work, root = copied["work"], copied["work"].parent
    return {
        "root": root, "params": copied["params"], "data": digests(copied["data"]),
        "report": Work(work).path("cleaning_report").read_bytes(),
        "split": Work(work).path("split").read_bytes(), "clean": digests(work / "clean"),
    }


def test_rerunning_01_and_02_is_idempotent_and_reproducible(prepared):
    """SLOW (two papermill runs): same SEED → same files, report, clean images and split as
    the course run made."""
    root, params = prepared["root"], prepared["params"]
    _papermill("01_collect_data.ipynb", root / "again", **params)
    _papermill("02_clean_data.ipynb", root / "again", **params)
    work = root / "work"
    assert digests(root / "data") == prepared["data"]
    assert Work(work).path("cleaning_report").read_bytes() == prepared["report"]
    assert digests(work / "clean") == prepared["clean"]
    again = split_dataset(work / "clean", seed=42).to_csv(index=False)
    assert again.encode() == prepared["split"]
    other = split_dataset(work / "clean", seed=7)
    assert other["file"].tolist() == pd.read_csv(Work(work).path("split"))["file"].tolist()
    assert other["split"].tolist() != pd.read_csv(Work(work).path("split"))["split"].tolist()


def _finished_epochs(backup: Path) -> int:
    try:
        return json.loads((backup / "training_metadata.json").read_text())["epoch"]
    except (OSError, ValueError):
        return 0


def test_training_killed_mid_run_resumes_from_the_last_epoch(prepared):
    """SLOW (05_train twice): SIGKILL after two epochs, start again, training continues.

    The runner and its Jupyter kernel (which runs in a session of its own) are both killed,
    as when the computer loses power or the kernel is killed for memory.
    """
    root, epochs = prepared["root"], 4
    work = root / "work"
    command = [sys.executable, "-m", "helpers.course", "run", "--only", "05", "--out",
               str(root / "killed"), "-p", "EPOCHS", str(epochs), "-p", "MIN_STEPS", "0",
               "-p", "DIAGNOSE_EPOCHS", "0",
               *as_options(prepared["params"])]
    run = subprocess.Popen(command, cwd=REPO, start_new_session=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 400
    while _finished_epochs(work / "backup") < 2 and run.poll() is None:
        assert time.monotonic() < deadline, "training did not reach epoch 2"
        time.sleep(0.2)
    for process in [*psutil.Process(run.pid).children(recursive=True), run]:
        process.kill()
    run.wait()
    killed_after = _finished_epochs(work / "backup")
    assert 2 <= killed_after < epochs, "training ended before it could be killed"

    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    epochs_logged = pd.read_csv(Work(work).path("training_log"))["epoch"].tolist()
    assert epochs_logged[:killed_after] == list(range(killed_after))  # the first run's rows
    assert epochs_logged[-(epochs - killed_after):] == list(range(killed_after, epochs))
    assert len(epochs_logged) <= epochs + 1  # at most the epoch being saved at the kill twice
    assert not (work / "backup").exists()

    classifier = load_classifier(Work(work).path("trained_model"))
    manifest = pd.read_csv(Work(work).path("split"))
    test = manifest[manifest["split"] == "test"]
    results = classify_images(classifier, [work / "clean" / f for f in test["file"]])
    accuracy = np.mean([r["label"] == c for r, c in zip(results, test["class"])])
    assert len(results) == len(test) and accuracy > 0.4
