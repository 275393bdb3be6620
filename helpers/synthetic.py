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
from PIL import Image, ImageDraw, ImageFilter

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


def _colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    r, g, b = rng.integers(lo, hi, size=3)
    return int(r), int(g), int(b)


def _sample_params(rng: np.random.Generator) -> dict[str, Any]:
    """Every random choice for one face, always drawn in the same order (overrides come later)."""
    u = rng.uniform
    p: dict[str, Any] = {}
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
    p["bg_colours"] = (_colour(rng), _colour(rng))
    p["bg_angle"] = u(0, 2 * math.pi)
    p["clutter_seed"] = int(rng.integers(2**31))
    # Eyes and eyebrows.
    p["eyes"] = ("dot", "open", "closed")[rng.choice(3, p=(0.45, 0.4, 0.15))]
    p["eye_y"] = u(-0.32, -0.1)
    p["eye_spacing"] = u(0.28, 0.48)
    p["eye_size"] = u(0.07, 0.15)
    p["eye_aspect"] = u(0.7, 1.4)
    p["eye_colour"] = _colour(rng, 0, 90)
    p["iris_colour"] = _colour(rng, 20, 200)
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
    # Accessories.
    p["hair"] = bool(u() < 0.6)
    p["hair_colour"] = tuple(
        int(c) for c in np.clip(_HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
                                + rng.normal(0, 10, 3), 0, 255)
    )
    p["bangs"] = u(-0.75, -0.5) if u() < 0.5 else None
    p["glasses"] = bool(u() < 0.2)
    p["glasses_style"] = ("round", "square", "sun")[rng.integers(3)]
    p["glasses_colour"] = _colour(rng, 0, 120)
    p["hat"] = bool(u() < 0.15)
    p["hat_style"] = ("top", "cap", "beanie")[rng.integers(3)]
    p["hat_colour"] = _colour(rng)
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
    return p


_OVERRIDABLE = frozenset(_sample_params(np.random.default_rng(0)))


def _background(p: dict[str, Any], width: int, height: int) -> Image.Image:
    """Solid, gradient or cluttered background at the drawing resolution."""
    c0, c1 = (np.array(c, dtype=np.float64) for c in p["bg_colours"])
    if p["background"] == "solid":
        return Image.new("RGB", (width, height), tuple(int(c) for c in c0))
    small_w, small_h = max(2, width // 8), max(2, height // 8)
    ys, xs = np.mgrid[0:small_h, 0:small_w]
    proj = (xs / small_w - 0.5) * math.cos(p["bg_angle"]) + (ys / small_h - 0.5) * math.sin(
        p["bg_angle"]
    )
    t = np.clip(proj + 0.5, 0, 1)[..., None]
    grad = (c0 * (1 - t) + c1 * t).astype(np.uint8)
    img = Image.fromarray(grad, "RGB").resize((width, height), Image.Resampling.BILINEAR)
    if p["background"] == "clutter":
        crng = np.random.default_rng(p["clutter_seed"])
        draw = ImageDraw.Draw(img)
        scale = min(width, height)
        for _ in range(int(crng.integers(4, 14))):
            x0, y0 = crng.uniform(-0.1, 1.0, 2) * (width, height)
            w, h = crng.uniform(0.05, 0.5, 2) * scale
            box = (x0, y0, x0 + w, y0 + h)
            colour = _colour(crng)
            kind = crng.integers(4)
            if kind == 0:
                draw.ellipse(box, fill=colour)
            elif kind == 1:
                draw.rectangle(box, fill=colour)
            elif kind == 2:
                draw.line(box, fill=colour, width=max(1, int(crng.uniform(0.005, 0.03) * scale)))
            else:
                start = float(crng.uniform(0, 360))
                draw.arc(box, start, start + float(crng.uniform(60, 200)), fill=colour,
                         width=max(1, int(crng.uniform(0.005, 0.03) * scale)))
    return img


def _curve(x: np.ndarray, amount: float) -> np.ndarray:
    """Mouth curve offset in face units: + bends the middle down (a smile in image coordinates).

    Centred so that the curve's mean height does not depend on the curvature.
    """
    return amount * (1.0 / 3.0 - x**2)


class _Pen:
    """Draws in face units (u across, v down, head = unit circle), rotated about the centre.

    Every shape is turned into points first and rotated analytically, which is much faster
    than rotating a raster layer and keeps edges sharp before the supersampled downscale.
    """

    def __init__(self, img: Image.Image, cx: float, cy: float, ax: float, ay: float,
                 angle: float):
        self.draw = ImageDraw.Draw(img)
        self.cx, self.cy, self.ax, self.ay = cx, cy, ax, ay
        rad = math.radians(angle)  # positive = counter-clockwise on screen, like PIL
        self.cos, self.sin = math.cos(rad), math.sin(rad)

    def pts(self, us: Any, vs: Any) -> list[tuple[float, float]]:
        x = np.asarray(us, dtype=np.float64) * self.ax
        y = np.asarray(vs, dtype=np.float64) * self.ay
        xr = self.cx + x * self.cos + y * self.sin
        yr = self.cy - x * self.sin + y * self.cos
        return list(zip(xr.tolist(), yr.tolist(), strict=True))

    def px(self, size: float) -> int:
        """A stroke width in face units, in pixels (at least 1)."""
        return max(1, round(size * self.ay))

    def ellipse(self, u0: float, v0: float, u1: float, v1: float, fill: Any = None,
                outline: Any = None, width: float = 0.0, n: int = 48) -> None:
        t = np.linspace(0, 2 * math.pi, n, endpoint=False)
        uc, vc, ru, rv = (u0 + u1) / 2, (v0 + v1) / 2, (u1 - u0) / 2, (v1 - v0) / 2
        self.shape(uc + ru * np.cos(t), vc + rv * np.sin(t), fill, outline, width)

    def rounded_rect(self, u0: float, v0: float, u1: float, v1: float, fill: Any = None,
                     outline: Any = None, width: float = 0.0) -> None:
        t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        c, s = np.cos(t), np.sin(t)
        # A superellipse (|x|^5 + |y|^5 = 1): a rectangle with rounded corners.
        uc, vc, ru, rv = (u0 + u1) / 2, (v0 + v1) / 2, (u1 - u0) / 2, (v1 - v0) / 2
        self.shape(uc + ru * np.sign(c) * np.abs(c) ** 0.4, vc + rv * np.sign(s) * np.abs(s) ** 0.4,
                   fill, outline, width)

    def rect(self, u0: float, v0: float, u1: float, v1: float, fill: Any) -> None:
        self.shape([u0, u1, u1, u0], [v0, v0, v1, v1], fill)

    def shape(self, us: Any, vs: Any, fill: Any = None, outline: Any = None,
              width: float = 0.0) -> None:
        points = self.pts(us, vs)
        if fill is not None:
            self.draw.polygon(points, fill=fill)
        if outline is not None and width > 0:
            self.draw.line(points + points[:1], fill=outline, width=self.px(width), joint="curve")

    def line(self, us: Any, vs: Any, fill: Any, width: float, caps: bool = False) -> None:
        points = self.pts(us, vs)
        w = self.px(width)
        self.draw.line(points, fill=fill, width=w, joint="curve")
        if caps:
            r = w / 2
            for x, y in (points[0], points[-1]):
                self.draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)


def _draw_features(img: Image.Image, p: dict[str, Any], smile: float,
                   cx: float, cy: float, fw: float, fh: float) -> tuple[float, ...]:
    """Draw head, hair, eyes, eyebrows, nose, mouth and accessories onto `img`; return the
    mouth's box (x0, y0, x1, y1) in `img`'s pixels."""
    pen = _Pen(img, cx, cy, fw / 2, fh / 2, p["rotation"])
    skin = p["skin"]
    shade = tuple(int(c * 0.8) for c in skin)
    hair = p["hair_colour"]

    # Hair behind the head, ears.
    if p["hair"]:
        pen.ellipse(-1.12, -1.14, 1.12, 0.35, fill=hair)
    if p["ears"]:
        pen.ellipse(-1.12, -0.25, -0.82, 0.2, fill=shade, n=24)
        pen.ellipse(0.82, -0.25, 1.12, 0.2, fill=shade, n=24)
    # Head.
    pen.ellipse(-1, -1, 1, 1, fill=skin, outline=tuple(int(c * 0.55) for c in skin),
                width=p["outline"], n=72)
    if p["hair"] and p["bangs"] is not None:
        # Fringe: the part of the head above v = bangs.
        theta = math.asin(max(-1.0, min(1.0, p["bangs"])))
        angles = np.linspace(math.pi - theta, 2 * math.pi + theta, 40)
        pen.shape(np.cos(angles), np.sin(angles), fill=hair)

    # Beard: below the lowest point the mouth can reach, so it never hides the label.
    reach = p["mouth_depth"] * 2 / 3 + p["mouth_gap"] + p["mouth_line"]
    mouth_low = p["mouth_y"] + reach + 0.05
    if p["beard"] and mouth_low < 0.95:
        theta = math.asin(mouth_low)
        angles = np.linspace(theta, math.pi - theta, 40)
        pen.shape(np.cos(angles), np.sin(angles), fill=hair)
        top = p["mouth_y"] - reach - 0.04
        if p["moustache"] and top - 0.08 > p["nose_y"] + 0.08:
            w = p["mouth_width"] * 0.9
            pen.ellipse(-w, top - 0.1, w, top, fill=hair, n=32)

    # Eyes.
    ex, ey, es = p["eye_spacing"], p["eye_y"], p["eye_size"]
    ew, eh = es, es * p["eye_aspect"] * fw / fh  # eye half-axes (face units, u then v)
    eye_colour = p["eye_colour"]
    for side in (-1, 1):
        ecx = side * ex
        if p["eyes"] == "dot":
            pen.ellipse(ecx - ew * 0.6, ey - eh * 0.6, ecx + ew * 0.6, ey + eh * 0.6,
                        fill=eye_colour, n=24)
        elif p["eyes"] == "open":
            pen.ellipse(ecx - ew, ey - eh * 0.75, ecx + ew, ey + eh * 0.75,
                        fill=(245, 245, 240), outline=eye_colour, width=0.02, n=32)
            gx, gy = p["gaze"]
            ix, iy = ecx + gx * ew * 0.6, ey + gy * eh * 0.4
            r = min(ew, eh) * 0.55
            pen.ellipse(ix - r, iy - r * 1.2, ix + r, iy + r * 1.2, fill=p["iris_colour"], n=24)
            r2 = r * 0.5
            pen.ellipse(ix - r2, iy - r2 * 1.2, ix + r2, iy + r2 * 1.2, fill=(10, 10, 10), n=16)
        else:
            xs = np.linspace(-1, 1, 12)
            pen.line(ecx + xs * ew, ey + p["closed_curve"] * eh * 0.5 * (1 - xs**2),
                     fill=eye_colour, width=0.035)

    # Eyebrows: angle drawn independently of the label.
    if p["eyebrows"]:
        half = p["eyebrow_length"] * ew / 2
        by = ey - eh - p["eyebrow_height"]
        slope = math.tan(math.radians(p["eyebrow_angle"])) * (fw / fh)
        for side in (-1, 1):
            bcx = side * ex
            # Positive angle: the inner end is higher than the outer end.
            pen.line([bcx - side * half, bcx + side * half],
                     [by - slope * half, by + slope * half],
                     fill=hair if p["hair"] else eye_colour, width=p["eyebrow_width"])

    # Nose.
    ny = p["nose_y"]
    nose_colour = tuple(int(c * 0.65) for c in skin)
    if p["nose"] == "line":
        pen.line([0.02, -0.05, 0.05], [ny - 0.15, ny, ny], fill=nose_colour, width=0.025)
    elif p["nose"] == "dots":
        for side in (-1, 1):
            pen.ellipse(side * 0.07 - 0.025, ny - 0.025, side * 0.07 + 0.025, ny + 0.025,
                        fill=nose_colour, n=12)
    elif p["nose"] == "triangle":
        pen.shape([0, -0.07, 0.07], [ny - 0.14, ny, ny], fill=shade)

    # Mouth: curvature = smile * depth; the only label-carrying feature.
    lip = tuple(int(min(255, c * p["lip_colour_factor"] * k))
                for c, k in zip(skin, (1.3, 0.8, 0.8), strict=True))
    amount = float(smile) * p["mouth_depth"]
    mw, my = p["mouth_width"], p["mouth_y"]
    xs = np.linspace(-1, 1, 25)
    if p["open_mouth"]:
        gap = p["mouth_gap"] * (1 - xs**2)
        flat, bent = _curve(xs, 0.35 * amount), _curve(xs, amount)
        if amount >= 0:  # the opening hangs below a flatter upper lip
            upper, lower = flat, bent + gap
        else:  # the opening arches above a flatter lower lip
            upper, lower = bent - gap, flat
        mouth_u = np.concatenate([xs, xs[::-1]]) * mw
        mouth_v = my + np.concatenate([upper, lower[::-1]])
        pen.shape(mouth_u, mouth_v, fill=(60, 15, 20), outline=lip, width=p["mouth_line"] * 0.5)
    else:
        mouth_u, mouth_v = xs * mw, my + _curve(xs, amount)
        pen.line(mouth_u, mouth_v, fill=lip, width=p["mouth_line"], caps=True)
    edge = np.asarray(pen.pts(mouth_u, mouth_v))
    half_line = pen.px(p["mouth_line"]) / 2
    mouth_box = (*(edge.min(axis=0) - half_line), *(edge.max(axis=0) + half_line))

    # Glasses over the eyes.
    if p["glasses"]:
        gcol = p["glasses_colour"]
        r = max(ew, eh) * 1.7
        rv = r * fw / fh
        for side in (-1, 1):
            g = (side * ex - r, ey - rv, side * ex + r, ey + rv)
            if p["glasses_style"] == "round":
                pen.ellipse(*g, outline=gcol, width=0.03)
            else:
                fill = (20, 20, 25) if p["glasses_style"] == "sun" else None
                pen.rounded_rect(*g, fill=fill, outline=gcol, width=0.03)
        pen.line([-ex + r, ex - r], [ey, ey], fill=gcol, width=0.03)
        for side in (-1, 1):
            pen.line([side * (ex + r), side * 0.98], [ey, ey - 0.05], fill=gcol, width=0.03)

    # Hat on top of the head.
    if p["hat"]:
        hcol = p["hat_colour"]
        top_half = np.linspace(math.pi, 2 * math.pi, 32)
        if p["hat_style"] == "top":
            pen.rect(-0.65, -1.75, 0.65, -0.8, fill=hcol)
            pen.rect(-1.1, -0.9, 1.1, -0.75, fill=hcol)
        elif p["hat_style"] == "cap":
            pen.shape(0.98 * np.cos(top_half), -0.8 + 0.45 * np.sin(top_half), fill=hcol)
            pen.rect(-0.2, -0.83, 1.45, -0.74, fill=hcol)
        else:
            pen.shape(1.02 * np.cos(top_half), -0.75 + 0.45 * np.sin(top_half), fill=hcol)
            pen.rect(-1.02, -0.85, 1.02, -0.68, fill=tuple(int(c * 0.7) for c in hcol))
    return mouth_box


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
    img = _background(p, big_w, big_h)

    side = min(big_w, big_h)
    fh = p["face_height"] * side
    fw = fh * p["aspect"]
    free_x = max(0.0, (big_w - fw) / 2) * 0.9
    free_y = max(0.0, (big_h - fh) / 2) * 0.9
    cx = big_w / 2 + p["face_center"][0] * free_x
    cy = big_h / 2 + p["face_center"][1] * free_y

    mouth_box = tuple(round(v / ss, 1) for v in _draw_features(img, p, smile, cx, cy, fw, fh))
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
