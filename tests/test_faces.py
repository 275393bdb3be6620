"""Faces: the detector, each rule of `find_faces`, the folder decision, the face step inside
`clean_images`, and cleaning and prediction cropping a photo identically.

The pictures are built in code from photos that ship inside installed wheels (see conftest).
"""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from conftest import (
    FACE,
    PHOTO,
    exif_rotated,
    face_crop,
    landscape,
    noise,
    save_brightness_model,
    scene,
    side_by_side,
)
from helpers.clean import USABLE_OUTCOMES, clean_images
from helpers.clean_faces import choose_face_step
from helpers.faces import FaceRules, FaceStep, crop_box, detect_faces, find_faces
from helpers.images import model_view, open_image, to_array
from helpers.predict import classify_images, load_classifier
from helpers.review import apply_review

PHOTOS = FaceStep("photos")

# --------------------------------------------------------------------------- the detector


def test_the_detector_finds_the_face_and_its_eyes():
    [face] = detect_faces(PHOTO)
    x, y, w, h = face.box
    assert np.allclose(face.box, FACE, atol=6) and face.score > 0.8
    for ex, ey in face.eyes:
        assert x < ex < x + w and y < ey < y + h / 2  # eyes in the upper half of the box


@pytest.mark.parametrize("make", [landscape, noise], ids=["landscape", "noise"])
def test_no_face_in_a_picture_without_people(make):
    result = find_faces(make())
    assert (result.verdict, result.faces, result.crops) == ("no_face", [], [])


# --------------------------------------------------------------------------- find_faces rules


def test_a_face_on_a_larger_picture_is_cropped_square_with_a_margin():
    img = scene(3)
    result = find_faces(img, FaceRules(margin=0.25))
    assert result.verdict == "crop" and len(result.faces) == 1
    [(x, y, w, h)] = result.crops
    fx, fy, fw, fh = result.faces[0].box
    assert w == h == round(max(fw, fh) * 1.5)
    assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh
    assert 0 <= x and 0 <= y and x + w <= img.width and y + h <= img.height
    assert find_faces(img, FaceRules(margin=0.5)).crops[0][2] > w


def test_crop_box_stays_inside_the_image_and_square():
    assert crop_box((0, 0, 40, 40), (100, 80), margin=0.5) == (0, 0, 80, 80)
    assert crop_box((70, 50, 30, 30), (100, 80), margin=0.5) == (40, 20, 60, 60)
    assert crop_box((10, 10, 80, 60), (100, 70), margin=0.5) == (15, 0, 70, 70)


def test_a_group_photo_is_set_aside_or_cropped_face_by_face():
    group = side_by_side(PHOTO, ImageOps.mirror(PHOTO))
    result = find_faces(group)
    assert result.verdict == "several_faces" and len(result.faces) == 2
    assert "2 faces" in result.detail
    each = find_faces(group, FaceRules(every_face=True))
    assert each.verdict == "crop" and len(each.crops) == 2
    left, right = sorted(x for x, _, _, _ in each.crops)
    assert left < PHOTO.width <= right  # one crop per person


def test_a_small_face_in_the_background_does_not_count():
    small = PHOTO.resize((PHOTO.width // 2, PHOTO.height // 2))
    group = side_by_side(PHOTO, small)
    assert len(detect_faces(group)) == 2
    assert find_faces(group, FaceRules(several_ratio=0.6)).verdict == "crop"
    assert find_faces(group, FaceRules(several_ratio=0.3)).verdict == "several_faces"


@pytest.mark.parametrize("margin, size", [(0.0, 48), (0.07, 48), (0.0, 96), (0.3, 160)],
                         ids=["fer-48-tight", "fer-48", "tight-96", "passport"])
def test_a_picture_that_already_is_a_face_crop_is_used_whole(margin, size):
    result = find_faces(face_crop(margin, size))
    assert result.verdict == "face_crop", result
    assert "already a face crop" in result.detail


def test_exif_rotated_photo_is_turned_upright_before_detection(tmp_path):
    path = exif_rotated(tmp_path / "sideways.jpg")
    result = find_faces(open_image(path))
    assert result.verdict == "crop"
    left_eye, right_eye = sorted(result.faces[0].eyes)
    assert abs(left_eye[1] - right_eye[1]) < 0.2 * result.faces[0].box[2]  # eyes level: upright


# --------------------------------------------------------------------------- the folder decision


def crop_folder(root: Path, n: int = 40, size: int = 48) -> Path:
    """Two classes of tight face crops, all one size (like FER2013)."""
    rng = np.random.default_rng(0)
    for label in ("happy", "sad"):
        (root / label).mkdir(parents=True)
        for k in range(n // 2):
            shift = tuple(int(v) for v in rng.integers(-12, 13, 2))
            crop = face_crop(float(rng.uniform(0.0, 0.15)), size, shift)
            if k % 2:
                crop = ImageOps.mirror(crop)
            crop.convert("L").save(root / label / f"{k}.jpg", quality=90)
    return root


def test_a_folder_of_tight_face_crops_is_kept_whole(tmp_path):
    data = crop_folder(tmp_path / "data")
    step = choose_face_step(data, crop_faces=None)
    assert step.mode == "face_crops", step.detail
    assert "100% of the 40 pictures are 48x48" in step.detail
    assert 0.0 <= step.rules.margin <= 0.3  # the folder's own framing, kept for prediction
    report = clean_images(data, tmp_path / "work", near_duplicate_distance=None, faces=step)
    assert (report["outcome"] == "kept").all()  # every face comes through, none zoomed again
    assert report["detail"].str.contains("a face crop, kept whole").all()


def test_a_folder_of_photos_or_a_mixed_one_is_cropped_picture_by_picture(tmp_path):
    data = tmp_path / "data"
    for label, mirror in (("happy", False), ("sad", True)):
        (data / label).mkdir(parents=True)
        for k in range(3):
            scene(k, mirror=mirror).save(data / label / f"photo{k}.jpg", quality=90)
        crop = face_crop(0.05, 48)
        (ImageOps.mirror(crop) if mirror else crop).save(data / label / "crop.png")
    step = choose_face_step(data, crop_faces=None)
    assert step.mode == "photos" and "many sizes" in step.detail
    report = clean_images(data, tmp_path / "work", near_duplicate_distance=None, faces=step)
    outcome = dict(zip(report["file"], report["outcome"]))
    assert outcome["happy/photo0.jpg"] == "cropped" and outcome["sad/crop.png"] == "kept"


def test_drawn_faces_and_the_switch_decide_without_looking(tmp_path):
    data = crop_folder(tmp_path / "data", n=10)
    assert choose_face_step(data, None, generated=True).mode == "none"
    assert choose_face_step(data, False).mode == "none"
    assert choose_face_step(data, True).mode == "photos"


def test_the_face_step_round_trips_through_json(tmp_path):
    step = FaceStep("face_crops", FaceRules(margin=0.07, every_face=True), "why")
    assert FaceStep.load(step.save(tmp_path / "step.json")) == step
    with pytest.raises(ValueError, match="a mode none, face_crops or photos"):
        FaceStep.from_dict({"mode": "sometimes"})


# --------------------------------------------------------------------------- inside clean_images


@pytest.fixture
def photos(tmp_path):
    """A pile of photos in two classes, one of each kind the face rules distinguish."""
    data = tmp_path / "data"
    (data / "happy").mkdir(parents=True)
    (data / "sad").mkdir(parents=True)
    scene(1).save(data / "happy" / "portrait.jpg", quality=92)
    exif_rotated(data / "happy" / "sideways.jpg")
    face_crop(0.0, 48).save(data / "happy" / "fer48.png")
    side_by_side(PHOTO, ImageOps.mirror(PHOTO)).save(data / "happy" / "group.jpg")
    scene(2, mirror=True).save(data / "sad" / "portrait.webp")
    landscape().save(data / "sad" / "landscape.jpg")
    return data


def test_clean_images_crops_faces_and_sets_aside_the_rest(photos, tmp_path):
    work = tmp_path / "work"
    before = {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    report = clean_images(photos, work, faces=PHOTOS).set_index("file")
    assert {p: p.read_bytes() for p in photos.rglob("*") if p.is_file()} == before
    assert len(report) == len(before)
    expected = {
        "happy/portrait.jpg": ("cropped", ""),
        "happy/sideways.jpg": ("cropped", ""),
        "happy/fer48.png": ("kept", ""),
        "happy/group.jpg": ("set_aside", "several_faces"),
        "sad/portrait.webp": ("cropped", ""),
        "sad/landscape.jpg": ("set_aside", "no_face"),
    }
    assert {f: (r["outcome"], r["reason"]) for f, r in report.iterrows()} == expected
    assert "already a face crop" in report.at["happy/fer48.png", "detail"]
    crop = report.loc["happy/portrait.jpg"]
    x, y, w, h = map(int, crop["face_box"].split(","))
    saved = Image.open(work / crop["output"])
    assert crop["output"] == "clean/happy/portrait.jpg.png" and saved.size == (w, h) == (h, w)
    upright = Image.open(work / report.at["happy/sideways.jpg", "output"])
    assert find_faces(upright).verdict == "face_crop"  # the crop is an upright face
    assert (work / report.at["sad/landscape.jpg", "output"]).read_bytes() == before[
        photos / "sad" / "landscape.jpg"]


def test_every_face_makes_each_person_of_a_group_photo_a_sample(photos, tmp_path):
    work = tmp_path / "work"
    step = FaceStep("photos", FaceRules(every_face=True))
    report = clean_images(photos, work, faces=step)
    group = report[report["file"] == "happy/group.jpg"]
    assert group["outcome"].tolist() == ["cropped", "cropped"]
    assert group["face"].tolist() == ["1", "2"]
    assert group["output"].tolist() == ["clean/happy/group.jpg__face1.png",
                                        "clean/happy/group.jpg__face2.png"]
    assert all((work / p).is_file() for p in group["output"])
    assert report["file"].nunique() == 6 and len(report) == 7  # every file, one row per face
    reviewed = apply_review(report, {"happy/group.jpg#face2": "set_aside"}, work)
    group = reviewed[reviewed["file"] == "happy/group.jpg"]
    assert group["outcome"].tolist() == ["cropped", "set_aside"]  # one face reviewed alone
    assert (work / group["output"].iloc[1]).is_file() and "set_aside" in group["output"].iloc[1]


def test_keep_unmatched_keeps_faceless_and_group_pictures_uncropped(photos, tmp_path):
    step = FaceStep("photos", FaceRules(keep_unmatched=True))
    report = clean_images(photos, tmp_path / "work", faces=step).set_index("file")
    for file, reason in [("sad/landscape.jpg", "no_face"), ("happy/group.jpg", "several_faces")]:
        assert (report.at[file, "outcome"], report.at[file, "reason"]) == ("kept", reason)
        assert "kept uncropped" in report.at[file, "detail"]
    assert (report["outcome"] != "set_aside").all()


def test_without_faces_nothing_is_cropped(photos, tmp_path):
    report = clean_images(photos, tmp_path / "work")
    assert set(report["outcome"]) == {"kept", "converted"}
    assert (report["face_box"] == "").all()


# --------------------------------------------------------------------------- one path


def test_cleaning_and_prediction_crop_a_photo_identically(photos, tmp_path):
    """The crop training learns from and the crop a new photo is judged on are the same pixels."""
    work = tmp_path / "work"
    step = FaceStep("photos", FaceRules(margin=0.2))
    report = clean_images(photos, work, faces=step).set_index("file")
    trained_on = to_array(open_image(work / report.at["happy/portrait.jpg", "output"]), 48)

    model = save_brightness_model(tmp_path / "model" / "model.keras", 48, step)
    [result] = classify_images(load_classifier(model), [photos / "happy" / "portrait.jpg"])
    box = ",".join(map(str, result["faces"][0]["box"]))
    assert box == report.at["happy/portrait.jpg", "face_box"]
    [(_, seen)] = step.pictures(open_image(photos / "happy" / "portrait.jpg"))
    assert np.array_equal(to_array(seen, 48), trained_on)
    brightness = model_view(trained_on).mean()  # the stand-in model's P(sad)
    assert result["confidence"] == pytest.approx(max(brightness, 1 - brightness), abs=1e-4)


def test_import_clean_split_train_predict_on_a_mixed_pile(tmp_path):
    """Nothing that passes cleaning (faces on) can crash the pipeline after it."""
    import keras

    from helpers.collect import import_folder
    from helpers.images import load_image
    from helpers.pipeline import make_dataset
    from helpers.split import split_dataset

    source, data, work = tmp_path / "photos", tmp_path / "data", tmp_path / "work"
    for label, mirror in (("happy", False), ("sad", True)):
        folder = source / label
        (folder / "nested").mkdir(parents=True)
        for k in range(7):
            scene(10 * k + mirror, mirror=mirror).save(folder / f"scene{k}.jpg", quality=90)
        scene(10 * 9 + mirror, mirror=mirror).resize((240, 200)).save(
            folder / "nested" / "near_copy_small.png")  # a smaller copy of scene 9 ...
        scene(10 * 9 + mirror, mirror=mirror).save(folder / "scene9.webp")  # ... and the big one
        face_crop(0.1, 48).save(folder / "fer.png")
        (folder / "notes.jpg").write_text("<html>not an image</html>")
    landscape().save(source / "sad" / "landscape.jpg")
    side_by_side(PHOTO, ImageOps.mirror(PHOTO)).save(source / "happy" / "group.jpg")
    manifest = import_folder(source, data)
    original = {stored: Path(src).name for src, stored in
                zip(manifest["original_path"], manifest["stored_path"]) if stored}

    step = choose_face_step(data, crop_faces=None)
    assert step.mode == "photos"
    report = clean_images(data, work, faces=step)
    assert len(report) == sum(1 for p in data.rglob("*") if p.is_file() and p.parent != data)
    why = {(original[f], r) for f, r in zip(report["file"], report["reason"]) if r}
    assert why == {("near_copy_small.png", "near_duplicate"), ("notes.jpg", "not_an_image"),
                   ("landscape.jpg", "no_face"), ("group.jpg", "several_faces"),
                   ("fer.png", "label_conflict")}  # fer.png: the same picture in both classes
    usable = report[report["outcome"].isin(USABLE_OUTCOMES)]
    assert len(usable) == 16 and set(usable["outcome"]) == {"cropped"}

    split = split_dataset(work / "clean", val_fraction=0.25, test_fraction=0.25)
    assert len(split) == len(usable)
    for f in split["file"]:
        load_image(work / "clean" / f)

    def part(name: str) -> tuple[list[str], list[int]]:
        rows = split[split["split"] == name]
        return [str(work / "clean" / f) for f in rows["file"]], rows["label"].tolist()

    train = make_dataset(*part("train"), batch_size=4, training=True)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((48, 48, 3)),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)
    test_paths, test_labels = part("test")
    predictions = model.predict(make_dataset(test_paths, test_labels), verbose=0)
    assert predictions.shape == (len(test_paths), 1) and np.isfinite(predictions).all()

