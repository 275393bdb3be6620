"""Faces: find the face in a photo with OpenCV's Haar cascade, and crop the picture to it.

A happy/sad label lives in one face, but real photos show a face somewhere in a room, or
several people. Cropping to the face makes the 48x48 input mostly face; a photo with no
face, or with several faces of similar size (which one carries the label?), is set aside
for a human to look at. A picture that already is a tight face crop (a FER-style 48x48
face, a passport photo) is recognised and kept as it is.

Haar cascades (Viola-Jones, 2001) are fast on a CPU and ship inside opencv-python 4.x; they
find upright, roughly frontal faces and miss profiles, strongly tilted and sideways faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np
from PIL import Image

#: The cascade file in `cv2.data.haarcascades`; `alt2` found the test faces at more sizes than
#: `haarcascade_frontalface_default.xml`, with no false faces in landscapes or noise.
CASCADE = "haarcascade_frontalface_alt2.xml"
#: Border added around the image before detecting (share of its longer side), so that a face
#: filling the whole frame has the context the cascade expects.
PAD = 0.25
#: The image is resized so that the smallest face looked for (`FaceRules.min_face`) is this
#: many pixels wide: small crops are enlarged, big photos shrunk, so every image takes about
#: the same time. The cascade itself looks at 24x24 windows and up.
MIN_FACE_PIXELS = 40

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the original image


@dataclass(frozen=True)
class FaceRules:
    """How `find_face` decides; every share is relative to the image unless said otherwise.

    margin: border added around the face on each side, as a share of the face's width.
    min_face: faces narrower than this share of the image's shorter side are ignored.
    several_ratio: a second face at least this share of the largest face's width means
        "several faces" (set aside); a smaller one (someone in the background) is ignored.
    already_cropped: a face covering at least this share of the image's area means the
        picture already is a face crop: kept as it is.
    keep_unmatched: keep images with no face or several faces uncropped instead of setting
        them aside.
    """

    margin: float = 0.25
    min_face: float = 0.1
    several_ratio: float = 0.6
    already_cropped: float = 0.3
    keep_unmatched: bool = False


@dataclass(frozen=True)
class FaceResult:
    """What `find_face` decided: `verdict` is `crop`, `already_cropped`, `no_face` or
    `several_faces`; `crop` is the box to cut out (for `crop`), `faces` all faces found."""

    verdict: str
    crop: Box | None
    faces: list[Box]
    detail: str


@cache
def _cascade() -> cv2.CascadeClassifier:
    cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load {CASCADE}; install opencv-python-headless 4.x")
    return cascade


def detect_faces(img: Image.Image, min_face: float = 0.1) -> list[Box]:
    """Faces in `img` as (x, y, w, h) boxes in its pixel coordinates, largest first.

    The image is padded with a copy of its edge pixels (so that a face filling the whole
    picture is still found) and resized so that faces `min_face` x its shorter side wide
    come out `MIN_FACE_PIXELS` wide; smaller faces are ignored.
    """
    grey = np.asarray(img.convert("L"))
    height, width = grey.shape
    pad = round(PAD * max(height, width))
    padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    scale = MIN_FACE_PIXELS / (min_face * min(height, width))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    work = cv2.resize(padded, None, fx=scale, fy=scale, interpolation=interpolation)
    found = _cascade().detectMultiScale(work, scaleFactor=1.1, minNeighbors=3,
                                        minSize=(MIN_FACE_PIXELS, MIN_FACE_PIXELS))
    boxes = []
    for x, y, w, h in np.reshape(found, (-1, 4)):
        x0, y0 = max(0, round(x / scale) - pad), max(0, round(y / scale) - pad)
        x1, y1 = min(width, round((x + w) / scale) - pad), min(height, round((y + h) / scale) - pad)
        if x1 > x0 and y1 > y0:
            boxes.append((x0, y0, x1 - x0, y1 - y0))
    return sorted(boxes, key=lambda b: b[2] * b[3], reverse=True)


def crop_box(face: Box, image_size: tuple[int, int], margin: float) -> Box:
    """A square around `face` grown by `margin` x its width on each side, kept inside the image
    (shifted rather than cut where it can be, so the crop stays square)."""
    width, height = image_size
    x, y, w, h = face
    side = min(round(max(w, h) * (1 + 2 * margin)), width, height)
    cx, cy = x + w / 2, y + h / 2
    x0 = int(np.clip(round(cx - side / 2), 0, width - side))
    y0 = int(np.clip(round(cy - side / 2), 0, height - side))
    return x0, y0, side, side


def find_face(img: Image.Image, rules: FaceRules = FaceRules()) -> FaceResult:
    """Decide what to do with one image: crop it to its face, keep it, or set it aside."""
    faces = detect_faces(img, rules.min_face)
    if not faces:
        return FaceResult("no_face", None, faces, "no face found")
    largest = faces[0]
    similar = [f for f in faces[1:] if f[2] >= rules.several_ratio * largest[2]]
    if similar:
        sizes = ", ".join(f"{f[2]}" for f in faces)
        return FaceResult("several_faces", None, faces,
                          f"{len(similar) + 1} faces of similar size (widths {sizes} px)")
    share = largest[2] * largest[3] / (img.width * img.height)
    if share >= rules.already_cropped:
        return FaceResult("already_cropped", None, faces,
                          f"already a face crop (face covers {share:.0%} of the picture)")
    box = crop_box(largest, img.size, rules.margin)
    return FaceResult("crop", box, faces, f"cropped to the face, {box[2]}x{box[3]} px")


def crop_face(img: Image.Image, box: Box) -> Image.Image:
    """Cut `box` (x, y, w, h) out of `img`."""
    x, y, w, h = box
    return img.crop((x, y, x + w, y + h))
