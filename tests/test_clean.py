"""Cleaning: every file accounted for once, originals untouched, each rule tested."""

import hashlib

import pytest

from helpers.clean import clean_images, set_aside_table, summarize_report
from helpers.workspace import OUTPUT_MARKER


def _snapshot(folder):
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def messy(tmp_path, make_image):
    data = tmp_path / "data"
    make_image(data / "happy" / "good.jpg", colour=(10, 200, 10))
    make_image(data / "happy" / "nested" / "deep.png", colour=(20, 100, 200))
    make_image(data / "happy" / "good_copy.jpg", colour=(10, 200, 10))
    make_image(data / "happy" / "photo.webp", fmt="WEBP", colour=(90, 90, 90))
    make_image(data / "happy" / "tiny.png", size=(10, 10))
    (data / "happy" / "empty.jpg").write_bytes(b"")
    (data / "happy" / ".DS_Store").write_bytes(b"\x00\x01")
    make_image(data / "sad" / "good.png", colour=(200, 10, 10))
    make_image(data / "sad" / "cmyk.jpg", mode="CMYK", colour=(50, 50, 120))
    (data / "sad" / "notes.jpg").write_text("not an image")
    make_image(data / "sad" / "conflict.png", colour=(1, 2, 3))
    make_image(data / "happy" / "conflict.png", colour=(1, 2, 3))
    return data


def test_every_file_has_exactly_one_outcome_and_originals_are_untouched(messy, tmp_path):
    before = _snapshot(messy)
    report = clean_images(messy, tmp_path / "work", min_size=32)
    assert _snapshot(messy) == before
    assert sorted(report["file"]) == sorted(p.relative_to(messy).as_posix() for p in before)
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
