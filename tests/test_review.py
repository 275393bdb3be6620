"""Review: marks applied to the work folders (never the originals), and the widget's state."""


import numpy as np
import pandas as pd
import pytest

from conftest import digests
from helpers.clean import REPORT_NAME, USABLE_OUTCOMES, clean_images
from helpers.review import MOVED_PREFIX, ReviewWidget, apply_review, review_widget, show_outcomes
from helpers.split import split_dataset
from helpers.synthetic import draw_face


def face(path, seed, size=(96, 96), **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_face(np.random.default_rng(seed), 0.5, size).save(path, **save)
    return path


@pytest.fixture
def cleaned(tmp_path):
    """A cleaned pile: each class has usable faces and set-aside files of several kinds."""
    data, work = tmp_path / "data", tmp_path / "work"
    for i in range(5):
        face(data / "happy" / f"h{i}.jpg", i)
        face(data / "sad" / f"s{i}.jpg", 10 + i)
    face(data / "happy" / "h0_small.webp", 0, size=(64, 64))  # a near copy of h0.jpg
    face(data / "sad" / "tiny.png", 20, size=(12, 12))
    (data / "sad" / "notes.jpg").write_text("not an image")
    report = clean_images(data, work)
    assert report.set_index("file").loc[
        ["happy/h0_small.webp", "sad/tiny.png", "sad/notes.jpg"], "reason"
    ].tolist() == ["near_duplicate", "too_small", "not_an_image"]
    return data, work, report


def test_marks_move_copies_between_work_folders_and_update_the_report(cleaned):
    data, work, report = cleaned
    originals = digests(data)
    marks = {
        "happy/h0_small.webp": "keep",  # set aside -> clean/happy, converted to PNG
        "sad/tiny.png": "move",  # set aside -> clean/happy
        "happy/h1.jpg": "move",  # clean/happy -> clean/sad
        "sad/s1.jpg": "set_aside",  # clean/sad -> set_aside/sad
        "happy/h2.jpg": "keep",  # already there: nothing changes
    }
    reviewed = apply_review(report, marks, work).set_index("file")
    assert digests(data) == originals
    expected = {
        "happy/h0_small.webp": ("converted", "kept_on_review", "clean/happy/h0_small.webp.png"),
        "sad/tiny.png": ("kept", "relabelled", f"clean/happy/{MOVED_PREFIX.format('sad')}tiny.png"),
        "happy/h1.jpg": ("kept", "relabelled", f"clean/sad/{MOVED_PREFIX.format('happy')}h1.jpg"),
        "sad/s1.jpg": ("set_aside", "set_aside_on_review", "set_aside/sad/s1.jpg"),
        "happy/h2.jpg": ("kept", "", "clean/happy/h2.jpg"),
    }
    for file, (outcome, reason, output) in expected.items():
        assert tuple(reviewed.loc[file, ["outcome", "reason", "output"]]) == (outcome, reason,
                                                                              output)
        assert (work / output).is_file()
    assert not (work / "set_aside" / "happy" / "h0_small.webp").exists()
    assert not (work / "clean" / "happy" / "h1.jpg").exists()
    assert "(was set_aside: near_duplicate)" in reviewed.at["happy/h0_small.webp", "detail"]
    saved = pd.read_csv(work / REPORT_NAME, keep_default_na=False).set_index("file")
    assert saved.loc[list(expected), "output"].tolist() == [e[2] for e in expected.values()]

    # Every file is still in exactly one place, and the split sees the new labels.
    copies = [p for p in work.rglob("*") if p.is_file() and p.suffix != ".csv"
              and not p.name.startswith(".")]
    assert len(copies) == (reviewed["output"] != "").sum()
    split = split_dataset(work / "clean").set_index("file")
    usable = reviewed[reviewed["outcome"].isin(USABLE_OUTCOMES)]
    assert len(split) == len(usable)
    assert split.at[f"sad/{MOVED_PREFIX.format('happy')}h1.jpg", "class"] == "sad"


def test_applying_the_same_marks_twice_changes_nothing(cleaned):
    _, work, report = cleaned
    marks = {"happy/h1.jpg": "move", "sad/tiny.png": "keep", "sad/s2.jpg": "set_aside"}
    once = apply_review(report, marks, work)
    files = digests(work)
    twice = apply_review(once, marks, work)
    pd.testing.assert_frame_equal(once, twice)
    assert digests(work) == files
    back = apply_review(twice, {"happy/h1.jpg": "keep"}, work).set_index("file")
    assert back.at["happy/h1.jpg", "output"] == "clean/happy/h1.jpg"


def test_a_report_read_back_from_csv_can_be_reviewed(cleaned):
    _, work, report = cleaned
    report.to_csv(work / REPORT_NAME, index=False)
    reread = pd.read_csv(work / REPORT_NAME)
    reviewed = apply_review(reread, {"happy/h0_small.webp": "keep"}, work).set_index("file")
    assert reviewed.at["happy/h0_small.webp", "outcome"] == "converted"


@pytest.mark.parametrize(
    "marks, message",
    [
        ({"sad/notes.jpg": "keep"}, "cannot be kept"),
        ({"happy/nope.jpg": "keep"}, "not in the report"),
        ({"happy/h1.jpg": "delete"}, "mark must be one of"),
    ],
    ids=["undecodable", "unknown_file", "unknown_mark"],
)
def test_bad_marks_are_refused_before_anything_moves(cleaned, marks, message):
    _, work, report = cleaned
    before = digests(work)
    with pytest.raises(ValueError, match=message):
        apply_review(report, {"happy/h2.jpg": "set_aside", **marks}, work)
    assert digests(work) == before


def test_widget_keeps_marks_when_switching_class_and_applies_them(cleaned):
    _, work, report = cleaned
    widget = review_widget(report, work)
    assert isinstance(widget, ReviewWidget)
    assert widget.class_picker.options == ("happy", "sad")
    assert list(widget.choices) == ["happy/h0_small.webp"]
    assert widget.choices["happy/h0_small.webp"].value == "set_aside"  # where it is now
    widget.choices["happy/h0_small.webp"].value = "keep"

    widget.class_picker.value = "sad"
    assert sorted(widget.choices) == ["sad/notes.jpg", "sad/tiny.png"]
    assert widget.choices["sad/notes.jpg"].disabled  # cannot be decoded: only set aside
    widget.choices["sad/tiny.png"].value = "move"

    widget.class_picker.value = "happy"
    assert widget.choices["happy/h0_small.webp"].value == "keep"
    assert widget.marks == {"happy/h0_small.webp": "keep", "sad/tiny.png": "move"}

    widget.apply_button.click()
    assert widget.marks == {}
    assert "applied 2 mark(s)" in widget.status.value
    reviewed = widget.report.set_index("file")
    assert reviewed.at["happy/h0_small.webp", "outcome"] == "converted"
    assert reviewed.at["sad/tiny.png", "reason"] == "relabelled"
    assert widget.choices["happy/h0_small.webp"].value == "keep"  # shows the new state


def test_widget_pages_keep_marks_and_any_rows_can_be_reviewed(cleaned):
    _, work, report = cleaned
    usable = report[report["outcome"].isin(USABLE_OUTCOMES)]
    widget = review_widget(report, work, rows=usable, page_size=2)
    assert widget.page.max == 3 and len(widget.choices) == 2
    first = next(iter(widget.choices))
    widget.choices[first].value = "move"
    widget.page.value = 2
    assert first not in widget.choices
    widget.page.value = 1
    assert widget.choices[first].value == "move" and widget.marks == {first: "move"}


def test_show_outcomes_draws_crops_or_rejects(cleaned):
    _, work, report = cleaned
    fig = show_outcomes(report, work, ["set_aside"], ncols=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["happy: near_duplicate", "sad: not_an_image", "sad: too_small"]
    assert show_outcomes(report, work, ["cropped"]) is None


def test_a_copy_deleted_by_hand_is_named_before_anything_moves(cleaned):
    _, work, report = cleaned
    (work / report.set_index("file").loc["sad/s2.jpg", "output"]).unlink()
    before = digests(work)
    with pytest.raises(ValueError, match="sad/s2.jpg: its copy .* is missing"):
        apply_review(report, {"happy/h1.jpg": "move", "sad/s2.jpg": "move"}, work)
    assert digests(work) == before


def test_a_report_that_lists_a_file_twice_is_refused_before_anything_moves(cleaned):
    _, work, report = cleaned
    twice = pd.concat([report, report[report["file"] == "happy/h1.jpg"]], ignore_index=True)
    before = digests(work)
    with pytest.raises(ValueError, match="lists happy/h1.jpg more than once"):
        apply_review(twice, {"happy/h1.jpg": "move"}, work)
    assert digests(work) == before


def test_cleaning_again_first_removes_the_report_of_the_clean_folder_it_replaces(cleaned,
                                                                                 monkeypatch):
    """An interrupted notebook 02 leaves no report describing files that are gone: notebook
    03 says to run 02 again instead of failing on a missing picture."""
    from helpers import clean
    from helpers.workspace import Work, write_table

    data, work, report = cleaned
    write_table(report, work / REPORT_NAME)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(clean, "check_copies", interrupted)
    with pytest.raises(KeyboardInterrupt):
        clean_images(data, work)
    with pytest.raises(FileNotFoundError, match="run notebook 02_clean_data first"):
        Work(work).table("cleaning_report")
