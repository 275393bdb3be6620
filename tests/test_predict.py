"""Prediction: the training preprocessing (read from the model's card), one answer per face, a
clear line for a photo without a face, errors not crashes, and the same through TFLite."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import ImageOps

from conftest import (
    PHOTO,
    REPO,
    face_crop,
    landscape,
    save_brightness_model,
    side_by_side,
    write_image,
)
from helpers.bundle import CARD_FILE, load_card, model_card, new_bundle, save_card
from helpers.faces import FaceRules, FaceStep, crop_face
from helpers.images import load_image, model_view, open_image, to_array
from helpers.predict import classify_images, load_classifier, main, real_photo_classifier

PHOTOS = FaceStep("face_crops", FaceRules(margin=0.07))


@pytest.fixture
def model_path(tmp_path):
    return save_brightness_model(tmp_path / "model" / "model.keras")


@pytest.fixture
def face_model(tmp_path):
    """The same stand-in, saved as if trained on face crops (48 px, the FER framing)."""
    return save_brightness_model(tmp_path / "faces" / "model.keras", 48, PHOTOS)


def test_classify_uses_the_training_preprocessing(model_path, tmp_path, make_image):
    bright = make_image(tmp_path / "bright.png", colour=(230, 230, 230))
    dark = make_image(tmp_path / "dark.jpg", colour=(10, 10, 10))
    classifier = load_classifier(model_path)
    results = classify_images(classifier, [bright, dark])
    assert [r["label"] for r in results] == ["sad", "happy"]
    expected = float(model_view(load_image(bright, 16)).mean())
    assert results[0]["probabilities"]["sad"] == pytest.approx(expected, abs=1e-3)
    assert results[0]["confidence"] == results[0]["probabilities"]["sad"]
    assert "faces" not in results[0]  # trained on whole pictures: no face step


def test_the_threshold_saved_with_the_model_decides_the_label(model_path, tmp_path, make_image):
    grey = make_image(tmp_path / "grey.png", colour=(100, 100, 100))
    p_sad = float(model_view(load_image(grey, 16)).mean())  # the stand-in model's output
    assert 0.3 < p_sad < 0.5
    [before] = classify_images(load_classifier(model_path), [grey])
    assert before["label"] == "happy" and before["confidence"] == pytest.approx(1 - p_sad, abs=1e-3)
    served = new_bundle(tmp_path / "served")  # as notebook 06 saves the served model
    load_classifier(model_path).model.save(served / "model.keras")
    save_card(served, load_card(model_path)[1] | {"threshold": 0.3, "made_by": "06_evaluate"})
    classifier = load_classifier(served)  # the folder, or the file in it
    assert classifier.threshold == 0.3 and classifier.face_step == FaceStep("none")
    assert load_classifier(model_path).threshold == 0.5  # the trained model's card is its own
    [after] = classify_images(classifier, [grey])
    assert after["label"] == "sad" and after["confidence"] == pytest.approx(p_sad, abs=1e-3)
    assert after["probabilities"] == before["probabilities"]
    with pytest.raises(ValueError, match="threshold 1.5 is not between 0 and 1"):
        model_card(["happy", "sad"], 16, 1, FaceStep("none"), made_by="x", threshold=1.5)


def test_cli_prints_json_lines_and_error_lines(model_path, tmp_path, make_image, capsys):
    good = make_image(tmp_path / "ok image.png")
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    code = main([str(model_path), str(good), str(text), str(tmp_path), str(tmp_path / "nope.png")])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert lines[0]["label"] in ("happy", "sad") and 0.5 <= lines[0]["confidence"] <= 1
    assert "not an image" in lines[1]["error"]
    assert "folder" in lines[2]["error"]
    assert "not found" in lines[3]["error"]


def test_cli_missing_model_says_what_to_do(tmp_path, capsys):
    assert main([str(tmp_path / "model.keras"), "x.png"]) == 2
    assert "Train one first" in json.loads(capsys.readouterr().out)["error"]


def test_a_photo_is_classified_by_its_face_and_a_crop_whole(face_model, tmp_path):
    classifier = load_classifier(face_model)
    assert classifier.face_step == PHOTOS
    photo, crop = tmp_path / "photo.jpg", tmp_path / "fer.png"
    PHOTO.save(photo, quality=95)
    face_crop(0.07, 48).convert("L").save(crop)
    by_face, whole = classify_images(classifier, [photo, crop])

    [face] = by_face["faces"]
    x, y, w, h = face["box"]
    assert w == h and 0.3 * PHOTO.width < w < 0.6 * PHOTO.width  # the face, not the photo
    assert {k: by_face[k] for k in face if k != "box"} == {k: face[k] for k in face if k != "box"}
    seen = model_view(to_array(crop_face(open_image(photo), tuple(face["box"])), 48)).mean()
    assert by_face["confidence"] == pytest.approx(max(seen, 1 - seen), abs=1e-3)
    whole_photo = model_view(load_image(photo, 48)).mean()
    assert abs(seen - whole_photo) > 0.01  # the crop, not the whole photo, was judged
    assert whole["faces"][0]["box"] == [0, 0, 48, 48]  # already a face crop: used whole
    expected = float(model_view(load_image(crop, 48)).mean())
    assert whole["confidence"] == pytest.approx(max(expected, 1 - expected), abs=1e-3)


def test_a_group_photo_gets_one_answer_per_face_largest_first(face_model, tmp_path):
    small = ImageOps.mirror(PHOTO).resize((PHOTO.width * 4 // 5, PHOTO.height * 4 // 5))
    path = tmp_path / "group.jpg"
    side_by_side(PHOTO, small).save(path, quality=95)
    [result] = classify_images(load_classifier(face_model), [path])
    assert len(result["faces"]) == 2
    first, second = (f["box"] for f in result["faces"])
    assert first[2] > second[2] and first[0] < PHOTO.width <= second[0]
    assert result["label"] == result["faces"][0]["label"]


def test_no_face_gives_a_clear_line_and_exit_status_1(face_model, tmp_path, capsys):
    path = tmp_path / "landscape.jpg"
    landscape().save(path)
    assert main([str(face_model), str(path)]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["error"].startswith("no face found") and line["faces"] == []
    assert "label" not in line


def test_a_missing_or_disagreeing_card_is_a_clear_error(face_model, capsys):
    card_path = face_model.with_name(CARD_FILE)
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps(card | {"image_size": 64}))
    with pytest.raises(ValueError, match=r"takes 64x64x3 pictures \(raw RGB pixels\), but "
                                         "model.keras takes 48x48x3: they come from different "
                                         "runs"):
        load_classifier(face_model)
    card_path.unlink()
    assert main([str(face_model), "x.png"]) == 2
    assert f"No {CARD_FILE} beside" in json.loads(capsys.readouterr().out)["error"]


def test_a_model_from_an_older_kit_gets_a_clear_message(model_path, tmp_path, capsys):
    """Before bundles, classes.json and preprocessing.json sat beside every model in WORK_DIR."""
    old = tmp_path / "old_work"
    old.mkdir()
    model_path.rename(old / "model_served.keras")
    (old / "classes.json").write_text('["happy", "sad"]')
    assert main([str(old / "model_served.keras"), "x.png"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert "older version of the kit" in error and "notebooks 05_train to 07_predict" in error


def test_a_bundle_holds_one_model_and_is_replaced_whole(model_path, tmp_path):
    folder = model_path.parent
    (folder / "model.tflite").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="more than one model file"):
        load_classifier(folder)
    new_bundle(folder)  # the kit's own bundle: emptied
    assert list(folder.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="no model file"):
        load_classifier(folder)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a model bundle"):
        new_bundle(mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_tflite_model_goes_through_the_same_face_step(face_model, tmp_path):
    from helpers.export import export_tflite

    keras_classifier = load_classifier(face_model)
    exported = new_bundle(tmp_path / "float32")  # a folder of its own, as notebook 07 saves it
    tflite_path = export_tflite(keras_classifier.model, exported / "model.tflite")
    save_card(exported, keras_classifier.card | {"made_by": "07_predict"})
    photo = tmp_path / "photo.jpg"
    PHOTO.save(photo, quality=95)
    [from_keras] = classify_images(keras_classifier, [photo])
    [from_tflite] = classify_images(load_classifier(tflite_path), [photo])
    assert from_tflite["faces"][0]["box"] == from_keras["faces"][0]["box"]
    assert from_tflite["confidence"] == pytest.approx(from_keras["confidence"], abs=1e-4)


def test_module_runs_from_the_command_line(model_path, tmp_path, make_image):
    good = make_image(tmp_path / "face.png")
    done = subprocess.run([sys.executable, "-m", "helpers.predict", str(model_path), str(good)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result) == {"path", "label", "confidence", "probabilities"}



def test_real_photos_go_to_a_real_face_model_when_there_is_one(model_path, face_model, tmp_path):
    """A drawn-face model hands real photos to the real-face bundle (the classroom's) and says
    so; with none, or a folder that holds no bundle, it keeps them and says that plainly; a
    learner's own real-face model is kept."""
    drawn, real = load_classifier(model_path), load_classifier(face_model)
    chosen, line = real_photo_classifier(drawn, face_model.parent)
    assert chosen.path == real.path and "judged by the real-face model in" in line
    for absent in (None, tmp_path / "no-such-folder"):
        chosen, line = real_photo_classifier(drawn, absent)
        assert chosen is drawn
        assert line.startswith("Real photos are judged by your drawn-face model.")
        assert "--faces" in line and "SOURCE_DIR" in line
    not_a_bundle = tmp_path / "not-a-bundle"
    not_a_bundle.mkdir()
    (not_a_bundle / "notes.txt").write_text("hello")
    chosen, line = real_photo_classifier(drawn, not_a_bundle)
    assert chosen is drawn and "cannot be used" in line and "no model file" in line
    chosen, line = real_photo_classifier(real, model_path.parent)
    assert chosen is real and "your own model" in line


def test_the_command_stops_quietly_when_its_reader_stops_or_the_disk_is_full(tmp_path):
    """SLOW (1,000 pictures).

    `predict ... | head -n 1` and `predict ... > /dev/full`: no traceback, a clear line."""
    model_path = save_brightness_model(tmp_path / "m" / "model.keras")
    picture = write_image(tmp_path / "a.png")
    command = [sys.executable, "-m", "helpers.predict", str(model_path), *[str(picture)] * 1000]
    # 1,000 answer lines are more than a pipe holds (64 KiB): the writer meets the closed end
    reader = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert json.loads(reader.stdout.readline())["label"]
    reader.stdout.close()  # as `head -n 1` does
    stderr = reader.stderr.read().decode()
    assert reader.wait(timeout=120) == 0 and "Traceback" not in stderr, stderr
    if Path("/dev/full").exists():
        with open("/dev/full", "w") as full:
            done = subprocess.run(command[:5], cwd=REPO, stdout=full, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert "Cannot write the answers: No space left on device" in done.stderr
