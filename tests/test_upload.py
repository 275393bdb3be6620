"""Notebook 07's upload widget: uploaded and typed-in photos go through `classify_images`."""

import datetime as dt
import io

from conftest import PHOTO, save_brightness_model
from helpers.predict import load_classifier
from helpers.upload import UploadWidget


def _upload(name: str, data: bytes) -> dict:
    return {"name": name, "type": "image/jpeg", "size": len(data), "content": memoryview(data),
            "last_modified": dt.datetime.now(dt.UTC)}  # as ipywidgets delivers it


def test_uploaded_photos_are_saved_and_classified(tmp_path):
    widget = UploadWidget(load_classifier(save_brightness_model(tmp_path / "m" / "model.keras")),
                          tmp_path / "uploads")
    buffer = io.BytesIO()
    PHOTO.save(buffer, format="JPEG")
    photo = buffer.getvalue()
    widget.upload.value = (_upload("me.jpg", photo), _upload("notes.jpg", b"not a picture"))
    assert (tmp_path / "uploads" / "me.jpg").read_bytes() == photo
    first, broken = widget.results
    assert first["label"] in ("happy", "sad") and 0.5 <= first["confidence"] <= 1
    assert "not an image" in broken["error"]
    widget.upload.value = (_upload("me.jpg", photo),)  # the same name again: kept apart
    assert (tmp_path / "uploads" / "me_1.jpg").is_file() and len(widget.results) == 3


def test_a_typed_folder_is_classified_file_by_file(tmp_path):
    widget = UploadWidget(load_classifier(save_brightness_model(tmp_path / "m" / "model.keras")),
                          tmp_path / "uploads")
    folder = tmp_path / "photos"
    folder.mkdir()
    PHOTO.save(folder / "a.jpg")
    PHOTO.convert("L").save(folder / "b.png")
    widget.path.value = str(folder)
    widget.button.click()
    assert [r["path"] for r in widget.results] == [str(folder / "a.jpg"), str(folder / "b.png")]
    assert all("label" in r for r in widget.results)


def test_an_empty_path_box_asks_for_a_path_instead_of_reading_the_working_folder(tmp_path):
    widget = UploadWidget(load_classifier(save_brightness_model(tmp_path / "m" / "model.keras")),
                          tmp_path / "uploads")
    widget.path.value = "  "
    widget.button.click()
    assert widget.results == []
    assert "Type the path" in widget.output.outputs[0]["text"]
