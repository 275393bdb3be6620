"""Shared test fixtures: small images made in code (no downloaded data is ever needed).

Real faces come from the one photo of a person that ships inside an installed wheel:
matplotlib's `grace_hopper.jpg` (public domain); face-free pictures from scikit-learn's bundled
`china.jpg` and random noise. From them the builders below make a face on a larger canvas, a
group picture, tight face crops (FER-like 48x48, passport-like) and an EXIF-rotated photo.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image, ImageOps
from sklearn.datasets import load_sample_image

from helpers.workspace import ARTEFACTS

REPO = Path(__file__).resolve().parent.parent

#: Modules whose tests execute the course's notebooks: all slow.
SLOW_MODULES = {"test_notebooks", "test_browser", "test_catch_up"}
#: Share of the drawn faces' labels the course run flips, for notebook 10 to find.
FLIP_LABELS = 0.02  # 10 of the 500 faces per class swap folders: 20 wrong labels


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` the tests that run notebooks or train for long: whole-course modules, tests
    that use the course run and tests whose docstring starts with SLOW. `python -m pytest -m
    "not slow"` skips them."""
    for item in items:
        doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
        if (item.module.__name__ in SLOW_MODULES or doc.lstrip().startswith("SLOW")
                or "course" in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def course(tmp_path_factory) -> dict:
    """The pytest run's one execution of the whole course: `python -m helpers.course run
    --quick`, with FLIP_LABELS, in a temporary WORK_DIR and DATA_DIR. Its folders are read,
    never changed: a test that runs notebooks on them works on `copy_course`'s copy."""
    root = tmp_path_factory.mktemp("course")
    work, data = root / "work", root / "data"
    command = [sys.executable, "-m", "helpers.course", "run", "--quick", "-p", "FLIP_LABELS",
               str(FLIP_LABELS), "-p", "WORK_DIR", str(work), "-p", "DATA_DIR", str(data),
               "--out", str(root / "out")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"work": work, "data": data, "out": root / "out", "stdout": done.stdout,
            "stderr": done.stderr, "params": {"QUICK": True, "FLIP_LABELS": FLIP_LABELS}}


def run_in_terminal(command: list[str], timeout: float = 600) -> tuple[int, str]:
    """Run `command` (from the repository) in a pseudo-terminal, as a learner's console runs
    it; its exit status and everything it wrote there. Killed after `timeout` seconds."""
    import os
    import pty
    import threading

    leader, follower = pty.openpty()
    run = subprocess.Popen(command, cwd=REPO, stdout=follower, stderr=follower,
                           stdin=subprocess.DEVNULL)
    os.close(follower)
    killer = threading.Timer(timeout, run.kill)  # a hung run ends the read loop too
    killer.start()
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the run ended and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    killer.cancel()
    return run.wait(), seen.decode(errors="replace")


def chromium() -> str:
    """Debian's Chromium for the tests that look at pages, or a skip saying how to get it
    (a failure under KIT_REQUIRE_BROWSER=1, as in .ci/run)."""
    import os

    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = ("NO CHROMIUM: the browser tests need Debian's chromium package "
                   "(apt-get install chromium; .ci/run installs it)")
        if os.environ.get("KIT_REQUIRE_BROWSER"):
            pytest.fail(message)
        pytest.skip(message)
    return found


#: What notebook 05 and later make in the work folder (the registry's files, and training's
#: backup, logs and checkpoint; `executed` holds the run's notebooks): left out of a copy, the
#: copy is as 04 left it, ready for 05 again.
FROM_05_ON = ("executed", "backup", "logs", "checkpoint.keras", *sorted(
    {Path(a.path).parts[0] for a in ARTEFACTS.values() if a.made_by >= "05"}))


def copy_course(course: dict, root: Path, leave_out: tuple[str, ...] = ()) -> dict:
    """The course run's work and data folders copied into `root` (without the names in
    `leave_out`), as `course` gives them, with WORK_DIR and DATA_DIR set in its params."""
    work, data = root / "work", root / "data"
    shutil.copytree(course["work"], work, ignore=shutil.ignore_patterns(*leave_out))
    shutil.copytree(course["data"], data)
    params = course["params"] | {"WORK_DIR": str(work), "DATA_DIR": str(data)}
    return course | {"work": work, "data": data, "params": params}


def digests(folder: Path) -> dict[str, str]:
    """Every file below `folder`, by its path relative to it, with the SHA-256 of its bytes:
    equal before and after means nothing there was changed, added or removed."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def as_options(params: dict) -> list[str]:
    """`{"SEED": 7}` as the runner's command line takes it: `["-p", "SEED", "7"]`."""
    return [x for name, value in params.items() for x in ("-p", name, str(value))]


def printed(notebook: Path) -> str:
    """Everything an executed notebook's code cells printed or displayed as text, in order."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(o.get("text") or o.get("data", {}).get("text/plain", ""))
                     for c in cells if c["cell_type"] == "code" for o in c.get("outputs", ()))


def write_image(path: Path, size=(64, 64), colour=(200, 60, 30), fmt=None, mode="RGB", **save):
    """Write a solid-colour image with a small gradient (so copies differ by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    ramp = np.linspace(0, 40, w, dtype=np.float32)[None, :, None]
    pixels = np.clip(np.array(colour, dtype=np.float32)[None, None, :] + ramp, 0, 255)
    img = Image.fromarray(np.repeat(pixels, h, axis=0).astype(np.uint8), "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path, format=fmt, **save)
    return path


@pytest.fixture
def make_image():
    return write_image


def save_brightness_model(path: Path, size: int = 16, face_step=None,
                          threshold: float = 0.5) -> Path:
    """A tiny stand-in model saved as notebook 05 saves the real one (a bundle: the model file
    and its card.json in a folder of their own): it takes raw RGB pixels like the kit's model
    (its greyscale and scaling layers) and its output is the mean brightness in [0, 1], so
    bright pictures are 'sad'."""
    import keras

    from helpers.bundle import model_card, new_bundle, save_card
    from helpers.faces import FaceStep
    from helpers.model import preprocessing_layers

    new_bundle(path.parent)
    keras.Sequential([keras.Input((size, size, 3)), *preprocessing_layers(1),
                      keras.layers.GlobalAveragePooling2D()]).save(path)
    save_card(path.parent, model_card(["happy", "sad"], size, 1, face_step or FaceStep("none"),
                                      made_by="tests", threshold=threshold))
    return path


PHOTO = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
#: Where the face is in PHOTO (x, y, w, h), as found by the kit's detector once by hand.
FACE = (159, 118, 206, 206)


def scene(seed: int, size=(480, 400), face_width: int = 200, mirror: bool = False) -> Image.Image:
    """The photo, shrunk to `face_width`, pasted at a random place on a gradient background."""
    rng = np.random.default_rng(seed)
    width, height = size
    c0, c1 = rng.integers(0, 256, (2, 3))
    t = np.linspace(0, 1, width)[None, :, None]
    img = Image.fromarray(np.repeat(c0 * (1 - t) + c1 * t, height, axis=0).astype(np.uint8))
    face = PHOTO.resize((face_width, round(face_width * PHOTO.height / PHOTO.width)))
    img.paste(ImageOps.mirror(face) if mirror else face,
              (int(rng.integers(0, width - face.width + 1)),
               int(rng.integers(0, height - face.height + 1))))
    return img


def side_by_side(left: Image.Image, right: Image.Image) -> Image.Image:
    """A group picture: two photos next to each other on one canvas."""
    canvas = Image.new("RGB", (left.width + right.width, max(left.height, right.height)), "grey")
    canvas.paste(left, (0, 0))
    canvas.paste(right, (left.width, 0))
    return canvas


def face_crop(margin: float, size: int, shift: tuple[int, int] = (0, 0)) -> Image.Image:
    """The face of PHOTO with `margin` x its width around it (moved by `shift` pixels), resized
    to `size` square."""
    from helpers.faces import crop_box

    x, y, w, h = crop_box(FACE, PHOTO.size, margin)
    x, y = x + shift[0], y + shift[1]
    return PHOTO.crop((x, y, x + w, y + h)).resize((size, size), Image.Resampling.LANCZOS)


def landscape() -> Image.Image:
    return Image.fromarray(load_sample_image("china.jpg"))


def noise() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8))


def exif_rotated(path: Path) -> Path:
    """PHOTO stored sideways with an EXIF tag (orientation 6) that tells viewers to turn it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    PHOTO.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=92)
    return path


def progressive_jpeg(extra_scans: int) -> bytes:
    """A small progressive JPEG with its last scan repeated `extra_scans` more times (a scan
    marker, its header and its entropy-coded data, copied whole)."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    return data[:-2] + data[last_scan:-2] * extra_scans + b"\xff\xd9"  # before the end marker
