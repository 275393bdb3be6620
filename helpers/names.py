"""File names for the copies the kit writes: valid UTF-8, unique in their folder (as a disk that
ignores case and Unicode normalisation sees them), within the file system's byte limit with
their extension kept. Cleaning, review and uploads name their copies here."""

from __future__ import annotations

import hashlib
import os
import unicodedata
from pathlib import Path, PurePosixPath

#: Longest name, in bytes of UTF-8, that a copy in clean/ or set_aside/ gets: the limit of
#: ext4, APFS and NTFS. A longer one is shortened, keeping its start, a tag and its extension.
MAX_NAME_BYTES = 255
#: Hex digits of the tag (from the original's path) that tells apart two copies whose names
#: would be the same, or a name that was shortened.
NAME_TAG_LENGTH = 8
#: An extension longer than this is not kept apart when a name is shortened.
_MAX_EXTENSION = 8


def fit_name(stem: str, ending: str, limit: int = MAX_NAME_BYTES) -> str:
    """`stem + ending` with the stem cut, between characters, to fit `limit` UTF-8 bytes."""
    room = max(limit - len(ending.encode()), 1)
    return stem.encode()[:room].decode("utf-8", "ignore") + ending


def name_limit(folder: Path) -> int:
    """The longest file name `folder`'s file system takes, in bytes (MAX_NAME_BYTES if it
    does not say)."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return MAX_NAME_BYTES


def readable_name(name: str) -> str:
    """`name` as valid UTF-8: a byte that was not UTF-8 (a Latin-1 name from an old camera,
    which Python keeps as a surrogate) becomes %XX, so `café.png` in Latin-1 is `caf%E9.png`."""
    return "".join(
        (f"%{ord(c) - 0xDC00:02X}" if 0xDC80 <= ord(c) <= 0xDCFF else "\ufffd")
        if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)


def _tagged(name: str, tag: str, shorten: bool) -> str:
    """`name` with `~tag` before its extension, cut (by bytes, never inside a character) so
    the whole fits `MAX_NAME_BYTES`."""
    suffix = PurePosixPath(name).suffix
    extension = suffix if 1 < len(suffix) <= _MAX_EXTENSION else ""
    stem = name[: len(name) - len(extension)]
    end = f"~{tag}{extension}"
    return fit_name(stem, end, MAX_NAME_BYTES) if shorten else stem + end


def _folded(name: str) -> str:
    """`name` as a disk that ignores case and Unicode normalisation (macOS, Windows) sees it."""
    return unicodedata.normalize("NFC", name).casefold()


def unique_name(name: str, key: str, taken: set[str]) -> str:
    """A name for a copy, from `name` (made `readable_name`): as it is if it fits
    `MAX_NAME_BYTES` and no name in `taken` is the same (ignoring case and Unicode
    normalisation, as macOS and Windows do); else shortened and/or tagged with a hash of `key`
    (the original's path), so it is the same on every run. The name chosen is added to
    `taken` (as `_folded` compares it)."""
    name = readable_name(name)
    too_long = len(name.encode()) > MAX_NAME_BYTES
    tag = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:NAME_TAG_LENGTH]
    candidate, n = (_tagged(name, tag, True) if too_long else name), 1
    while _folded(candidate) in taken:
        candidate = _tagged(name, tag if n == 1 else f"{tag}-{n}", True)
        n += 1
    taken.add(_folded(candidate))
    return candidate


def free_path(target: Path, key: str) -> Path:
    """`target`, renamed by `unique_name` (tagged from `key`) if a file in its folder already
    has that name or it is too long: a copy never replaces another."""
    folder = target.parent
    taken = {_folded(p.name) for p in folder.iterdir()} if folder.is_dir() else set()
    return target.with_name(unique_name(target.name, key, taken))
