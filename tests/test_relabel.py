"""Cleaning driven by the model: planted flips, training-only top losses, marks carried into the
split without touching the originals, and exercise 14's check."""


import numpy as np
import pandas as pd
import pytest

from conftest import digests, save_brightness_model, write_image
from helpers.checks import NotYet
from helpers.checks_after_training import check_picture_loss
from helpers.clean import check_copies, clean_images
from helpers.relabel import (
    decisions_table,
    follow_review,
    labels_as_they_were,
    picture_loss,
    planted_in_training,
    suggested_marks,
    training_losses,
)
from helpers.review import apply_review
from helpers.split import list_pictures
from helpers.synthetic import _make_image, flip_labels, generate_dataset


def test_flip_labels_swaps_drawn_faces_between_the_class_folders(tmp_path):
    generated = generate_dataset(tmp_path, n_per_class=40, seed=3)
    mouths = dict(generated["mouths"])
    flipped = flip_labels(tmp_path, generated, 0.1, seed=3)
    assert len(flipped) == 8 and generated["counts"] == {"happy": 40, "sad": 40}
    for flip in flipped:
        cls, name = flip["path"].split("/")
        assert flip["drawn_as"] != cls and not name.startswith("face_00000")
        number = int(name[5:10])
        data, ext, box = _make_image(3, ("happy", "sad").index(flip["drawn_as"]), number)
        assert (tmp_path / flip["path"]).read_bytes() == data  # a face drawn for the other class
        was = f"{flip['drawn_as']}/{name}"
        assert generated["mouths"][flip["path"]] == mouths[was] == list(box)
    assert len(generated["mouths"]) == 80 and sorted(generated["mouths"].values()) == sorted(
        mouths.values())
    for cls in ("happy", "sad"):
        assert len(list((tmp_path / cls).glob("face_?????.*"))) == 40
    again = tmp_path / "again"
    assert flip_labels(again, generate_dataset(again, 40, seed=3), 0.1, seed=3) == flipped
    assert flip_labels(tmp_path / "none", generate_dataset(tmp_path / "none", 5), 0.0) == []
    with pytest.raises(ValueError, match="below 0.5"):
        flip_labels(tmp_path, generated, 0.5)


@pytest.fixture
def noisy(tmp_path):
    """Dark 'happy' and bright 'sad' pictures, a brightness model (bright = sad), and three bright
    pictures in happy/: one each in the training, validation and test split."""
    data, work = tmp_path / "data", tmp_path / "work"
    for i in range(10):
        write_image(data / "happy" / f"h{i}.png", colour=(20 + 3 * i,) * 3)
        write_image(data / "sad" / f"s{i}.png", colour=(200 + 3 * i,) * 3)
    for name in ("train", "val", "test"):
        write_image(data / "happy" / f"wrong_{name}.png", colour=(236 + len(name),) * 3)
    report = clean_images(data, work, near_duplicate_distance=None)
    files = list_pictures(work / "clean").drop(columns="sha256")
    split = ["val" if f.endswith(("1.png", "wrong_val.png")) else
             "test" if f.endswith(("2.png", "wrong_test.png")) else "train" for f in files["file"]]
    manifest = files.assign(split=split)
    model_path = save_brightness_model(tmp_path / "model" / "model.keras", size=16)
    import keras

    return data, work, report, manifest, keras.models.load_model(model_path)


def test_top_losses_rank_training_pictures_only(noisy):
    _, work, report, manifest, model = noisy
    losses = training_losses(model, manifest, work / "clean", report, 16)
    assert set(losses["file"]) == set(manifest.loc[manifest["split"] == "train", "file"])
    assert losses["loss"].is_monotonic_decreasing
    assert losses["file"].iloc[0] == "happy/wrong_train.png"  # the val/test ones never appear
    assert losses["key"].iloc[0] == "happy/wrong_train.png"
    p = model.predict(np.zeros((1, 16, 16, 3)), verbose=0)
    assert losses["loss"].iloc[-1] < 0.3 < losses["loss"].iloc[0] and p.shape == (1, 1)
    for row in losses.itertuples():
        assert row.loss == pytest.approx(picture_loss(row.label, row.p))
    with pytest.raises(ValueError, match="no training pictures"):
        training_losses(model, manifest.assign(split="val"), work / "clean", report, 16)


def test_marks_reach_the_split_and_the_report_but_never_the_originals(noisy):
    data, work, report, manifest, model = noisy
    originals = digests(data)
    top = training_losses(model, manifest, work / "clean", report, 16).head(3)
    marks = suggested_marks(top)
    assert marks[top["key"].iloc[0]] == "move"
    assert list(marks.values()).count("move") == 1  # the model answers the others correctly
    marks[top["key"].iloc[1]] = "set_aside"
    reviewed_report = apply_review(report, marks, work)
    assert digests(data) == originals
    assert len(reviewed_report) == len(report)  # every file is still in the report
    check_copies(reviewed_report, work)

    reviewed = follow_review(manifest, top, reviewed_report)
    set_aside = top["file"].iloc[1]
    new = reviewed.set_index("file")
    [moved_to] = [f for f in new.index if f.endswith("wrong_train.png")]
    assert moved_to.startswith("sad/") and new.loc[moved_to, ["class", "label", "split"]].tolist() \
        == ["sad", 1, "train"]
    assert set_aside not in new.index and len(reviewed) == len(manifest) - 1
    held_out = manifest[manifest["split"] != "train"].reset_index(drop=True)
    assert reviewed[reviewed["split"] != "train"].reset_index(drop=True).equals(held_out)
    assert all((work / "clean" / f).is_file() for f in reviewed["file"])

    before = labels_as_they_were(manifest, top, reviewed_report)
    assert len(before) == (manifest["split"] == "train").sum()
    assert all((work / p).is_file() for p in before["path"])
    assert before["label"].tolist() == manifest.loc[manifest["split"] == "train", "label"].tolist()

    flips = [{"path": "happy/wrong_train.png", "drawn_as": "sad"},
             {"path": "happy/wrong_val.png", "drawn_as": "sad"}]
    decisions = decisions_table(top, reviewed_report, flips)
    assert decisions["decision"].tolist() == ["move", "set_aside", "keep"]
    assert decisions["planted_flip"].tolist() == [True, False, False]
    assert planted_in_training(manifest, report, flips) == 1


def test_suggestions_move_sure_disagreements_and_set_aside_doubtful_ones():
    top = pd.DataFrame({"key": list("abcde"), "label": [0, 0, 1, 1, 0],
                        "p": [0.95, 0.6, 0.05, 0.3, 0.1]})
    assert suggested_marks(top) == {"a": "move", "b": "set_aside", "c": "move",
                                    "d": "set_aside", "e": "keep"}
    assert suggested_marks(top, sure=0.5)["b"] == "move"


def test_follow_review_refuses_held_out_pictures(noisy):
    _, work, report, manifest, model = noisy
    top = training_losses(model, manifest, work / "clean", report, 16).head(1)
    with pytest.raises(ValueError, match="not a training picture"):
        follow_review(manifest.assign(split="test"), top, report)


def test_exercise_14_checks_the_loss_of_one_picture(capsys):
    check_picture_loss(-np.log(0.2), 1, 0.2)
    check_picture_loss(-np.log(1 - 0.9), 0, 0.9)
    assert "✓ Exercise 14" in capsys.readouterr().out
    with pytest.raises(NotYet, match="other"):
        check_picture_loss(-np.log(0.9), 0, 0.9)
    with pytest.raises(NotYet, match="not -log"):
        check_picture_loss(1.0, 0, 0.9)
    with pytest.raises(NotYet, match="not done yet"):
        check_picture_loss(..., 0, 0.9)
