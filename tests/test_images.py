"""The one decoder: every supported format gives the same RGB pixels; bad files get a reason."""

import struct

import numpy as np
import pytest
from PIL import Image

from helpers.images import ImageError, iter_files, load_image, model_view, open_image


def test_colour_order_is_rgb_and_pixels_stay_raw(tmp_path, make_image):
    path = make_image(tmp_path / "red.png", colour=(220, 10, 10))
    pixels = load_image(path, image_size=16)
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.uint8
    red, green, blue = pixels[..., 0].mean(), pixels[..., 1].mean(), pixels[..., 2].mean()
    assert red > 200 and green < 60 and blue < 60


def test_model_view_is_luminance_scaled_to_unit_range(tmp_path, make_image):
    path = make_image(tmp_path / "grey.jpg", colour=(128, 128, 128))
    grey = model_view(load_image(path, image_size=48), 1)
    assert grey.shape == (48, 48, 1) and grey.dtype == np.float32
    assert 0.45 < grey.mean() < 0.7 and grey.min() >= 0 and grey.max() <= 1
    colour = model_view(load_image(path, image_size=48), 3)
    assert colour.shape == (48, 48, 3) and np.allclose(colour.mean(axis=-1), grey[..., 0],
                                                       atol=0.02)
    red = np.array([[[255, 0, 0]]], dtype=np.uint8)
    assert np.isclose(model_view(red)[0, 0, 0], 0.299)  # Pillow's "L" weights
    with pytest.raises(ValueError, match="channels must be 1"):
        model_view(red, 2)


@pytest.mark.parametrize(
    "name, fmt, mode",
    [
        ("a.bmp", "BMP", "RGB"),
        ("a.webp", "WEBP", "RGB"),
        ("a.tiff", "TIFF", "RGB"),
        ("a.gif", "GIF", "P"),
        ("palette.png", "PNG", "P"),
        ("grey.png", "PNG", "L"),
        ("cmyk.jpg", "JPEG", "CMYK"),
        ("UPPER.JPG", "JPEG", "RGB"),
        ("ünï cødé name.png", "PNG", "RGB"),
    ],
)
def test_supported_formats_decode_to_rgb(tmp_path, make_image, name, fmt, mode):
    path = make_image(tmp_path / name, fmt=fmt, mode=mode)
    img = open_image(path)
    assert img.mode == "RGB" and img.size == (64, 64)


def test_rgba_is_flattened_on_white(tmp_path):
    path = tmp_path / "transparent.png"
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(path)
    assert np.asarray(open_image(path)).min() == 255


def test_16_bit_png_keeps_its_brightness(tmp_path):
    path = tmp_path / "deep.png"
    Image.fromarray(np.full((32, 32), 40000, dtype=np.uint16)).save(path)
    value = np.asarray(open_image(path))[0, 0, 0]
    assert abs(int(value) - round(40000 / 65535 * 255)) <= 1


def test_exif_rotation_is_applied(tmp_path, make_image):
    path = tmp_path / "rotated.jpg"
    img = Image.open(make_image(tmp_path / "wide.png", size=(80, 40)))
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    img.save(path, exif=exif)
    assert open_image(path).size == (40, 80)


def test_animated_gif_gives_first_frame(tmp_path):
    path = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    r, _, b = np.asarray(open_image(path))[0, 0]
    assert r > 200 and b < 50


def _broken_png_crc(path, make_image):
    data = bytearray(make_image(path).read_bytes())
    ihdr_crc = 8 + 8 + 13  # signature, IHDR length+type, IHDR data
    data[ihdr_crc : ihdr_crc + 4] = struct.pack(">I", 0xDEADBEEF)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.jpg", b"", "empty_file"),
        ("notes.jpg", b"just some text, not a picture\n", "not_an_image"),
        ("page.jpg", b"<!DOCTYPE html><html><body>404</body></html>", "not_an_image"),
        ("vector.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
         "unsupported_format"),
        ("noise.jpg", bytes(range(256)) * 4, "corrupt"),
    ],
)
def test_unusable_files_raise_with_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as info:
        open_image(path)
    assert info.value.reason == reason
    assert name in str(info.value)


def test_truncated_jpeg_is_corrupt(tmp_path, make_image):
    path = make_image(tmp_path / "full.jpg", size=(120, 120))
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError) as info:
        open_image(cut)
    assert info.value.reason == "corrupt"


def test_broken_png_crc_is_corrupt(tmp_path, make_image):
    path = tmp_path / "crc.png"
    _broken_png_crc(path, make_image)
    with pytest.raises(ImageError) as info:
        open_image(path)
    assert info.value.reason == "corrupt"


def test_iter_files_skips_hidden_and_survives_symlink_loops(tmp_path, make_image):
    make_image(tmp_path / "a.png")
    make_image(tmp_path / "sub" / "b.png")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    make_image(tmp_path / ".ipynb_checkpoints" / "c.png")
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    names = [p.name for p in iter_files(tmp_path)]
    assert names == ["a.png", "b.png"]
    assert ".DS_Store" in [p.name for p in iter_files(tmp_path, include_hidden=True)]
