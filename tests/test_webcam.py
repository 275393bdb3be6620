"""Notebook 07's live webcam, kernel side: a frame's bytes in, the face boxes and labels out,
the same as `helpers.predict` gives for the same picture as a file; a bad frame is a message."""

import dataclasses
import io

import pytest
from PIL import Image

from conftest import landscape, progressive_jpeg, save_brightness_model, scene
from helpers import images
from helpers.faces import FaceStep
from helpers.predict import classify_images, load_classifier
from helpers.webcam import HEADLESS_LINE, WebcamWidget, classify_frame, show_webcam


def jpeg(img: Image.Image, fmt: str = "JPEG") -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.fixture
def face_model(tmp_path):
    """The brightness stand-in, saved as if trained on photos through the face step."""
    return load_classifier(save_brightness_model(tmp_path / "photos" / "model.keras", 48,
                                                 FaceStep("photos")))


@pytest.fixture
def whole_model(tmp_path):
    """The stand-in trained on whole pictures (no face step), as on the kit's drawn faces."""
    return load_classifier(save_brightness_model(tmp_path / "whole" / "model.keras"))


FRAME = scene(3, size=(320, 240), face_width=150)  # a webcam-sized frame with one face


def test_a_frame_gets_the_answer_predict_gives_for_the_same_picture(face_model, tmp_path):
    data = jpeg(FRAME)
    (tmp_path / "frame.jpg").write_bytes(data)
    [expected] = classify_images(face_model, [tmp_path / "frame.jpg"])
    answer = classify_frame(face_model, data)
    assert "error" not in answer, answer
    assert (answer["width"], answer["height"]) == (320, 240) and not answer["whole_frame"]
    assert answer["faces"] == expected["faces"] and len(answer["faces"]) == 1
    assert {k: answer[k] for k in ("label", "confidence", "probabilities")} == {
        k: expected[k] for k in ("label", "confidence", "probabilities")}
    x, y, w, h = answer["faces"][0]["box"]
    assert 0 <= x and x + w <= 320 and 0 <= y and y + h <= 240 and w >= 30
    assert answer["text"].startswith(f"{answer['label']} {answer['confidence']:.0%} (face at x")


def test_a_model_without_a_face_step_judges_the_whole_frame(whole_model, tmp_path):
    data = jpeg(FRAME)
    (tmp_path / "frame.jpg").write_bytes(data)
    [expected] = classify_images(whole_model, [tmp_path / "frame.jpg"])
    answer = classify_frame(whole_model, data)
    assert answer["whole_frame"] and answer["faces"] == []
    assert (answer["label"], answer["confidence"]) == (expected["label"], expected["confidence"])
    assert answer["text"].startswith(f"whole frame: {answer['label']}")


def test_a_frame_without_a_face_says_so(face_model):
    answer = classify_frame(face_model, jpeg(landscape().resize((320, 213))))
    assert answer["error"].startswith("no face found") and answer["faces"] == []
    assert "label" not in answer


@pytest.mark.parametrize("data, reason", [
    (b"", "the frame is empty"),
    (b"this is not a picture", "not a readable JPEG or PNG"),
    (jpeg(FRAME)[:300], "not a readable JPEG or PNG"),
    (jpeg(FRAME, "GIF"), "a GIF picture, not JPEG or PNG"),
    (progressive_jpeg(images.MAX_JPEG_SCANS), "MAX_JPEG_SCANS"),  # as open_image refuses it
])
def test_a_bad_frame_gets_a_clear_message_not_a_crash(face_model, data, reason):
    answer = classify_frame(face_model, data)
    assert answer["error"].startswith("The frame could not be read") and reason in answer["error"]
    assert answer["text"] == answer["error"]


def test_a_model_that_fails_gives_a_message(face_model):
    def broken(_images):
        raise RuntimeError("out of memory")

    answer = classify_frame(dataclasses.replace(face_model, predict=broken), jpeg(FRAME))
    assert answer["error"] == ("The frame could not be classified (RuntimeError: out of "
                               "memory).")


def test_the_widget_answers_each_frame_message_in_memory(face_model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path / "photos")
    before = sorted(tmp_path.rglob("*"))
    widget = WebcamWidget(face_model)
    sent = []
    monkeypatch.setattr(widget, "send", lambda content, buffers=None: sent.append(content))
    widget._on_message(widget, {"type": "frame", "frame": 7}, [memoryview(jpeg(FRAME))])
    widget._on_message(widget, {"type": "frame", "frame": 8}, [])  # a frame without its bytes
    widget._on_message(widget, {"type": "something else"}, [])  # not for the webcam: ignored
    first, empty = sent
    assert first["type"] == "answer" and first["frame"] == 7 and len(first["faces"]) == 1
    assert first["label"] in ("happy", "sad") and first["kernel_ms"] >= 0
    assert empty["frame"] == 8 and empty["error"].endswith("the frame is empty.")
    assert widget.frames == 2 and {"type": "answer", "frame": 8, **widget.last_answer} == empty
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


def test_a_frame_is_written_only_when_asked(face_model, tmp_path):
    widget = WebcamWidget(face_model)
    with pytest.raises(ValueError, match="No frame yet"):
        widget.save_frame(tmp_path / "saved")
    widget.answer(jpeg(FRAME))
    first, second = widget.save_frame(tmp_path / "saved"), widget.save_frame(tmp_path / "saved")
    assert (first.name, second.name) == ("webcam.jpg", "webcam_1.jpg")
    assert first.read_bytes() == jpeg(FRAME)
    widget.answer(b"<script>alert('not a picture')</script>")
    with pytest.raises(ValueError, match="not a picture, so it was not saved"):
        widget.save_frame(tmp_path / "saved")
    assert sorted(p.name for p in (tmp_path / "saved").iterdir()) == ["webcam.jpg", "webcam_1.jpg"]


def test_headless_the_widget_prints_one_line_and_waits_for_nothing(face_model, capsys):
    widget = show_webcam(face_model)  # no frontend here: nothing will ever send a frame
    assert capsys.readouterr().out.splitlines()[0] == HEADLESS_LINE
    assert widget.camera == "off" and widget.frames == 0
