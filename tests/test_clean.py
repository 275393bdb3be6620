"""Cleaning: every file accounted for once, originals untouched, each rule tested.

Face cropping is tested in test_faces.py."""

import io
from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image, ImageEnhance

from conftest import digests
from helpers.clean import (
    USABLE_OUTCOMES,
    clean_images,
    set_aside_table,
    summarize_report,
)
from helpers.collect import import_folder
from helpers.duplicates import near_pairs
from helpers.images import REASONS
from helpers.review import apply_review
from helpers.synthetic import draw_face, generate_dataset
from helpers.workspace import OUTPUT_MARKER


def face(path, seed, size=(96, 96), mode="RGB", **save):
    """A drawn face: real structure, so no two seeds look alike to the perceptual hash (flat
    test images all do: the hash sees brightness patterns, not colour)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = draw_face(np.random.default_rng(seed), 0.5, size)
    img.convert(mode).save(path, **save)
    return path


@pytest.fixture
def messy(tmp_path, make_image):
    data = tmp_path / "data"
    face(data / "happy" / "good.jpg", 1)
    face(data / "happy" / "nested" / "deep.png", 2)
    face(data / "happy" / "good_copy.jpg", 1)
    face(data / "happy" / "photo.webp", 3)
    make_image(data / "happy" / "tiny.png", size=(10, 10))
    (data / "happy" / "empty.jpg").write_bytes(b"")
    (data / "happy" / ".DS_Store").write_bytes(b"\x00\x01")
    face(data / "sad" / "good.png", 4)
    face(data / "sad" / "cmyk.jpg", 5, mode="CMYK")
    (data / "sad" / "notes.jpg").write_text("not an image")
    face(data / "sad" / "conflict.png", 6)
    face(data / "happy" / "conflict.png", 6)
    return data


def test_every_file_has_exactly_one_outcome_and_originals_are_untouched(messy, tmp_path):
    before = digests(messy)
    report = clean_images(messy, tmp_path / "work", min_size=32)
    assert digests(messy) == before
    assert sorted(report["file"]) == sorted(before)
    outcome = dict(zip(report["file"], report["outcome"]))
    reason = dict(zip(report["file"], report["reason"]))
    assert outcome["happy/good.jpg"] == "kept"
    assert outcome["happy/nested/deep.png"] == "kept"
    assert (outcome["happy/photo.webp"], outcome["sad/cmyk.jpg"]) == ("converted", "converted")
    assert reason["happy/good_copy.jpg"] == "duplicate"
    assert reason["happy/tiny.png"] == "too_small"
    assert reason["happy/empty.jpg"] == "empty_file"
    assert reason["sad/notes.jpg"] == "not_an_image"
    assert reason["happy/conflict.png"] == reason["sad/conflict.png"] == "label_conflict"
    assert (outcome["happy/.DS_Store"], reason["happy/.DS_Store"]) == ("ignored", "hidden")
    counts = report["outcome"].value_counts()
    assert counts.sum() == len(before)
    assert summarize_report(report).loc["total", "total"] == len(before)
    assert len(set_aside_table(report)) == counts["set_aside"]


def test_outputs_land_in_clean_and_set_aside_folders(messy, tmp_path):
    work = tmp_path / "work"
    report = clean_images(messy, work)
    for _, row in report.iterrows():
        if row["outcome"] in ("kept", "converted"):
            assert row["output"].startswith("clean/") and (work / row["output"]).is_file()
        elif row["outcome"] == "set_aside":
            assert row["output"].startswith("set_aside/") and (work / row["output"]).is_file()
    converted = report.loc[report["file"] == "happy/photo.webp", "output"].item()
    assert converted.endswith(".png")
    kept = report.loc[report["file"] == "happy/good.jpg", "output"].item()
    assert (work / kept).read_bytes() == (messy / "happy" / "good.jpg").read_bytes()
    nested = report.loc[report["file"] == "happy/nested/deep.png", "output"].item()
    assert nested == "clean/happy/nested__deep.png"


def test_rerun_gives_the_same_result_without_leftovers(messy, tmp_path):
    first = clean_images(messy, tmp_path / "work")
    (messy / "happy" / "tiny.png").unlink()  # the user deletes a file, then re-runs
    second = clean_images(messy, tmp_path / "work")
    assert len(second) == len(first) - 1
    assert not (tmp_path / "work" / "set_aside" / "happy" / "tiny.png").exists()


def test_refuses_work_dir_inside_data_dir(messy):
    with pytest.raises(ValueError, match="DATA_DIR and WORK_DIR apart"):
        clean_images(messy, messy / "work")


def test_refuses_to_replace_a_folder_it_did_not_make(messy, tmp_path, make_image):
    make_image(tmp_path / "work" / "clean" / "precious.jpg")
    with pytest.raises(ValueError, match="did not make"):
        clean_images(messy, tmp_path / "work")
    assert (tmp_path / "work" / "clean" / "precious.jpg").exists()
    assert not (tmp_path / "work" / "clean" / OUTPUT_MARKER).exists()


def test_an_identical_copy_left_out_at_import_is_a_report_row(tmp_path):
    """import_folder stores one of two identical files (the other: already_present); the
    cleaning report still has a row per source file, and the copy can be reviewed."""
    src, data, work = tmp_path / "photos", tmp_path / "data", tmp_path / "work"
    face(src / "happy" / "me.png", 1)
    (src / "happy" / "album").mkdir()
    (src / "happy" / "album" / "me again.png").write_bytes((src / "happy" / "me.png").read_bytes())
    face(src / "happy" / "other.png", 2)
    face(src / "sad" / "frown.png", 3)
    manifest = import_folder(src, data)
    copy = manifest.loc[manifest["status"] == "already_present"].squeeze()
    assert len(list(data.rglob("*.png"))) == 3  # the copy was not imported
    import_folder(src, data)  # importing again must not make the other files copies

    report = clean_images(data, work)
    assert len(report) == 4 and report["file"].is_unique  # one row per source file
    row = report.set_index("file").loc[copy["original_path"]]
    assert (row["class"], row["outcome"], row["reason"]) == ("happy", "set_aside", "duplicate")
    assert row["detail"].startswith(f"exact copy of {copy['stored_path']}")
    assert row["sha256"] == report.set_index("file").at[copy["stored_path"], "sha256"]
    assert (work / row["output"]).read_bytes() == Path(copy["original_path"]).read_bytes()
    assert set_aside_table(report)["file"].tolist() == [copy["original_path"]]

    reviewed = apply_review(report, {copy["original_path"]: "keep"}, work)
    assert reviewed.set_index("file").at[copy["original_path"], "outcome"] == "kept"


# --------------------------------------------------------------------------- near copies

PHOTO = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")


def _jpeg(img, quality):
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue()))


NEAR_COPIES = {
    "half_size.png": lambda img: img.resize((img.width // 2, img.height // 2)),
    "reencoded.jpg": lambda img: _jpeg(img, 40),
    "brighter.png": lambda img: ImageEnhance.Brightness(img).enhance(1.1),
    "small_and_reencoded.jpg": lambda img: _jpeg(img.resize((200, 234)), 60),
}


@pytest.mark.parametrize("name", NEAR_COPIES)
def test_a_near_copy_in_the_same_class_is_set_aside_and_the_largest_kept(name, tmp_path):
    data = tmp_path / "data"
    (data / "happy").mkdir(parents=True)
    copy = NEAR_COPIES[name](PHOTO)
    # A smaller copy is set aside even when listed first; of equal sizes the first is kept.
    copy_name = f"a_{name}" if copy.size != PHOTO.size else f"z_{name}"
    copy.save(data / "happy" / copy_name)
    PHOTO.save(data / "happy" / "original.png")
    PHOTO.resize((200, 234)).rotate(90, expand=True).save(data / "happy" / "turned.png")
    face(data / "sad" / "other.png", 1)
    report = clean_images(data, tmp_path / "work").set_index("file")
    assert report.at["happy/original.png", "outcome"] == "kept"
    assert report.at["happy/turned.png", "outcome"] == "kept"  # a different picture to phash
    row = report.loc[f"happy/{copy_name}"]
    assert (row["outcome"], row["reason"]) == ("set_aside", "near_duplicate")
    assert row["detail"].startswith("near copy of happy/original.png")
    off = clean_images(data, tmp_path / "work", near_duplicate_distance=None)
    assert (off["outcome"] != "set_aside").all()


def test_a_near_copy_in_the_other_class_is_a_label_conflict(tmp_path):
    data = tmp_path / "data"
    PHOTO.save((data / "happy").mkdir(parents=True) or data / "happy" / "her.png")
    NEAR_COPIES["reencoded.jpg"](PHOTO).save((data / "sad").mkdir() or data / "sad" / "her.jpg")
    face(data / "sad" / "someone_else.png", 2)
    report = clean_images(data, tmp_path / "work").set_index("file")
    assert report.at["sad/someone_else.png", "outcome"] == "kept"
    for file, other in [("happy/her.png", "sad/her.jpg"), ("sad/her.jpg", "happy/her.png")]:
        assert report.loc[file, ["outcome", "reason"]].tolist() == ["set_aside", "label_conflict"]
        assert report.at[file, "detail"] == f"looks like {other}"


def test_generated_faces_have_no_false_near_copies(tmp_path):
    """The kit's default data: only the planted files are set aside (as in notebook 02)."""
    planted = generate_dataset(tmp_path / "data", n_per_class=150, seed=42)["planted"]
    report = clean_images(tmp_path / "data", tmp_path / "work")
    set_aside = report[report["outcome"] == "set_aside"]
    assert dict(zip(set_aside["file"], set_aside["reason"])) == {
        p["path"]: p["reason"] for p in planted}


def test_report_uses_the_known_vocabulary_and_adds_up(messy, tmp_path):
    report = clean_images(messy, tmp_path / "work")
    known = REASONS
    assert set(report["reason"]) - {""} <= set(known)
    counts = report["outcome"].value_counts()
    assert counts.reindex([*USABLE_OUTCOMES, "set_aside", "ignored"], fill_value=0).sum() == len(
        report)
    assert report.loc[report["outcome"].isin(USABLE_OUTCOMES), "phash"].str.len().eq(64).all()


def test_near_pairs_finds_exactly_the_close_earlier_hashes():
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (3000, 256), dtype=np.uint8)
    for i in range(0, 3000, 7):  # plant near copies of earlier hashes
        j = int(rng.integers(0, i + 1))
        bits[i] = bits[j]
        bits[i, rng.choice(256, int(rng.integers(0, 30)), replace=False)] ^= 1
    expected = [np.flatnonzero((bits[:i] != bits[i]).sum(axis=1) <= 20).tolist()
                for i in range(len(bits))]
    found = near_pairs(bits, 20, block=512)  # several blocks, so block edges are crossed
    assert [sorted(f) for f in found] == expected
    assert sum(map(len, expected)) > 300  # the planted copies are there to be found
