"""Faces: each rule of `find_face`, face cropping inside `clean_images`, and the whole path.

Haar cascades need real faces, so the fixtures are built in code from the photo that ships
inside matplotlib (Grace Hopper, `matplotlib.cbook.get_sample_data`): a face on a larger
canvas, two people side by side, a tight 48x48 crop, a passport-style crop, an EXIF-rotated
photo; face-free images are scikit-learn's bundled landscape and noise.
"""

from pathlib import Path

import numpy as np
import pytest
from matplotlib import cbook
from PIL import Image, ImageOps
from sklearn.datasets import load_sample_image

from helpers.clean import USABLE_OUTCOMES, clean_images
from helpers.faces import FaceRules, crop_box, detect_faces, find_face
from helpers.images import open_image

PHOTO = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
FACE = detect_faces(PHOTO)[0]  # (x, y, w, h) of the face in PHOTO


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


def face_crop(margin: float, size: int) -> Image.Image:
    """The face of PHOTO with `margin` x its width around it, resized to `size` square."""
    x, y, w, h = crop_box(FACE, PHOTO.size, margin)
    return PHOTO.crop((x, y, x + w, y + h)).resize((size, size), Image.Resampling.LANCZOS)


def landscape() -> Image.Image:
    return Image.fromarray(load_sample_image("china.jpg"))


def noise() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 400, 3), np.uint8))


def exif_rotated(path):
    """PHOTO stored sideways with an EXIF tag (orientation 6) that tells viewers to turn it."""
    exif = Image.Exif()
    exif[0x0112] = 6
    PHOTO.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif, quality=92)
    return path


# --------------------------------------------------------------------------- find_face rules


def test_a_face_on_a_larger_picture_is_cropped_square_with_a_margin():
    img = scene(3)
    result = find_face(img, FaceRules(margin=0.25))
    assert result.verdict == "crop" and len(result.faces) == 1
    x, y, w, h = result.crop
    fx, fy, fw, fh = result.faces[0]
    assert w == h == round(fw * 1.5)
    assert x <= fx and y <= fy and x + w >= fx + fw and y + h >= fy + fh
    assert 0 <= x and 0 <= y and x + w <= img.width and y + h <= img.height
    wider = find_face(img, FaceRules(margin=0.5))
    assert wider.crop[2] > w


def test_crop_box_stays_inside_the_image_and_square():
    assert crop_box((0, 0, 40, 40), (100, 80), margin=0.5) == (0, 0, 80, 80)
    assert crop_box((70, 50, 30, 30), (100, 80), margin=0.5) == (40, 20, 60, 60)
    assert crop_box((10, 10, 80, 60), (100, 70), margin=0.5) == (15, 0, 70, 70)


@pytest.mark.parametrize("make", [landscape, noise], ids=["landscape", "noise"])
def test_no_face_in_a_picture_without_people(make):
    result = find_face(make())
    assert (result.verdict, result.faces) == ("no_face", [])


def test_several_faces_of_similar_size_are_not_guessed():
    result = find_face(side_by_side(PHOTO, ImageOps.mirror(PHOTO)))
    assert result.verdict == "several_faces" and len(result.faces) == 2
    assert "2 faces" in result.detail


def test_a_small_face_in_the_background_does_not_count():
    small = PHOTO.resize((PHOTO.width * 2 // 5, PHOTO.height * 2 // 5))
    group = side_by_side(PHOTO, small)
    assert len(detect_faces(group, min_face=0.05)) == 2
    result = find_face(group, FaceRules(min_face=0.05, several_ratio=0.6))
    assert result.verdict == "crop"
    assert find_face(group, FaceRules(min_face=0.05, several_ratio=0.3)).verdict == "several_faces"


@pytest.mark.parametrize("margin, size", [(0.0, 48), (0.0, 96), (0.3, 160)],
                         ids=["fer-48", "tight-96", "passport"])
def test_a_picture_that_already_is_a_face_crop_is_kept(margin, size):
    result = find_face(face_crop(margin, size))
    assert result.verdict == "already_cropped", result
    assert "already a face crop" in result.detail


def test_exif_rotated_photo_is_turned_upright_before_detection(tmp_path):
    path = exif_rotated(tmp_path / "sideways.jpg")
    raw = Image.open(path).convert("RGB")
    assert find_face(raw).verdict == "no_face"  # Haar only finds upright faces
    assert find_face(open_image(path)).verdict == "crop"


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
    report = clean_images(photos, work, faces=FaceRules()).set_index("file")
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
    assert find_face(upright).verdict == "already_cropped"  # the crop is an upright face
    assert (work / report.at["sad/landscape.jpg", "output"]).read_bytes() == before[
        photos / "sad" / "landscape.jpg"]


def test_keep_unmatched_keeps_faceless_and_group_pictures_uncropped(photos, tmp_path):
    report = clean_images(photos, tmp_path / "work", faces=FaceRules(keep_unmatched=True))
    report = report.set_index("file")
    for file, reason in [("sad/landscape.jpg", "no_face"), ("happy/group.jpg", "several_faces")]:
        assert (report.at[file, "outcome"], report.at[file, "reason"]) == ("kept", reason)
        assert "kept uncropped" in report.at[file, "detail"]
    assert (report["outcome"] != "set_aside").all()


def test_without_faces_nothing_is_cropped(photos, tmp_path):
    report = clean_images(photos, tmp_path / "work")
    assert set(report["outcome"]) == {"kept", "converted"}
    assert (report["face_box"] == "").all()


# --------------------------------------------------------------------------- the whole path


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

    report = clean_images(data, work, faces=FaceRules())
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
        keras.Input((48, 48, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    model.fit(train, epochs=1, steps_per_epoch=2, verbose=0)
    test_paths, test_labels = part("test")
    predictions = model.predict(make_dataset(test_paths, test_labels), verbose=0)
    assert predictions.shape == (len(test_paths), 1) and np.isfinite(predictions).all()
