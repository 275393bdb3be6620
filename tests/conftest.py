"""Shared test fixtures: small images made in code (no downloaded data is ever needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def write_image(path: Path, size=(64, 64), colour=(200, 60, 30), fmt=None, mode="RGB", **save):
    """Write a solid-colour image with a small gradient (so copies differ by content)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    ramp = np.linspace(0, 40, w, dtype=np.float32)[None, :, None]
    pixels = np.clip(np.array(colour, dtype=np.float32)[None, None, :] + ramp, 0, 255)
    img = Image.fromarray(np.repeat(pixels, h, axis=0).astype(np.uint8), "RGB")
    if mode != "RGB":
        img = img.convert(mode)
    img.save(path, format=fmt, **save)
    return path


@pytest.fixture
def make_image():
    return write_image
