"""Reading images: the one decoder that cleaning, training and prediction all share.

Every image the kit touches goes through `open_image` (decode, fix orientation, flatten
transparency, convert to RGB) and `to_array` (resize; raw RGB pixels 0-255). Because there is
exactly one path from file to pixels, an image cannot be read one way for training and
another way for prediction (the seed tutorial's BGR-vs-RGB bug). The rest (grey, scaling to
[0, 1]) happens inside the model (`helpers.model.preprocessing_layers`); `model_view` does the
same outside it, for pictures and HOG features.

`open_image` is safe on files made to hurt: it opens only regular files (a named pipe
would block), and before decoding it checks what would cost minutes or gigabytes (too many
pixels, JPEG scans or PNG chunks, a PNG chunk longer than the file); each limit is a
module constant, named in the refusal.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import stat
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps

#: How much red, green and blue count in grey (ITU-R 601 luma, as Pillow's "L" mode): the
#: weights of the model's `greyscale` layer and of `model_view`.
LUMINANCE = (0.299, 0.587, 0.114)
#: File name extensions the kit reads as images (compared lower-case).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: Decoders we accept; anything else PIL can open (PSD, ICO, ...) is "unsupported_format".
SUPPORTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "GIF", "WEBP", "TIFF"})
#: Refuse images above this many pixels instead of exhausting memory.
MAX_PIXELS = 120_000_000
#: Larger images are decoded reduced to fit this many pixels per side (JPEG at once, via
#: `draft`): a 10000×10000 photo costs megabytes, not gigabytes, and the model sees 48 anyway.
MAX_SIDE = 2048
#: Refuse JPEGs with more scans than this: each scan is another pass over the whole picture
#: (a progressive JPEG has about 10, a baseline one 1; a crafted one thousands, minutes to decode).
MAX_JPEG_SCANS = 100
#: Refuse PNGs with more chunks than this besides image data (IDAT, fdAT, fcTL): Pillow parses
#: every one (normal PNGs have a few: colour profile, text, physical size).
MAX_PNG_CHUNKS = 1000

#: Reason codes used by `ImageError` and the cleaning report, with a user-facing explanation.
REASONS = {
    "empty_file": "the file is empty (0 bytes)",
    "not_an_image": "the file is not an image (text, HTML or another document)",
    "unsupported_format": "a format the kit does not read (use JPEG, PNG, BMP, GIF, WebP, TIFF)",
    "corrupt": "the image is truncated or damaged and cannot be decoded",
    "unreadable": "the file cannot be read (no permission, a broken link or a disk error)",
    "not_a_file": "not a regular file (a folder, named pipe, device, socket or broken link): "
                  "not a photo",
    "too_large": "the image is too large, or too costly to decode, for the kit's limits",
    "too_small": "the image is smaller than the minimum size",
    "duplicate": "an exact copy of another image in the same class",
    "near_duplicate": "a near copy (resized, re-encoded, brightened) of another image in the class",
    "label_conflict": "the same or nearly the same image appears in more than one class",
    "no_face": "no face was found (KEEP_UNMATCHED=True keeps such photos uncropped)",
    "several_faces": "several faces of similar size: which one carries the label?",
    "hidden": "a hidden or system file (.DS_Store, ._name, checkpoints), not a photo",
    "kept_on_review": "set aside by the cleaner, kept after a look",
    "set_aside_on_review": "set aside after a look",
    "relabelled": "moved to the other class after a look",
}


def readable(text: str) -> str:
    """`text` (a file name or a message naming one) safe to print: bytes of a name that are
    not UTF-8, which Python keeps as lone surrogates, are shown as `\\xe9` escapes."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


class ImageError(ValueError):
    """An image file that cannot be used; `reason` is one of `REASONS`."""

    def __init__(self, path: str | Path, reason: str, detail: str = ""):
        self.path = Path(path)
        self.reason = reason
        message = f"{readable(self.path.name)}: {REASONS[reason]}"
        super().__init__(message + (f" ({detail})" if detail else ""))


def _looks_like_text(head: bytes) -> bool:
    return b"\x00" not in head and all(b >= 9 for b in head[:256])


#: What a file that is not a regular file is, by `stat.S_IFMT` of its mode.
_FILE_KINDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a named pipe",
               stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device"}


def _check_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        raise ImageError(path, "not_a_file", _FILE_KINDS.get(stat.S_IFMT(mode), "special file"))


def _open_nonblocking(name: str, flags: int) -> int:
    """Open without waiting: a file swapped for a named pipe after `os.stat` cannot block."""
    return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))


def _limit(name: str) -> str:
    """Which limit refused a file, written as the Python line that would change it."""
    return f"the limit is helpers.images.{name} = {globals()[name]:_}; raise it to read this file"


#: In a JPEG's entropy-coded data every 0xFF is followed by 0x00 (or is a restart marker
#: 0xD0-0xD7), so the next other 0xFF pair is the next marker.
_NEXT_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _count_jpeg_scans(data: mmap.mmap) -> int:
    """The scans (SOS markers) of a JPEG's first picture, counting no further than one past
    `MAX_JPEG_SCANS`; the walk goes marker by marker, so bytes inside metadata never count."""
    pos, scans = 2, 0  # after the start-of-image marker
    while pos + 4 <= len(data) and scans <= MAX_JPEG_SCANS and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xD9:  # end of the first picture (an MPO's others, a trailer, follow)
            break
        if marker == 0xFF or 0xD0 <= marker <= 0xD8 or marker == 0x01:  # fill, no length
            pos += 1 if marker == 0xFF else 2
            continue
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            scans += 1
            following = _NEXT_JPEG_MARKER.search(data, pos)
            if following is None:
                break
            pos = following.start()
    return scans


_PNG_IMAGE_DATA = frozenset({b"IDAT", b"fdAT", b"fcTL"})


def _check_png_chunks(path: Path, data: mmap.mmap) -> None:
    """Refuse a PNG whose chunks claim more bytes than the file holds (Pillow would try to read
    them all at once) or that has more than `MAX_PNG_CHUNKS` chunks besides image data."""
    pos, others = 8, 0  # after the signature
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if pos + 12 + length > len(data):
            raise ImageError(path, "corrupt", f"its {kind.decode('latin-1')!r} chunk claims "
                                              f"{length:,} bytes, more than the file holds")
        if kind == b"IEND":
            break
        others += kind not in _PNG_IMAGE_DATA
        if others > MAX_PNG_CHUNKS:
            raise ImageError(path, "too_large", f"more than {MAX_PNG_CHUNKS:,} chunks besides "
                                                f"the image data; {_limit('MAX_PNG_CHUNKS')}")
        pos += 12 + length


def _check_structure(path: Path, head: bytes, fileno: int) -> None:
    """Refuse a JPEG or PNG built to cost minutes or gigabytes, before even Pillow's parser
    (which reads every PNG chunk before the image data when it opens the file) sees it."""
    is_png, is_jpeg = head.startswith(b"\x89PNG\r\n\x1a\n"), head.startswith(b"\xff\xd8")
    if not (is_png or is_jpeg):
        return
    with mmap.mmap(fileno, 0, access=mmap.ACCESS_READ) as data:
        if is_png:
            _check_png_chunks(path, data)
        elif _count_jpeg_scans(data) > MAX_JPEG_SCANS:
            raise ImageError(path, "too_large", f"more than {MAX_JPEG_SCANS:,} scans (a "
                                                f"progressive JPEG has about 10); "
                                                f"{_limit('MAX_JPEG_SCANS')}")


def open_image(path: str | Path) -> Image.Image:
    """Decode an image file into an RGB PIL image, or raise `ImageError` saying why not.

    Handles EXIF rotation, transparency (flattened on white), palette, CMYK, 16-bit and
    animated images (first frame). Images with a side above `MAX_SIDE` are shrunk to fit it
    while decoding (see `_reduce_transparent`). Only regular files are opened (reason
    `not_a_file`); files over the limits above are refused before decoding (`too_large`).
    """
    path = Path(path)
    try:
        _check_regular(path, path.stat().st_mode)
        with open(path, "rb", opener=_open_nonblocking) as f:
            info = os.fstat(f.fileno())
            _check_regular(path, info.st_mode)
            if info.st_size == 0:
                raise ImageError(path, "empty_file")
            head = f.read(512)
            f.seek(0)
            return _to_rgb(_decode(path, f, head))
    except OSError as err:
        detail = "file not found" if isinstance(err, FileNotFoundError) else err.strerror
        raise ImageError(path, "unreadable", detail or str(err)) from err


def _decode(path: Path, f: BinaryIO, head: bytes) -> Image.Image:
    """Decode the open file `f` (its first bytes: `head`), oriented and at most `MAX_SIDE`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            _check_structure(path, head, f.fileno())
            img = Image.open(f)
            if img.format not in SUPPORTED_FORMATS:
                raise ImageError(path, "unsupported_format", f"format {img.format}")
            if img.width * img.height > MAX_PIXELS:
                raise ImageError(path, "too_large", f"{img.width}x{img.height} pixels; "
                                                    f"{_limit('MAX_PIXELS')}")
            if max(img.size) > MAX_SIDE:
                img = _reduce_transparent(img)  # the decoded picture is freed here
                img.thumbnail((MAX_SIDE, MAX_SIDE), reducing_gap=1.0)  # JPEG: decoded reduced
            img.load()
            return ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as err:
        raise ImageError(path, "too_large", str(err)) from err
    except MemoryError as err:
        raise ImageError(path, "too_large", "not enough memory to decode it") from err
    except Image.UnidentifiedImageError as err:
        lowered = head.lstrip().lower()
        if path.suffix.lower() == ".svg" or lowered.startswith(b"<svg") or b"<svg" in lowered:
            raise ImageError(path, "unsupported_format", "SVG is a vector format") from err
        if _looks_like_text(head):
            raise ImageError(path, "not_an_image") from err
        raise ImageError(path, "corrupt", "unknown or damaged image data") from err
    except (OSError, SyntaxError, ValueError, struct.error) as err:
        raise ImageError(path, "corrupt", str(err)) from err


def _reduce_transparent(img: Image.Image) -> Image.Image:
    """A picture with transparency and a side of at least twice `MAX_SIDE`, put on white and
    reduced by a whole factor, band by band; any other picture as it is.

    Resizing it whole would first make a premultiplied copy as large as the decoded picture
    (+480 MB at 120 megapixels); averaging after putting it on white gives the same pixels.
    """
    factor = max(img.size) // MAX_SIDE
    if img.mode not in ("RGBA", "LA") or factor < 2:
        return img
    width, height = img.size
    rows = 64 * factor  # a band: a few megabytes, a whole number of reduced rows
    reduced = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        band = img.crop((0, top, width, min(top + rows, height)))
        reduced.paste(_to_rgb(band).reduce(factor), (0, top // factor))
    reduced.info = img.info  # the EXIF orientation, applied once shrunk
    return reduced


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB, scaling 16/32-bit data and putting alpha on white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0, 0, 255).astype(np.uint8), mode="L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


def to_array(img: Image.Image, image_size: int = 48) -> np.ndarray:
    """Resize an RGB image to `image_size` square: raw pixels, uint8 0-255, shape (size, size, 3).

    That is all the preparing outside the model: the model itself makes the pixels grey (if it
    was built for grey) and scales them to [0, 1], so any program's RGB pixels fit it.
    """
    img = img.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR,
                                    reducing_gap=2.0)
    return np.array(img, dtype=np.uint8)


def load_image(path: str | Path, image_size: int = 48) -> np.ndarray:
    """Decode and resize one image file exactly as training does (see module docstring)."""
    return to_array(open_image(path), image_size)


def model_view(pixels: np.ndarray, channels: int = 1) -> np.ndarray:
    """Raw RGB pixels (..., 3) as the model's first layers make them: grey by `LUMINANCE`
    (`channels=1`) or colour (3), float32 in [0, 1], shape (..., channels). For showing what
    the model sees and for HOG features; the model does this itself, inside."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grey) or 3 (RGB), got {channels}")
    pixels = np.asarray(pixels, dtype=np.float32)
    if channels == 1:
        pixels = pixels @ np.asarray(LUMINANCE, dtype=np.float32)[:, np.newaxis]
    return pixels / np.float32(255)


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_hidden(path: Path) -> bool:
    """True for hidden files and folders (.DS_Store, ._x.jpg, .ipynb_checkpoints, ...)."""
    return path.name.startswith(".") or path.name.startswith("__")


def class_folders(data_dir: str | Path) -> list[Path]:
    """The class subfolders of `data_dir`, sorted by name, hidden folders skipped."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(
            f"Data folder {data_dir} does not exist. Run notebook 01_collect_data first, "
            "or point DATA_DIR at a folder with one subfolder per class."
        )
    return sorted(p for p in data_dir.iterdir() if p.is_dir() and not is_hidden(p))


#: Why `iter_files` left something out, as recorded in `skipped`.
SKIP_REASONS = {
    "unreadable_folder": "a folder that cannot be read (no permission or a disk error): "
                         "the photos in it are left out; fix its permissions to include them",
    "outside_link": "a link to a folder outside the data folder: not followed (copy the "
                    "photos in instead of linking to them)",
    "not_a_file": REASONS["not_a_file"],
}


def iter_files(folder: str | Path, include_hidden: bool = False, within: str | Path | None = None,
               skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Every file below `folder` (recursive, sorted, safe against symlink loops).

    Hidden files and folders are skipped unless `include_hidden` is true. A folder is listed
    once however many links lead to it, and a link back up to `folder` or above it is not
    followed (it would pull in other classes' files), nor is a folder (or a link) whose real
    place is outside `within` (default: `folder`'s parent, the data folder of a class
    folder). What is left out is appended to `skipped` as (path, reason in `SKIP_REASONS`):
    those folders, and special files (named pipes, devices, sockets, broken links).
    """
    seen: set[Path] = set()
    folder = Path(folder)
    stack = [folder]
    root = folder.resolve()
    boundary = Path(within if within is not None else folder.absolute().parent).resolve()

    def skip(path: Path, reason: str) -> None:
        if skipped is not None:
            skipped.append((path, reason))

    while stack:
        current = stack.pop()
        try:
            real = current.resolve()
        except (OSError, RuntimeError):
            skip(current, "unreadable_folder")
            continue
        if not real.is_relative_to(boundary):
            skip(current, "outside_link")
            continue
        if real in seen or (real != root and root.is_relative_to(real)):
            continue
        seen.add(real)
        try:
            entries = sorted(current.iterdir())
        except OSError:
            skip(current, "unreadable_folder")
            continue
        subfolders = []
        for entry in entries:
            if is_hidden(entry) and not include_hidden:
                continue
            try:
                if entry.is_dir():
                    subfolders.append(entry)
                elif entry.is_file():
                    yield entry
                else:
                    skip(entry, "not_a_file")
            except OSError:  # a name the file system refuses to look up (too long)
                skip(entry, "unreadable_folder")
        stack.extend(reversed(subfolders))
