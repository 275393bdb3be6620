"""How a drawn face is painted (helpers.synthetic draws its random choices): the background,
and head, eyes, nose, mouth and accessories in face units, rotated analytically by `Pen`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image, ImageDraw


def random_colour(rng: np.random.Generator, lo: int = 0, hi: int = 256) -> tuple[int, int, int]:
    """An RGB colour, each channel drawn from [lo, hi)."""
    r, g, b = rng.integers(lo, hi, size=3)
    return int(r), int(g), int(b)


def background(p: dict[str, Any], width: int, height: int) -> Image.Image:
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
            colour = random_colour(crng)
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


def curve(x: np.ndarray, amount: float) -> np.ndarray:
    """Mouth curve offset in face units: + bends the middle down (a smile in image coordinates).

    Centred so that the curve's mean height does not depend on the curvature.
    """
    return amount * (1.0 / 3.0 - x**2)


class Pen:
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


def draw_features(img: Image.Image, p: dict[str, Any], smile: float,
                   cx: float, cy: float, fw: float, fh: float) -> tuple[float, ...]:
    """Draw head, hair, eyes, eyebrows, nose, mouth and accessories onto `img`; return the
    mouth's box (x0, y0, x1, y1) in `img`'s pixels."""
    pen = Pen(img, cx, cy, fw / 2, fh / 2, p["rotation"])
    _draw_head(pen, p)
    eyes = _draw_eyes(pen, p, fw / fh)
    _draw_nose(pen, p)
    mouth_box = _draw_mouth(pen, p, smile)
    if p["glasses"]:
        _draw_glasses(pen, p, eyes, fw / fh)
    if p["hat"]:
        _draw_hat(pen, p["hat_style"], p["hat_colour"])
    return mouth_box


def _draw_head(pen: Pen, p: dict[str, Any]) -> None:
    """Hair behind the head, ears, the head, the fringe, the beard and moustache."""
    skin, hair = p["skin"], p["hair_colour"]
    if p["hair"]:
        pen.ellipse(-1.12, -1.14, 1.12, 0.35, fill=hair)
    if p["ears"]:
        shade = tuple(int(c * 0.8) for c in skin)
        pen.ellipse(-1.12, -0.25, -0.82, 0.2, fill=shade, n=24)
        pen.ellipse(0.82, -0.25, 1.12, 0.2, fill=shade, n=24)
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


def _draw_eyes(pen: Pen, p: dict[str, Any], aspect: float) -> tuple[float, float, float, float]:
    """Eyes and eyebrows (their angle drawn independently of the label); return the eyes'
    spacing, height and half-axes (face units) for the glasses."""
    ex, ey, es = p["eye_spacing"], p["eye_y"], p["eye_size"]
    ew, eh = es, es * p["eye_aspect"] * aspect  # eye half-axes (face units, u then v)
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
    if p["eyebrows"]:
        half = p["eyebrow_length"] * ew / 2
        by = ey - eh - p["eyebrow_height"]
        slope = math.tan(math.radians(p["eyebrow_angle"])) * aspect
        for side in (-1, 1):
            bcx = side * ex
            # Positive angle: the inner end is higher than the outer end.
            pen.line([bcx - side * half, bcx + side * half],
                     [by - slope * half, by + slope * half],
                     fill=p["hair_colour"] if p["hair"] else eye_colour,
                     width=p["eyebrow_width"])
    return ex, ey, ew, eh


def _draw_nose(pen: Pen, p: dict[str, Any]) -> None:
    ny, skin = p["nose_y"], p["skin"]
    nose_colour = tuple(int(c * 0.65) for c in skin)
    if p["nose"] == "line":
        pen.line([0.02, -0.05, 0.05], [ny - 0.15, ny, ny], fill=nose_colour, width=0.025)
    elif p["nose"] == "dots":
        for side in (-1, 1):
            pen.ellipse(side * 0.07 - 0.025, ny - 0.025, side * 0.07 + 0.025, ny + 0.025,
                        fill=nose_colour, n=12)
    elif p["nose"] == "triangle":
        pen.shape([0, -0.07, 0.07], [ny - 0.14, ny, ny], fill=tuple(int(c * 0.8) for c in skin))


def _draw_mouth(pen: Pen, p: dict[str, Any], smile: float) -> tuple[float, ...]:
    """The mouth, curvature = smile * depth: the only label-carrying feature. Return its box
    in pixels."""
    lip = tuple(int(min(255, c * p["lip_colour_factor"] * k))
                for c, k in zip(p["skin"], (1.3, 0.8, 0.8), strict=True))
    amount = float(smile) * p["mouth_depth"]
    mw, my = p["mouth_width"], p["mouth_y"]
    xs = np.linspace(-1, 1, 25)
    if p["open_mouth"]:
        gap = p["mouth_gap"] * (1 - xs**2)
        flat, bent = curve(xs, 0.35 * amount), curve(xs, amount)
        if amount >= 0:  # the opening hangs below a flatter upper lip
            upper, lower = flat, bent + gap
        else:  # the opening arches above a flatter lower lip
            upper, lower = bent - gap, flat
        mouth_u = np.concatenate([xs, xs[::-1]]) * mw
        mouth_v = my + np.concatenate([upper, lower[::-1]])
        pen.shape(mouth_u, mouth_v, fill=(60, 15, 20), outline=lip, width=p["mouth_line"] * 0.5)
    else:
        mouth_u, mouth_v = xs * mw, my + curve(xs, amount)
        pen.line(mouth_u, mouth_v, fill=lip, width=p["mouth_line"], caps=True)
    edge = np.asarray(pen.pts(mouth_u, mouth_v))
    half_line = pen.px(p["mouth_line"]) / 2
    return (*(edge.min(axis=0) - half_line), *(edge.max(axis=0) + half_line))


def _draw_glasses(pen: Pen, p: dict[str, Any], eyes: tuple[float, ...], aspect: float) -> None:
    ex, ey, ew, eh = eyes
    gcol = p["glasses_colour"]
    r = max(ew, eh) * 1.7
    rv = r * aspect
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


def _draw_hat(pen: Pen, style: str, colour: tuple[int, int, int]) -> None:
    top_half = np.linspace(math.pi, 2 * math.pi, 32)
    if style == "top":
        pen.rect(-0.65, -1.75, 0.65, -0.8, fill=colour)
        pen.rect(-1.1, -0.9, 1.1, -0.75, fill=colour)
    elif style == "cap":
        pen.shape(0.98 * np.cos(top_half), -0.8 + 0.45 * np.sin(top_half), fill=colour)
        pen.rect(-0.2, -0.83, 1.45, -0.74, fill=colour)
    else:
        pen.shape(1.02 * np.cos(top_half), -0.75 + 0.45 * np.sin(top_half), fill=colour)
        pen.rect(-1.02, -0.85, 1.02, -0.68, fill=tuple(int(c * 0.7) for c in colour))
