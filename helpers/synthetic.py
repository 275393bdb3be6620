"""The kit's offline default dataset: drawn faces, happy or sad, deterministic from a seed.

The kit cannot download data, so it draws its own. The only thing that carries the label is
the mouth: a curve whose curvature varies continuously (smile > 0 curves up, smile < 0 curves
down), with a share of nearly flat mouths that are genuinely ambiguous. Everything else (face
shape, size, position, rotation, skin, background, lighting, eyes, eyebrows, accessories, blur,
noise, JPEG quality, image size and file format) is drawn independently of the label, so a
small CNN has to learn to find and read the mouth instead of a one-pixel shortcut.

`generate_dataset` also plants a handful of dirty files (truncated, empty, tiny, duplicate,
text, SVG) so that the cleaning notebook has something real to find.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

from helpers.face_drawing import background, draw_features, random_colour

CLASS_NAMES = ("happy", "sad")

#: Share of faces whose mouth is nearly flat (|smile| < FLAT_LIMIT): these are coin flips.
AMBIGUOUS_FRACTION = 0.10
#: Upper bound of |smile| for the nearly flat faces.
FLAT_LIMIT = 0.08
#: Image sides are drawn from this range (pixels); 60% of images are square.
SIZE_RANGE = (64, 160)
#: File formats of the good images and their probabilities.
FORMATS = (("JPEG", ".jpg", 0.80), ("PNG", ".png", 0.12), ("BMP", ".bmp", 0.08))
#: JPEG quality range.
JPEG_QUALITY = (35, 95)

_SKIN_ANCHORS = np.array(
    [(70, 45, 35), (115, 75, 50), (165, 115, 80), (205, 155, 115), (235, 195, 160),
     (255, 224, 200)],
    dtype=np.float64,
)
_HAIR_COLOURS = np.array(
    [(25, 20, 18), (60, 40, 25), (110, 70, 35), (170, 120, 60), (220, 190, 120),
     (150, 150, 150), (230, 230, 225), (140, 40, 25)],
    dtype=np.float64,
)
_CARTOON_SKINS = np.array([(250, 210, 60), (140, 200, 120), (150, 170, 230)], dtype=np.float64)


def _sample_params(rng: np.random.Generator) -> dict[str, Any]:
    """Every random choice for one face, always drawn in the same order (overrides come later)."""
    p: dict[str, Any] = {}
    _sample_head(rng, p)
    _sample_features(rng, p)
    _sample_accessories_and_camera(rng, p)
    return p


def _sample_head(rng: np.random.Generator, p: dict[str, Any]) -> None:
    u = rng.uniform
    # Face geometry.
    p["face_height"] = u(0.62, 0.92)  # share of the canvas's shorter side, like a face crop
    p["aspect"] = u(0.68, 0.95)  # face width / face height
    p["face_center"] = (u(-1, 1), u(-1, 1))  # scaled into the free space later
    p["rotation"] = float(np.clip(rng.normal(0, 11), -25, 25))
    # Skin.
    t = u(0, len(_SKIN_ANCHORS) - 1)
    i = min(int(t), len(_SKIN_ANCHORS) - 2)
    skin = _SKIN_ANCHORS[i] * (1 - (t - i)) + _SKIN_ANCHORS[i + 1] * (t - i)
    skin = skin + rng.normal(0, 8, size=3)
    cartoon = _CARTOON_SKINS[rng.integers(len(_CARTOON_SKINS))]
    if u() < 0.06:
        skin = cartoon
    p["skin"] = tuple(int(c) for c in np.clip(skin, 0, 255))
    p["outline"] = u(0, 0.035) if u() < 0.6 else 0.0  # face outline width (face units)
    p["ears"] = bool(u() < 0.5)
    # Background.
    p["background"] = ("solid", "gradient", "clutter")[rng.choice(3, p=(0.3, 0.35, 0.35))]
    p["bg_colours"] = (random_colour(rng), random_colour(rng))
    p["bg_angle"] = u(0, 2 * math.pi)
    p["clutter_seed"] = int(rng.integers(2**31))


def _sample_features(rng: np.random.Generator, p: dict[str, Any]) -> None:
    u = rng.uniform
    # Eyes and eyebrows.
    p["eyes"] = ("dot", "open", "closed")[rng.choice(3, p=(0.45, 0.4, 0.15))]
    p["eye_y"] = u(-0.32, -0.1)
    p["eye_spacing"] = u(0.28, 0.48)
    p["eye_size"] = u(0.07, 0.15)
    p["eye_aspect"] = u(0.7, 1.4)
    p["eye_colour"] = random_colour(rng, 0, 90)
    p["iris_colour"] = random_colour(rng, 20, 200)
    p["gaze"] = (u(-0.4, 0.4), u(-0.3, 0.3))
    p["closed_curve"] = u(-1, 1)  # closed eyes curve up or down, independent of the label
    p["eyebrows"] = bool(u() < 0.85)
    p["eyebrow_angle"] = u(-30, 30)  # degrees; + raises the inner ends; a label distractor
    p["eyebrow_height"] = u(0.1, 0.22)
    p["eyebrow_length"] = u(1.4, 2.6)  # in eye sizes
    p["eyebrow_width"] = u(0.025, 0.07)
    # Nose.
    p["nose"] = ("none", "line", "dots", "triangle")[rng.integers(4)]
    p["nose_y"] = u(0.0, 0.18)
    # Mouth: the label lives here.
    p["mouth_y"] = u(0.42, 0.6)
    p["mouth_width"] = u(0.26, 0.5)  # half-width, face units
    p["mouth_depth"] = u(0.2, 0.32)  # corner-to-centre height at |smile| = 1
    p["mouth_line"] = u(0.05, 0.1)
    p["lip_colour_factor"] = u(0.2, 0.5)
    p["open_mouth"] = bool(u() < 0.25)
    p["mouth_gap"] = u(0.04, 0.12)


def _sample_accessories_and_camera(rng: np.random.Generator, p: dict[str, Any]) -> None:
    u = rng.uniform
    # Accessories.
    p["hair"] = bool(u() < 0.6)
    p["hair_colour"] = tuple(
        int(c) for c in np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
                                + rng.normal(0, 10, 3), 0, 255)
    )
    p["bangs"] = u(-0.75, -0.5) if u() < 0.5 else None
    p["glasses"] = bool(u() < 0.2)
    p["glasses_style"] = ("round", "square", "sun")[rng.integers(3)]
    p["glasses_colour"] = random_colour(rng, 0, 120)
    p["hat"] = bool(u() < 0.15)
    p["hat_style"] = ("top", "cap", "beanie")[rng.integers(3)]
    p["hat_colour"] = random_colour(rng)
    p["beard"] = bool(u() < 0.12)
    p["moustache"] = bool(u() < 0.5)
    # Camera: lighting, blur, noise.
    p["brightness"] = u(0.7, 1.2)
    p["contrast"] = u(0.6, 1.25)
    p["light_gradient"] = u(0, 0.6)
    p["light_angle"] = u(0, 2 * math.pi)
    p["colour_cast"] = tuple(float(c) for c in u(0.88, 1.12, size=3))
    p["blur"] = u(0.0, 1.2) if u() < 0.4 else 0.0
    p["noise"] = u(0.0, 12.0) if u() < 0.7 else 0.0


_OVERRIDABLE = frozenset(_sample_params(np.random.default_rng(0)))


def draw_face(
    rng: np.random.Generator,
    smile: float,
    size: tuple[int, int] = (96, 96),
    **overrides: Any,
) -> Image.Image:
    """One RGB face; smile in [-1, 1] (+ happy, - sad). Useful for test fixtures too.

    The face of `face_and_mouth`, without the mouth's box.
    """
    return face_and_mouth(rng, smile, size, **overrides)[0]


def face_and_mouth(
    rng: np.random.Generator,
    smile: float,
    size: tuple[int, int] = (96, 96),
    **overrides: Any,
) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """One RGB face (smile in [-1, 1]: + happy, - sad) and the box around its mouth, the only
    part that carries the label: (x0, y0, x1, y1) in the picture's pixels.

    `size` is (width, height). Every other property is drawn from `rng`, always consuming it in
    the same way, so two calls on equal rng states differ only in what `smile` changes: the
    mouth. `overrides` replace drawn properties, e.g. `rotation=0`, `face_center=(0, 0)`
    (each in [-1, 1] across the free space), `face_height=0.3` (fraction of the shorter side),
    `noise=0`, `blur=0`, `glasses=True`, `hat=False`, `background="solid"`,
    `bg_colours=((255, 255, 255), (255, 255, 255))`. Unknown names raise `TypeError`.
    """
    if not -1.0 <= smile <= 1.0:
        raise ValueError(f"smile must be in [-1, 1], got {smile}")
    width, height = int(size[0]), int(size[1])
    if width < 1 or height < 1:
        raise ValueError(f"size must be positive, got {size}")
    unknown = set(overrides) - _OVERRIDABLE
    if unknown:
        raise TypeError(f"unknown face properties {sorted(unknown)}; known: {sorted(_OVERRIDABLE)}")
    p = _sample_params(rng)
    p.update(overrides)

    ss = 3 if max(width, height) <= 200 else 2  # supersampling factor for antialiasing
    big_w, big_h = width * ss, height * ss
    img = background(p, big_w, big_h)

    side = min(big_w, big_h)
    fh = p["face_height"] * side
    fw = fh * p["aspect"]
    free_x = max(0.0, (big_w - fw) / 2) * 0.9
    free_y = max(0.0, (big_h - fh) / 2) * 0.9
    cx = big_w / 2 + p["face_center"][0] * free_x
    cy = big_h / 2 + p["face_center"][1] * free_y

    mouth_box = tuple(round(v / ss, 1) for v in draw_features(img, p, smile, cx, cy, fw, fh))
    img = img.resize((width, height), Image.Resampling.BOX)  # average each ss x ss block

    if p["blur"] > 0:
        img = img.filter(ImageFilter.GaussianBlur(p["blur"]))
    arr = np.asarray(img, dtype=np.float32)
    # Lighting: contrast around the mean, brightness, a colour cast and a light gradient.
    mean = arr.mean()
    arr = (arr - mean) * p["contrast"] + mean
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = (xs / width - 0.5) * math.cos(p["light_angle"]) + (ys / height - 0.5) * math.sin(
        p["light_angle"]
    )
    light = p["brightness"] * (1.0 + p["light_gradient"] * proj)
    arr = arr * light[..., None] * np.asarray(p["colour_cast"], dtype=np.float32)
    # Sensor noise: always drawn (so the rng advances the same way), scaled by `noise`.
    arr = arr + rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(p["noise"])
    return Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8), "RGB"), mouth_box


def _smile_magnitude(rng: np.random.Generator) -> float:
    """|smile|: nearly flat for AMBIGUOUS_FRACTION of faces, otherwise spread up to 1."""
    if rng.uniform() < AMBIGUOUS_FRACTION:
        return float(rng.uniform(0.0, FLAT_LIMIT))
    return float(FLAT_LIMIT + (1 - FLAT_LIMIT) * rng.beta(1.3, 1.3))


def _image_size(rng: np.random.Generator) -> tuple[int, int]:
    lo, hi = SIZE_RANGE
    w = int(rng.integers(lo, hi + 1))
    h = w if rng.uniform() < 0.6 else int(rng.integers(lo, hi + 1))
    return w, h


def _encode(img: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, format="JPEG", quality=quality)
    else:
        img.save(buf, format=fmt)
    return buf.getvalue()


def _make_image(seed: int, class_index: int, i: int) -> tuple[bytes, str, tuple[float, ...]]:
    """The bytes, file extension and mouth box of good image `i` of a class (independent of
    n_per_class)."""
    rng = np.random.default_rng([seed, class_index, i])
    sign = 1.0 if CLASS_NAMES[class_index] == "happy" else -1.0
    smile = sign * _smile_magnitude(rng)
    size = _image_size(rng)
    k = rng.choice(len(FORMATS), p=[f[2] for f in FORMATS])
    fmt, ext, _ = FORMATS[k]
    quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
    img, mouth_box = face_and_mouth(rng, smile, size)
    return _encode(img, fmt, quality), ext, mouth_box


_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="96" height="96">\n'
    '  <circle cx="48" cy="48" r="40" fill="gold"/>\n'
    '  <path d="M28 58 Q48 76 68 58" stroke="black" fill="none"/>\n'
    "</svg>\n"
)
_TEXT = "This is a saved web page, not a picture.\n<html><body>Image not found</body></html>\n"


def _plant_dirty(out_dir: Path, seed: int, first_happy: Path) -> list[dict[str, str]]:
    """Write the known dirty files; each gets the reason code the cleaner will give it."""
    rng = np.random.default_rng([seed, len(CLASS_NAMES), 0])
    happy, sad = CLASS_NAMES
    face = draw_face(rng, 0.8, (96, 96))
    full_jpeg = _encode(face, "JPEG", 90)
    tiny = _encode(draw_face(rng, -0.8, (96, 96)).resize((8, 8), Image.Resampling.LANCZOS),
                   "PNG", 0)
    planted = {
        f"{happy}/broken_download.jpg": ("corrupt", full_jpeg[: len(full_jpeg) // 2]),
        f"{sad}/notes.jpg": ("not_an_image", _TEXT.encode("ascii")),
        f"{happy}/empty.png": ("empty_file", b""),
        f"{sad}/thumbnail.png": ("too_small", tiny),
        f"{happy}/{first_happy.stem}_copy{first_happy.suffix}": (
            "duplicate", first_happy.read_bytes()),
        f"{sad}/smiley.svg": ("unsupported_format", _SVG.encode("ascii")),
    }
    records = []
    for rel, (reason, data) in planted.items():
        (out_dir / rel).write_bytes(data)
        records.append({"path": rel, "reason": reason})
    return records


def generate_dataset(
    out_dir: str | Path,
    n_per_class: int = 1000,
    seed: int = 42,
    dirty: bool = True,
) -> dict:
    """Write out_dir/happy/face_00000.jpg ... and out_dir/sad/...; deterministic from `seed`.

    Good images are mostly JPEG, some PNG and BMP, 64-160 px on a side. With `dirty`, six
    known bad files are planted as well (see data/README.md). Re-running overwrites the same
    names; other files in the folder are left alone. Returns
    `{"counts": {class: n_good_images_written}, "planted": [{"path", "reason"}, ...],
    "mouths": {path: [x0, y0, x1, y1]}}` with posix paths relative to `out_dir`; a mouth box
    is in its picture's pixels (notebook 08 checks the model looks there).
    """
    if n_per_class < 0 or (dirty and n_per_class < 1):
        raise ValueError(f"n_per_class must be >= 1 (>= 0 without dirty), got {n_per_class}")
    out_dir = Path(out_dir)
    counts: dict[str, int] = {}
    mouths: dict[str, list[float]] = {}
    written: list[Path] = []
    for class_index, name in enumerate(CLASS_NAMES):
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            data, ext, mouth_box = _make_image(seed, class_index, i)
            path = folder / f"face_{i:05d}{ext}"
            path.write_bytes(data)
            mouths[f"{name}/{path.name}"] = list(mouth_box)
            written.append(path)
        counts[name] = n_per_class
    planted: list[dict[str, str]] = []
    if dirty:
        planted = _plant_dirty(out_dir, seed, written[0])  # written[0]: happy/face_00000.*
    return {"counts": counts, "planted": planted, "mouths": mouths}



def flip_labels(out_dir: str | Path, generated: dict, share: float, seed: int = 42) -> list[dict]:
    """Plant label noise: swap `share` of the drawn faces between the class folders.

    Face number i of each class (`happy/face_00012.jpg`, `sad/face_00012.bmp`) trade folders,
    so the names say nothing and the counts stay equal. `generated` is what `generate_dataset`
    returned for `out_dir`; its `mouths` follow the faces. Face 0 (the planted duplicate's
    original) never moves. Returns `[{"path": its new path, "drawn_as": its true class}, ...]`
    sorted by path, with posix paths relative to `out_dir`.
    """
    if not 0 <= share < 0.5:
        raise ValueError(f"share must be at least 0 and below 0.5, got {share}")
    out_dir, (first, second) = Path(out_dir), CLASS_NAMES
    n_faces = min(generated["counts"].values())
    rng = np.random.default_rng([seed, len(CLASS_NAMES), 1])
    numbers = sorted(1 + rng.choice(n_faces - 1, round(share * n_faces), replace=False))
    flipped, mouths = [], generated["mouths"]
    for i in numbers:
        a, b = (next(out_dir.glob(f"{name}/face_{i:05d}.*")) for name in (first, second))
        a_to, b_to = out_dir / second / a.name, out_dir / first / b.name
        parked = a.rename(a.with_name(a.name + ".moving"))
        b.rename(b_to)
        parked.rename(a_to)
        box_a, box_b = mouths.pop(f"{first}/{a.name}"), mouths.pop(f"{second}/{b.name}")
        mouths[f"{second}/{a_to.name}"], mouths[f"{first}/{b_to.name}"] = box_a, box_b
        flipped += [{"path": f"{second}/{a_to.name}", "drawn_as": first},
                    {"path": f"{first}/{b_to.name}", "drawn_as": second}]
    return sorted(flipped, key=lambda f: f["path"])
