"""Tests for helpers.synthetic: the generated default dataset (faces + planted dirty files)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers.images import REASONS, ImageError, load_image, open_image
from helpers.synthetic import CLASS_NAMES, draw_face, face_and_mouth, generate_dataset

N_PER_CLASS = 40
GOOD_NAME = re.compile(r"face_\d{5}\.(jpg|png|bmp)")
EXPECTED_REASONS = {
    "corrupt", "not_an_image", "empty_file", "too_small", "duplicate", "unsupported_format",
}
#: Overrides that put an upright, clean face in the middle of the canvas.
CENTRED = {"rotation": 0.0, "face_center": (0.0, 0.0), "face_height": 0.8, "noise": 0.0,
           "blur": 0.0}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): _sha256(p) for p in folder.rglob("*") if p.is_file()}


def _grey(img: Image.Image) -> np.ndarray:
    return np.asarray(img.convert("L"), dtype=np.float64)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synthetic")
    return out, generate_dataset(out, n_per_class=N_PER_CLASS, seed=3)


def _good_files(out: Path, name: str) -> list[Path]:
    return sorted(p for p in (out / name).iterdir() if GOOD_NAME.fullmatch(p.name))


# --- draw_face ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(96, 96), (140, 70), (64, 150)])
def test_draw_face_gives_rgb_image_of_requested_size(size):
    img = draw_face(np.random.default_rng(0), 0.5, size)
    assert img.mode == "RGB" and img.size == size
    assert _grey(img).std() > 5  # not a blank canvas


def test_draw_face_is_deterministic():
    a = draw_face(np.random.default_rng(5), -0.4)
    b = draw_face(np.random.default_rng(5), -0.4)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    c = draw_face(np.random.default_rng(6), -0.4)
    assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize("seed", range(6))
def test_smile_changes_only_the_lower_face(seed):
    happy = _grey(draw_face(np.random.default_rng(seed), 1.0, (96, 96), **CENTRED))
    sad = _grey(draw_face(np.random.default_rng(seed), -1.0, (96, 96), **CENTRED))
    diff = np.abs(happy - sad)
    assert diff.sum() > 96 * 96 * 0.5  # a visible change, not a pixel or two
    # Face centre is at row 48; the mouth sits below it, so the difference must too.
    assert diff[48:].sum() / diff.sum() > 0.97


@pytest.mark.parametrize("seed", range(6))
def test_the_mouth_box_holds_what_the_smile_changes(seed):
    """The generator knows where the label is: notebook 08 checks the model looks there."""
    size = (120, 96) if seed % 2 else (96, 96)
    happy, happy_box = face_and_mouth(np.random.default_rng(seed), 1.0, size)
    sad, sad_box = face_and_mouth(np.random.default_rng(seed), -1.0, size)
    assert np.array_equal(np.asarray(happy), np.asarray(draw_face(np.random.default_rng(seed),
                                                                  1.0, size)))
    diff = np.abs(_grey(happy) - _grey(sad))
    ys, xs = np.nonzero(diff > 20)
    x0 = min(happy_box[0], sad_box[0]) - 2
    y0 = min(happy_box[1], sad_box[1]) - 2
    x1, y1 = max(happy_box[2], sad_box[2]) + 2, max(happy_box[3], sad_box[3]) + 2
    inside = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    assert len(xs) > 20 and inside.mean() > 0.97
    assert (x1 - x0) * (y1 - y0) < 0.25 * size[0] * size[1]  # a box, not the whole picture


def test_smile_curves_up_and_frown_curves_down():
    clean = dict(CENTRED, open_mouth=False, beard=False, background="solid",
                 bg_colours=((255, 255, 255), (255, 255, 255)), skin=(230, 190, 160),
                 lip_colour_factor=0.3, brightness=1.0, contrast=1.0, light_gradient=0.0)
    for seed in range(4):
        flat = _grey(draw_face(np.random.default_rng(seed), 0.0, (96, 96), **clean))
        for smile in (1.0, -1.0):
            img = _grey(draw_face(np.random.default_rng(seed), smile, (96, 96), **clean))
            rows, cols = np.nonzero(img < flat - 40)  # lip pixels the flat mouth lacks
            assert len(rows) > 5
            centre = np.abs(cols - 48) < np.ptp(cols) / 6
            middle, corners = rows[centre].mean(), rows[~centre].mean()
            # Image rows grow downwards: a smile's middle sits below its corners.
            assert (middle > corners) if smile > 0 else (middle < corners)


def test_draw_face_rejects_bad_arguments():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError):
        draw_face(rng, 1.5)
    with pytest.raises(TypeError):
        draw_face(rng, 0.5, moustache_length=3)


def test_face_on_a_big_canvas():
    img = draw_face(np.random.default_rng(1), 0.8, (640, 480), face_height=0.25)
    assert img.size == (640, 480)


# --- generate_dataset ---------------------------------------------------------------------


def test_counts_layout_and_names(dataset):
    out, result = dataset
    assert result["counts"] == dict.fromkeys(CLASS_NAMES, N_PER_CLASS)
    assert len(result["mouths"]) == N_PER_CLASS * len(CLASS_NAMES)
    assert all((out / path).is_file() and box[0] < box[2] and box[1] < box[3]
               for path, box in result["mouths"].items())
    assert sorted(p.name for p in out.iterdir()) == sorted(CLASS_NAMES)
    planted = {r["path"] for r in result["planted"]}
    for name in CLASS_NAMES:
        files = sorted(p.relative_to(out).as_posix() for p in (out / name).iterdir())
        good = [f for f in files if f not in planted]
        assert len(good) == N_PER_CLASS
        assert all(GOOD_NAME.fullmatch(Path(f).name) for f in good)
        assert all(f.isascii() and " " not in f for f in files)


def test_every_good_image_decodes(dataset):
    out, _ = dataset
    expected_format = {".jpg": "JPEG", ".png": "PNG", ".bmp": "BMP"}
    for name in CLASS_NAMES:
        for path in _good_files(out, name):
            assert load_image(path).shape == (48, 48, 3)
            with Image.open(path) as img:
                assert img.format == expected_format[path.suffix]


def test_planted_files_get_their_reasons(dataset):
    out, result = dataset
    planted = result["planted"]
    assert {r["reason"] for r in planted} == EXPECTED_REASONS
    assert len(planted) == len(EXPECTED_REASONS)
    assert {r["path"].split("/")[0] for r in planted} == set(CLASS_NAMES)  # spread over both
    for record in planted:
        rel, reason = record["path"], record["reason"]
        assert reason in REASONS and rel.isascii() and "\\" not in rel
        path = out / rel
        assert path.is_file()
        if reason == "too_small":
            assert min(open_image(path).size) < 32
        elif reason == "duplicate":
            twins = [p for p in _good_files(out, path.parent.name) if _sha256(p) == _sha256(path)]
            assert len(twins) == 1 and twins[0] != path
        else:
            with pytest.raises(ImageError) as err:
                open_image(path)
            assert err.value.reason == reason, rel


def test_parameters_vary(dataset):
    out, _ = dataset
    sizes, suffixes, means = [], [], []
    for name in CLASS_NAMES:
        for path in _good_files(out, name):
            img = open_image(path)
            sizes.append(img.size)
            suffixes.append(path.suffix)
            means.append(_grey(img).mean())
    assert all(64 <= side <= 160 for size in sizes for side in size)
    assert len(set(sizes)) > 30
    assert any(w != h for w, h in sizes)
    assert suffixes.count(".jpg") > len(suffixes) / 2
    assert {".png", ".bmp"} <= set(suffixes)
    assert np.std(means) > 10  # lighting and backgrounds differ


def test_no_planted_files_when_clean(tmp_path):
    result = generate_dataset(tmp_path, n_per_class=2, seed=1, dirty=False)
    assert result["planted"] == []
    assert len(_hashes(tmp_path)) == 4


def test_same_seed_gives_identical_bytes(tmp_path):
    a = generate_dataset(tmp_path / "a", n_per_class=5, seed=11)
    b = generate_dataset(tmp_path / "b", n_per_class=5, seed=11)
    assert a == b
    hashes_a, hashes_b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert hashes_a == hashes_b and len(hashes_a) == 10 + len(EXPECTED_REASONS)
    # A smaller set is a prefix of a bigger one with the same seed.
    generate_dataset(tmp_path / "small", n_per_class=3, seed=11, dirty=False)
    for rel, digest in _hashes(tmp_path / "small").items():
        assert hashes_a[rel] == digest


def test_other_seed_gives_other_images(tmp_path):
    generate_dataset(tmp_path / "a", n_per_class=5, seed=11, dirty=False)
    generate_dataset(tmp_path / "b", n_per_class=5, seed=12, dirty=False)
    assert not set(_hashes(tmp_path / "a").values()) & set(_hashes(tmp_path / "b").values())


def test_rerun_overwrites_and_leaves_other_files_alone(tmp_path):
    mine = tmp_path / "happy" / "my_photo.jpg"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own bytes")
    (tmp_path / "notes.txt").write_text("keep me")
    generate_dataset(tmp_path, n_per_class=4, seed=2)
    first = _hashes(tmp_path)
    generate_dataset(tmp_path, n_per_class=4, seed=2)
    assert _hashes(tmp_path) == first
    assert len(first) == 8 + len(EXPECTED_REASONS) + 2
    assert mine.read_bytes() == b"my own bytes"
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_rejects_bad_counts(tmp_path):
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, n_per_class=-1)
    with pytest.raises(ValueError):
        generate_dataset(tmp_path, n_per_class=0, dirty=True)
