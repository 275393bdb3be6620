"""How the kit copies a picture that passed cleaning: byte for byte when its format allows,
else re-saved as PNG (other formats and modes, an EXIF rotation), with the original's
permission bits; and the staging folder where converted copies and face crops wait until
cleaning knows each file's outcome."""

from __future__ import annotations

import errno
import shutil
import warnings
from pathlib import Path

from PIL import Image

from helpers.images import open_image
from helpers.names import free_path
from helpers.workspace import write_error

#: Formats and modes that are copied byte-for-byte; anything else is converted to PNG.
PLAIN_FORMATS = frozenset({"JPEG", "PNG", "BMP"})
PLAIN_MODES = frozenset({"RGB", "L"})
#: Write errors that stop cleaning: the work folder itself cannot take the copies (disk full,
#: no permission). Any other error writing one copy sets that file aside (`copy_failed`).
FATAL_WRITE_ERRORS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC),
                                errno.EACCES, errno.EPERM, errno.EROFS})
#: Subfolder of clean/ where converted copies and face crops wait until the outcomes are known
#: (hidden: nothing later reads it, and it is removed at the end).
STAGING = ".staging"


def inspect_format(path: Path) -> tuple[str, str]:
    """The file's format, and why it should be re-saved as PNG ('' if it can be copied as is),
    from its header only: nothing is decoded (a PNG's EXIF after its pixels is not read;
    `open_image` still applies it, so training sees the picture upright)."""
    with warnings.catch_warnings(), Image.open(path) as img:
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS guards
        header_exif = img.format != "PNG" or "exif" in img.info  # else getexif decodes it all
        orientation = img.getexif().get(0x0112, 1) if header_exif else 1
        if img.format not in PLAIN_FORMATS:
            return img.format, f"{img.format} converted to PNG"
        if img.mode not in PLAIN_MODES:
            return img.format, f"{img.mode} image converted to RGB PNG"
        if orientation not in (None, 1):
            return img.format, "EXIF rotation applied"
        return img.format, ""


def keep_mode(src: Path, target: Path) -> None:
    """Give `target` the permission bits of `src` (a private photo stays private), keeping
    it readable and writable for its owner so the kit can move and replace it."""
    mode = (src.stat().st_mode & 0o777) | 0o600
    try:
        target.chmod(mode)
    except PermissionError:  # file systems without Unix permissions (FAT, some network drives)
        pass


def copy_usable(src: Path, target: Path) -> tuple[Path, str]:
    """Copy an image that passed cleaning to `target`, or re-save it as PNG (`target` + .png)
    when its format, mode or EXIF rotation needs it; either way with `src`'s permission bits,
    and under another name (`free_path`) if that one is taken. Returns the path written and
    what was converted ('' for a plain copy)."""
    _, conversion = inspect_format(src)
    if conversion:
        target = target.with_name(target.name + ".png")
    target = free_path(target, str(src))
    target.parent.mkdir(parents=True, exist_ok=True)
    if conversion:
        open_image(src).save(target, format="PNG")
    else:
        shutil.copyfile(src, target)
    keep_mode(src, target)
    return target, conversion


class Staging:
    """Converted copies and face crops, written from the one decoding of each file, waiting in
    `clean/.staging/` until the outcomes are known; keyed by (file, face)."""

    def __init__(self, clean_dir: Path):
        self.folder = clean_dir / STAGING
        self.paths: dict[tuple[str, str], Path] = {}
        self.errors: dict[tuple[str, str], str] = {}

    def save(self, key: tuple[str, str], img: Image.Image) -> None:
        path = self.folder / f"{len(self.paths) + len(self.errors)}.png"
        try:
            self.folder.mkdir(exist_ok=True)
            img.save(path, format="PNG")
        except OSError as err:
            if err.errno in FATAL_WRITE_ERRORS:
                raise write_error(self.folder.parent, err) from err
            path.unlink(missing_ok=True)
            self.errors[key] = err.strerror or str(err)
            return
        self.paths[key] = path

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
