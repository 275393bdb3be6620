"""Reliability of prediction and the shared decoder (issue #23, second round).

Each test stands for a class of failure found by probing: a model whose output is not one
probability per picture, special files that block, files crafted to cost minutes or gigabytes
to decode, file names that are not UTF-8, memory out of proportion to the work, exceptions
escaping `load_classifier`, image paths that look like options, and unsafe upload names.
Every file is made in code and small; TensorFlow is loaded once per module.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import write_image
from helpers import images
from helpers.images import REASONS, ImageError, open_image

# --------------------------------------------------------------------------- crafted files


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bytes(size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 120, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def _progressive_jpeg(extra_scans: int) -> bytes:
    """A small progressive JPEG with its last scan repeated `extra_scans` more times (a scan
    marker, its header and its entropy-coded data, copied whole)."""
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG", progressive=True)
    data = buffer.getvalue()
    last_scan = data.rindex(b"\xff\xda")
    return data[:-2] + data[last_scan:-2] * extra_scans + b"\xff\xd9"  # before the end marker


def _scans(data: bytes) -> int:
    return data.count(b"\xff\xda")


# --------------------------------------------------------------------------- special files


@pytest.mark.timeout(60)
def test_a_named_pipe_or_a_folder_is_refused_without_opening_it(tmp_path):
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer forever
    with pytest.raises(ImageError) as refused:
        open_image(pipe)
    assert refused.value.reason == "not_a_file" and "named pipe" in str(refused.value)
    with pytest.raises(ImageError) as folder:
        open_image(tmp_path)
    assert folder.value.reason == "not_a_file" and "folder" in str(folder.value)
    assert "not_a_file" in REASONS


# --------------------------------------------------------------------------- decode cost


@pytest.mark.timeout(60)
def test_a_jpeg_with_too_many_scans_is_refused_before_decoding(tmp_path):
    normal = tmp_path / "normal.jpg"
    normal.write_bytes(_progressive_jpeg(0))
    assert 1 < _scans(normal.read_bytes()) <= 20 and open_image(normal).size == (32, 32)
    bomb = tmp_path / "scans.jpg"
    bomb.write_bytes(_progressive_jpeg(images.MAX_JPEG_SCANS))
    start = time.perf_counter()
    with pytest.raises(ImageError) as refused:
        open_image(bomb)
    assert time.perf_counter() - start < 5
    assert refused.value.reason == "too_large"
    assert f"helpers.images.MAX_JPEG_SCANS = {images.MAX_JPEG_SCANS}" in str(refused.value)


@pytest.mark.timeout(60)
def test_a_png_with_too_many_chunks_is_refused_before_parsing_them(tmp_path):
    png = _png_bytes()
    header = 8 + 25  # signature and IHDR
    text = _chunk(b"tEXt", b"key\x00value") * (images.MAX_PNG_CHUNKS + 1)
    path = tmp_path / "text.png"
    path.write_bytes(png[:header] + text + png[header:])
    with pytest.raises(ImageError) as refused:
        open_image(path)
    assert refused.value.reason == "too_large"
    assert f"helpers.images.MAX_PNG_CHUNKS = {images.MAX_PNG_CHUNKS:,}" in str(refused.value)
    few = tmp_path / "few.png"
    few.write_bytes(png[:header] + _chunk(b"tEXt", b"key\x00value") * 20 + png[header:])
    assert open_image(few).size == (8, 8)


@pytest.mark.timeout(60)
def test_a_png_chunk_longer_than_the_file_is_corrupt_without_reading_gigabytes(tmp_path):
    png = _png_bytes()
    at = png.index(b"IDAT") - 4
    path = tmp_path / "idat.png"
    path.write_bytes(png[:at] + struct.pack(">I", 0xFFFFFFFF) + png[at + 4:])
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as refused:
            open_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.reason == "corrupt" and "IDAT" in str(refused.value)
    assert peak < 20_000_000  # not the 4 GB the chunk claims


def test_running_out_of_memory_while_decoding_is_an_image_error(tmp_path, monkeypatch):
    path = write_image(tmp_path / "photo.png")

    def no_memory(self):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", no_memory)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_memory)
    with pytest.raises(ImageError) as refused:
        open_image(path)
    assert refused.value.reason == "too_large" and "memory" in str(refused.value)


_PEAK_CODE = """
import re, sys
from pathlib import Path
from helpers.images import open_image

def peak() -> int:  # the most memory this process has held, in bytes
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024

before = peak()
img = open_image(sys.argv[1])
print(max(img.size), img.mode, peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
@pytest.mark.timeout(120)
def test_a_large_transparent_png_is_shrunk_with_one_full_size_copy(tmp_path):
    side = 6000
    path = tmp_path / "alpha.png"
    pixels = np.zeros((side, side, 4), np.uint8)
    pixels[1000:5000, 1000:5000] = (250, 200, 40, 255)
    Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    del pixels
    done = subprocess.run([sys.executable, "-c", _PEAK_CODE, str(path)], capture_output=True,
                          text=True, timeout=100, cwd=Path(__file__).parent.parent, check=True)
    side_after, mode, grown = done.stdout.split()
    assert mode == "RGB" and int(side_after) == images.MAX_SIDE
    decoded = side * side * 4
    assert int(grown) < 1.6 * decoded  # the decoded picture, not a premultiplied copy too


def test_a_large_transparent_png_keeps_its_exif_rotation_and_white_background(tmp_path):
    path = tmp_path / "rotated.png"
    pixels = np.zeros((2100, 4200, 4), np.uint8)  # transparent: white once flattened
    pixels[:, :2100] = (0, 0, 0, 255)  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to display: the black half goes on top
    Image.fromarray(pixels, "RGBA").save(path, exif=exif)
    img = np.asarray(open_image(path))
    assert img.shape == (2048, 1024, 3)
    assert img[:1000].max() < 10 and img[1048:].min() > 245
