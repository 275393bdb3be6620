"""The live webcam in notebook 07: the camera in the page, a face box and a label a few times a
second.

The browser (an `anywidget`: `getUserMedia`, a <video> and a <canvas>) grabs a downscaled
JPEG of the camera every `INTERVAL_MS`, one at a time, and sends its bytes to the kernel as a
custom widget message. The kernel answers with `classify_frame`: the served model's face step
(`helpers.faces.FaceStep.pictures`), then the model, as `helpers.predict` does for a photo
file. The browser draws each face's box and label with its confidence over the video.

Frames stay in the browser's and the kernel's memory (only the last one is kept);
nothing is written unless the learner asks (`WebcamWidget.save_frame`). Nothing waits for a
frame: a headless run (papermill, `python -m helpers.course run`) shows one line and moves on.
Without a camera, without permission, or on a page that is neither https nor localhost, the
widget says so and points to the upload widget.
"""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any

import anywidget
import numpy as np
import traitlets
from PIL import Image

from helpers.images import ImageError, open_image, to_array
from helpers.predict import NO_FACE, Classifier

#: How often the browser sends a frame (it never sends the next before the answer comes).
INTERVAL_MS = 300
#: The width the browser shrinks each frame to before sending it (the detector sees 192 px).
FRAME_WIDTH = 320
#: The formats a frame may come in, by their first bytes.
FRAME_FORMATS = {"JPEG": b"\xff\xd8\xff", "PNG": b"\x89PNG\r\n\x1a\n"}
HEADLESS_LINE = ("Live webcam: in JupyterLab press Start camera to see each face's box and "
                 "label; a headless run has no camera and goes on.")


def decode_frame(data: bytes) -> Image.Image:
    """An RGB picture from a frame's JPEG or PNG bytes; ValueError with the reason otherwise.

    The bytes are decoded by `open_image`, the kit's one decoder, so a frame meets the limits
    every picture does (size, JPEG scans); it reads files, so the frame passes through one."""
    if not data:
        raise ValueError("the frame is empty")
    img_format = next((name for name, magic in FRAME_FORMATS.items() if data.startswith(magic)),
                      None)
    if img_format is None:
        kind = _sniff(data)
        raise ValueError(f"a {kind} picture, not JPEG or PNG" if kind else
                         "it is not a readable JPEG or PNG picture (not a picture at all)")
    with tempfile.TemporaryDirectory(prefix="kit-frame-") as folder:
        path = Path(folder) / f"frame.{img_format.lower()}"
        path.write_bytes(data)
        try:
            return open_image(path)
        except ImageError as err:
            raise ValueError(f"it is not a readable JPEG or PNG picture "
                             f"({str(err).split(': ', 1)[-1]})") from err


def _sniff(data: bytes) -> str:
    """The format Pillow names for `data`'s first bytes (e.g. GIF), or ''."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format or ""
    except (OSError, SyntaxError, ValueError):
        return ""


def classify_frame(classifier: Classifier, data: bytes) -> dict:
    """The answer for one camera frame (JPEG or PNG bytes), as the widget draws it.

    `{"width", "height", "faces": [{"box": [x, y, w, h], "label", "confidence",
    "probabilities"}], "label", "confidence", "probabilities", "whole_frame", "text"}`: one
    entry per face, largest first, boxes in the frame's pixels; the top answers are the largest
    face's. A model without a face step judges the whole frame (`whole_frame`, no faces). A
    frame without a face, or one that cannot be read, gives `{"error", "text"}` instead.
    """
    try:
        img = decode_frame(data)
    except ValueError as err:
        message = f"The frame could not be read: {err}."
        return {"error": message, "text": message}
    answer: dict[str, Any] = {"width": img.width, "height": img.height, "faces": [],
                              "whole_frame": classifier.face_step.mode == "none"}
    try:
        pictures = classifier.face_step.pictures(img)
        if not pictures:
            message = f"{NO_FACE}: face the camera, in good light."
            return answer | {"error": message, "text": message}
        arrays = np.stack([to_array(picture, classifier.image_size)
                           for _, picture in pictures])
        p_second = np.asarray(classifier.predict(arrays), dtype=np.float64).reshape(-1)
        if p_second.shape != (len(pictures),) or not np.all((p_second >= 0) & (p_second <= 1)):
            raise ValueError(f"the model gave {p_second.tolist()}, not one probability per face")
    except Exception as err:  # the answer is a message in the widget, never a dead widget
        message = f"The frame could not be classified ({type(err).__name__}: {err})."
        return answer | {"error": message, "text": message}
    for (box, _), p in zip(pictures, map(float, p_second), strict=True):
        face = classifier.answer(p)
        if "label" not in answer:  # the largest face answers for the frame
            answer.update(face)
        if box is not None:
            answer["faces"].append({"box": [int(v) for v in box], **face})
    answer["text"] = describe(answer)
    return answer


def describe(answer: dict) -> str:
    """One line of text for an answer: each face's label, confidence and box."""
    if "error" in answer:
        return answer["error"]
    if answer["whole_frame"]:
        return (f"whole frame: {answer['label']} {answer['confidence']:.0%} (this model has no "
                "face step, so it judges the whole picture)")
    return "; ".join(f"{f['label']} {f['confidence']:.0%} (face at x {f['box'][0]}, y "
                     f"{f['box'][1]}, {f['box'][2]}x{f['box'][3]} px)" for f in answer["faces"])


class WebcamWidget(anywidget.AnyWidget):
    """The camera, with each face's box and label from `classifier`, a few times a second.

    `camera` is what the browser reports: "off", "on", or why it could not start;
    `last_answer` the latest `classify_frame` answer, `frames` how many were answered.
    """

    _esm = Path(__file__).with_name("webcam.js").read_text(encoding="utf-8")
    camera = traitlets.Unicode("off").tag(sync=True)
    interval_ms = traitlets.Int(INTERVAL_MS).tag(sync=True)
    frame_width = traitlets.Int(FRAME_WIDTH).tag(sync=True)

    def __init__(self, classifier: Classifier, **kwargs: Any):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.last_answer: dict = {}
        self.last_frame = b""
        self.frames = 0
        self.on_msg(self._on_message)

    def answer(self, data: bytes) -> dict:
        """Classify one frame and keep it (in memory only) with its answer."""
        start = time.perf_counter()
        self.last_frame = bytes(data)
        self.last_answer = classify_frame(self.classifier, self.last_frame)
        self.last_answer["kernel_ms"] = round(1000 * (time.perf_counter() - start))
        self.frames += 1
        return self.last_answer

    def _on_message(self, _widget, content: dict, buffers: list) -> None:
        if not isinstance(content, dict) or content.get("type") != "frame":
            return
        answer = self.answer(bytes(buffers[0]) if buffers else b"")
        self.send({"type": "answer", "frame": content.get("frame"), **answer})

    def save_frame(self, folder: str | Path, name: str = "webcam.jpg") -> Path:
        """Write the last frame under `folder` (a new name, never over a file) and return its
        path: the one way a frame reaches the disk."""
        from helpers.upload import save_upload

        if not self.last_frame:
            raise ValueError("No frame yet: press Start camera first.")
        try:
            decode_frame(self.last_frame)
        except ValueError as err:
            raise ValueError(f"The last frame is not a picture, so it was not saved: {err}.") \
                from None
        return save_upload(Path(folder), name, self.last_frame)


def show_webcam(classifier: Classifier) -> WebcamWidget:
    """Print the one line a headless run sees, show the widget, and return it."""
    from IPython.display import display

    widget = WebcamWidget(classifier)
    print(HEADLESS_LINE)
    display(widget)
    return widget
