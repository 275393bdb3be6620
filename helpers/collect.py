"""Collecting photos: get a learner's own pictures into the kit's data folder.

Three ways in, one result: `data_dir/<class>/<sha256[:16]><ext>` files plus a row per source
file in `data_dir/collect_manifest.csv`.

* `import_folder` copies photos from a folder with one subfolder per class (happy/, sad/).
* `download_urls` downloads a text file of image URLs into one class (resumable).
* `search_images` fetches search-engine results with icrawler (needs internet).

Files are named by a hash of their bytes, so the same picture collected twice (or under two
names) is stored once, and re-running a collection step adds nothing new. Originals are
never modified or deleted, and nothing is decoded here: checking that every file really is
a usable image is the cleaning stage's job (a download's first bytes are only looked at to
name its format when the server does not say). The manifest says where every file came
from and what happened to it, including the ones that were skipped or failed; it is written
with `helpers.workspace.write_table`, so any file name survives and a copy re-saved by a
spreadsheet still reads. Nothing waits for ever: each download has a deadline
(`DOWNLOAD_DEADLINE`), and walks never follow a link out of the photo folder.
"""

from __future__ import annotations

import codecs
import contextvars
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import urllib.parse
import uuid
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import requests
from icrawler import ImageDownloader
from icrawler.builtin import BingImageCrawler, GoogleImageCrawler
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from .images import IMAGE_EXTENSIONS, class_folders, is_hidden, iter_files, sha256_of
from .workspace import read_table, write_table

#: The manifest file, at `data_dir / MANIFEST_NAME`; one row per source file per run.
MANIFEST_NAME = "collect_manifest.csv"
#: Manifest columns, in order.
MANIFEST_COLUMNS = [
    "original_path",
    "class",
    "source",
    "status",
    "bytes",
    "sha256",
    "stored_path",
    "url",
]
#: URL statuses that count as done: `download_urls` skips these URLs when run again.
DONE_STATUSES = frozenset({"downloaded", "already_present"})
#: Seconds one download may take in all (`download_urls(deadline=...)`), however slowly the
#: server trickles its bytes; past it the URL is recorded as too_slow.
DOWNLOAD_DEADLINE = 60
#: Seconds `download_urls` waits for each answer or read (`timeout=...`).
DOWNLOAD_TIMEOUT = 10
#: Largest download kept, in bytes (`download_urls(max_bytes=...)`); larger ones are too_large.
MAX_DOWNLOAD_BYTES = 10_000_000

_BINARY_HINT = "this kit is binary: it needs two class folders, e.g. happy/ and sad/"
_OFFLINE_HINT = (
    "put your photos in a folder with happy/ and sad/ subfolders and set SOURCE_DIR "
    "(notebook 01) or use download_urls with a list of URLs"
)
_FORMATS = "JPEG, PNG, BMP, GIF, WebP or TIFF"
#: Content types we store, with the extension they get.
_CONTENT_TYPE_EXT = {
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/x-png": ".png",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/x-bmp": ".bmp",
    "image/x-ms-bmp": ".bmp",
    "image/webp": ".webp",
    "image/tiff": ".tiff",
}
#: Content types that say nothing about the format (S3's default, a bare download, none):
#: for these the first bytes decide (`_sniff`).
_GENERIC_CONTENT_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
#: Leading bytes of the formats the kit reads, with the extension a file starting so gets.
_MAGIC = (
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF87a", ".gif"),
    (b"GIF89a", ".gif"),
    (b"BM", ".bmp"),
    (b"II*\x00", ".tiff"),
    (b"MM\x00*", ".tiff"),
)
_SNIFF_BYTES = 12
_ENGINES = {
    "bing": (BingImageCrawler, "www.bing.com"),
    "google": (GoogleImageCrawler, "www.google.com"),
}
_USER_AGENT = "happy-sad-cnn-kit/0.1 (course kit; python-requests)"
#: urllib3 backoff factor between download retries (tests set it to 0).
_BACKOFF_FACTOR = 0.3
_CONNECTIVITY_TIMEOUT = 3.0
_CHUNK = 1 << 16


class OfflineError(RuntimeError):
    """Raised by `search_images` when the search engine cannot be reached."""


@dataclass
class _Row:
    original_path: str
    class_: str
    source: str
    status: str
    bytes: int = 0
    sha256: str = ""
    stored_path: str = ""
    url: str = ""

    def as_dict(self) -> dict:
        row = asdict(self)
        row["class"] = row.pop("class_")
        return {col: row[col] for col in MANIFEST_COLUMNS}


# --------------------------------------------------------------------------- manifest


def read_manifest(data_dir: str | Path) -> pd.DataFrame:
    """The whole collection manifest of `data_dir` (empty DataFrame if there is none yet),
    read with `helpers.workspace.read_table` (a copy re-saved in another encoding reads)."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        return _frame([])
    frame = read_table(path)
    frame["bytes"] = frame["bytes"].fillna(0).astype("int64")
    return frame


def copies_left_out(data_dir: str | Path) -> pd.DataFrame:
    """The files `import_folder` found byte-identical to one already stored in their class
    (status already_present) and so never copied into `data_dir`: one manifest row per such
    original, `stored_path` naming the file it is a copy of. A file imported in any run is not
    one of them (importing again records every file as already_present). Cleaning lists these
    copies too, so that every source file is in the cleaning report."""
    manifest = read_manifest(data_dir)
    folder = manifest[manifest["source"] == "folder"]
    imported = set(folder.loc[folder["status"] == "imported", "original_path"])
    copies = folder[(folder["status"] == "already_present")
                    & ~folder["original_path"].isin(imported)]
    return copies.drop_duplicates("original_path", keep="last").reset_index(drop=True)


def _frame(rows: Iterable[_Row]) -> pd.DataFrame:
    frame = pd.DataFrame([row.as_dict() for row in rows], columns=MANIFEST_COLUMNS)
    frame["bytes"] = frame["bytes"].astype("int64")
    return frame


def _append_manifest(data_dir: Path, rows: Sequence[_Row]) -> None:
    if not rows:
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    write_table(_frame(rows), data_dir / MANIFEST_NAME, append=True)


def _warn_about(rows: Iterable[_Row], advice: Mapping[str, str], things: str) -> None:
    """One warning naming each status in `advice` that `rows` have, with what to do."""
    counts = Counter(row.status for row in rows if row.status in advice)
    if counts:
        warnings.warn("; ".join(f"{n} {things} {status}: {advice[status]}"
                                for status, n in counts.items()), stacklevel=3)


# --------------------------------------------------------------------------- storing


class _ClassStore:
    """One class folder of `data_dir`, storing files under content-hash names."""

    def __init__(self, data_dir: Path, class_name: str):
        self.data_dir = data_dir
        self.name = class_name
        self.folder = data_dir / class_name
        self.folder.mkdir(parents=True, exist_ok=True)
        # Stems already stored: the same bytes under another extension count as present.
        self.stems = {p.stem: p for p in self.folder.iterdir() if p.is_file() and not is_hidden(p)}

    def temp_path(self) -> Path:
        """A hidden scratch file in the class folder (`iter_files` never sees it)."""
        return self.folder / f".partial-{uuid.uuid4().hex}"

    def find(self, sha256: str) -> str:
        """stored_path of the file with these bytes, or "" if there is none yet."""
        existing = self.stems.get(sha256[:16])
        return self._relative(existing) if existing is not None else ""

    def put(self, filled: Path, sha256: str, ext: str) -> tuple[str, str]:
        """Move the scratch file `filled` into place; return (status, stored_path)."""
        stem = sha256[:16]
        existing = self.stems.get(stem)
        if existing is not None:
            filled.unlink(missing_ok=True)
            return "already_present", self._relative(existing)
        target = self.folder / f"{stem}{ext.lower()}"
        os.replace(filled, target)
        self.stems[stem] = target
        return "stored", self._relative(target)

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.data_dir).as_posix()


def _store_file(path: Path, store: _ClassStore, source: str, url: str = "") -> _Row:
    """Copy one file into `store` (bytes unchanged, permissions no wider than the
    original's) and describe what happened."""
    row = _Row(url or str(path.absolute()), store.name, source, "skipped_extension", url=url)
    try:
        info = path.stat()
        row.bytes = info.st_size
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return row
        row.sha256 = sha256_of(path)
        existing = store.find(row.sha256)
        if existing:
            row.status, row.stored_path = "already_present", existing
            return row
        scratch = store.temp_path()
        try:
            # Created with the original's read/write bits (less the umask), so a private
            # photo stays private; the descriptor may write even if those bits are read-only.
            fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, info.st_mode & 0o666)
            with os.fdopen(fd, "wb") as copy, open(path, "rb") as original:
                shutil.copyfileobj(original, copy)
            status, row.stored_path = store.put(scratch, row.sha256, path.suffix)
        finally:
            scratch.unlink(missing_ok=True)
    except OSError:
        row.status = "unreadable"
        return row
    row.status = (
        ("imported" if source == "folder" else "downloaded") if status == "stored" else status
    )
    return row


# --------------------------------------------------------------------------- checks


def _check_class_name(class_name: str) -> None:
    if (
        not isinstance(class_name, str)
        or not class_name.strip()
        or class_name in (".", "..")
        or "/" in class_name
        or "\\" in class_name
        or is_hidden(Path(class_name))
    ):
        raise ValueError(
            f"class_name {class_name!r} is not a usable folder name. "
            "Use a plain name such as 'happy' or 'sad'."
        )


def _check_data_dir_classes(data_dir: Path, new_classes: Sequence[str]) -> None:
    """Refuse to give `data_dir` more than two classes (empty class folders don't count)."""
    existing = []
    if data_dir.is_dir():
        existing = [p.name for p in class_folders(data_dir) if next(iter_files(p), None)]
    together = sorted(set(existing) | set(new_classes))
    if len(together) > 2:
        raise ValueError(
            f"Data folder {data_dir} already holds the classes {', '.join(existing)}; "
            f"adding {', '.join(new_classes)} would make {len(together)} classes, but "
            f"{_BINARY_HINT}. Use another DATA_DIR, or remove the class folder(s) you no "
            "longer want from the data folder."
        )


def _check_not_nested(source_dir: Path, data_dir: Path) -> None:
    src, dst = source_dir.resolve(), data_dir.resolve()
    if src == dst or src in dst.parents or dst in src.parents:
        raise ValueError(
            f"The photo folder {source_dir} and the data folder {data_dir} overlap. "
            "Keep your originals in a separate folder (e.g. ~/my_faces) and import from there."
        )


def _pick_classes(source_dir: Path, classes: Sequence[str] | None) -> list[Path]:
    found = class_folders(source_dir)
    names = [p.name for p in found]
    if classes is not None:
        if isinstance(classes, str):
            classes = [classes]
        missing = [c for c in classes if c not in names]
        if missing:
            raise ValueError(
                f"No class folder named {', '.join(map(repr, missing))} in {source_dir}; "
                f"the class folders there are: {', '.join(names) or '(none)'}."
            )
        found = [source_dir / c for c in dict.fromkeys(classes)]
        names = [p.name for p in found]
    if not found:
        loose = sum(1 for p in source_dir.iterdir() if p.is_file() and not is_hidden(p))
        extra = (
            f" It has {loose} file(s) directly inside; move them into those subfolders."
            if loose
            else ""
        )
        raise ValueError(
            f"{source_dir} has no class subfolders. Put your photos in one subfolder per "
            f"class, e.g. {source_dir / 'happy'} and {source_dir / 'sad'}.{extra}"
        )
    if len(found) == 1:
        raise ValueError(
            f"{source_dir} has only one class folder ({names[0]}/), but {_BINARY_HINT}. "
            "Add a folder for the other class with its photos."
        )
    if len(found) > 2:
        raise ValueError(
            f"{source_dir} has {len(found)} class folders ({', '.join(names)}), but "
            f"{_BINARY_HINT}. Pick two with classes=[{names[0]!r}, {names[1]!r}] "
            "or move the others out of the folder."
        )
    return found


# --------------------------------------------------------------------------- import_folder

#: What to do about the import statuses that need a look (`import_folder` warns about them).
_IMPORT_ADVICE = {
    "skipped_unreadable_folder": "a folder that cannot be read (no permission or a disk "
                                 "error), so the photos in it are left out: fix its "
                                 "permissions (chmod -R u+rX FOLDER) and import again",
    "skipped_outside_link": "a link to a folder outside its class folder, not followed (it "
                            "could mix the classes or lead anywhere on the disk): copy the "
                            "photos in instead of linking to them",
    "skipped_not_a_file": "not a regular file (a named pipe, device, socket or broken link)",
    "unreadable": "a file that cannot be read (no permission or a disk error)",
}


def import_folder(
    source_dir: str | Path, data_dir: str | Path, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Copy a folder of photos, one subfolder per class, into `data_dir`.

    Every file under `source_dir` is recorded in the manifest: files with an image extension
    below each class folder (nested subfolders included) are copied unchanged to
    `data_dir/<class>/<sha256[:16]><ext>` (imported; the copy gets the original's permission
    bits, less the umask). A file byte-identical to one already stored in its class is
    already_present and not copied (`copies_left_out` lists these). The other statuses:
    skipped_extension (no image extension), skipped_hidden (hidden and system files such as
    `.DS_Store`, `._x.jpg`, checkpoint folders), skipped_no_class (directly in `source_dir`),
    skipped_other_class (in a class folder not picked), and, with a warning saying what to do:
    skipped_unreadable_folder (one row for a folder that cannot be read), skipped_outside_link
    (a link out of its class folder, not followed), skipped_not_a_file (pipe, device, broken
    link), unreadable. A class folder that links out of `source_dir` or cannot be read is
    refused before anything is copied. Running it again copies nothing twice. `classes` picks
    which two subfolders to import. Returns this run's manifest rows.
    """
    source_dir, data_dir = Path(source_dir).expanduser(), Path(data_dir).expanduser()
    if not source_dir.exists():
        raise FileNotFoundError(
            f"Photo folder {source_dir} does not exist. Check the path (SOURCE_DIR in "
            "notebook 01): it should be a folder with one subfolder per class, e.g. happy/ "
            "and sad/."
        )
    if not source_dir.is_dir():
        raise ValueError(
            f"{source_dir} is a file, not a folder. If it is a .zip, unzip it first and give "
            "the folder that holds the class subfolders (happy/, sad/)."
        )
    _check_not_nested(source_dir, data_dir)
    picked = _pick_classes(source_dir, classes)
    for folder in picked:
        _check_class_folder(folder, source_dir)
    files, rows = _survey(source_dir, picked)
    for folder in picked:
        _check_has_images(folder, files[folder.name], rows)
    _check_data_dir_classes(data_dir, list(files))

    total = sum(len(v) for v in files.values())
    try:
        with tqdm(total=total, desc="Importing", unit="file") as bar:
            for class_name, class_files in files.items():
                store = _ClassStore(data_dir, class_name)
                for path in class_files:
                    rows.append(_store_file(path, store, "folder"))
                    bar.update()
    finally:
        _append_manifest(data_dir, rows)
    _warn_about(rows, _IMPORT_ADVICE, "file(s) or folder(s)")
    return _frame(rows)


def _check_class_folder(folder: Path, source_dir: Path) -> None:
    """Refuse a class folder that is a link out of `source_dir` or cannot be read."""
    real = folder.resolve()
    if not real.is_relative_to(source_dir.resolve()):
        raise ValueError(
            f"The class folder {folder} is a link to {real}, outside {source_dir}: the kit "
            "does not follow links out of the photo folder (they can lead anywhere on the "
            f"disk). Copy the photos into {folder} instead of linking to them."
        )
    try:
        os.listdir(folder)
    except OSError as err:
        raise OSError(
            err.errno, f"Cannot read the class folder {folder} ({err.strerror}): fix its "
            "permissions (e.g. chmod -R u+rX on it), or pick other class folders with "
            "classes=[...]."
        ) from err


def _survey(source_dir: Path, picked: Sequence[Path]) -> tuple[dict[str, list[Path]], list[_Row]]:
    """Walk `source_dir`: the files to copy for each picked class, and a row for everything
    else, including what `iter_files` leaves out. A class folder's walk stays inside it, so
    a link cannot pull one class's photos into the other."""
    files: dict[str, list[Path]] = {folder.name: [] for folder in picked}
    rows: list[_Row] = []
    for entry in sorted(source_dir.iterdir()):
        skipped: list[tuple[Path, str]] = []
        if entry.name in files:
            walk = iter_files(entry, include_hidden=True, within=entry, skipped=skipped)
        elif entry.is_dir():
            walk = iter_files(entry, include_hidden=True, within=source_dir, skipped=skipped)
        elif entry.is_file():
            walk = iter([entry])
        else:
            walk, skipped = iter([]), [(entry, "not_a_file")]
        for path in walk:
            if entry.name in files and not _hidden_below(path, source_dir):
                files[entry.name].append(path)
                continue
            status = ("skipped_hidden" if _hidden_below(path, source_dir) else
                      "skipped_no_class" if path.parent == source_dir else "skipped_other_class")
            rows.append(_Row(str(path.absolute()), entry.name if status == "skipped_other_class"
                             else "", "folder", status, _size(path)))
        for path, reason in skipped:
            if reason == "outside_link" and _links_up(path, entry, source_dir):
                continue  # a loop back up: everything in it is walked anyway (or not picked)
            in_class = path != entry and not _hidden_below(path, source_dir)
            rows.append(_Row(str(path.absolute()), entry.name if in_class else "", "folder",
                             f"skipped_{reason}"))
    return files, rows


def _check_has_images(folder: Path, files: Sequence[Path], rows: Sequence[_Row]) -> None:
    """Refuse a class folder without a single image, saying what it holds instead."""
    if any(p.suffix.lower() in IMAGE_EXTENSIONS for p in files):
        return
    others = sorted({p.suffix.lower() or "(no extension)" for p in files})
    detail = (f" It holds {len(files)} other file(s) ({', '.join(others)}): convert them to "
              "JPEG or PNG." if others else "")
    left_out = [row for row in rows
                if row.class_ == folder.name and row.status in _IMPORT_ADVICE]
    if left_out:
        detail += (f" {len(left_out)} thing(s) in it were left out, e.g. "
                   f"{left_out[0].original_path} ({left_out[0].status}).")
    raise ValueError(
        f"Class folder {folder} has no images ({_FORMATS}).{detail} Add photos to it, "
        "or pick other class folders with classes=[...]."
    )


def _links_up(link: Path, folder: Path, source_dir: Path) -> bool:
    """True if `link` leads back up to `folder` or a folder above it, within `source_dir`."""
    try:
        target = link.resolve()
        return target.is_relative_to(source_dir.resolve()) and folder.resolve().is_relative_to(
            target)
    except (OSError, RuntimeError):
        return False


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hidden_below(path: Path, root: Path) -> bool:
    return any(is_hidden(Path(part)) for part in path.relative_to(root).parts)


# --------------------------------------------------------------------------- download_urls


def _read_url_file(url_file: Path) -> list[str]:
    if not url_file.is_file():
        raise FileNotFoundError(
            f"URL list {url_file} does not exist. Create a text file with one image URL "
            "per line (lines starting with # are comments)."
        )
    urls = []
    for line in _decode_text(url_file, url_file.read_bytes()).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(line)
    if not urls:
        raise ValueError(
            f"{url_file} lists no URLs. Put one image URL per line (lines starting with # "
            "are comments)."
        )
    return urls


def _decode_text(path: Path, raw: bytes) -> str:
    """`raw` as UTF-8 (with or without a byte order mark) or UTF-16 with one; any other
    encoding is refused, naming the file and how to save it, rather than guessed."""
    save_as = ("Save it as UTF-8 (in Notepad or TextEdit: Save As, Encoding: UTF-8) and "
               "run this again.")
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} starts like UTF-16 text but is not. {save_as}") from err
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{path} is not UTF-8 text: line {line} has a byte that UTF-8 does not allow (the "
            f"file was probably saved as Latin-1 or Windows-1252). {save_as}"
        ) from err
    if "\x00" in text:
        raise ValueError(f"{path} looks like UTF-16 without a byte order mark. {save_as}")
    return text


def _is_valid_url(url: str) -> bool:
    """True for an http(s) URL that can be sent (not `http://[::1/x` or `http://a b/`)."""
    try:
        scheme = urllib.parse.urlsplit(url).scheme
        requests.Request("GET", url).prepare()
    except (requests.RequestException, ValueError):
        return False
    return scheme in ("http", "https")


_current_deadline: contextvars.ContextVar[_Deadline | None] = contextvars.ContextVar(
    "current_deadline", default=None)


class _Deadline:
    """The time one download may take in all. When it is up, the sockets opened or used
    meanwhile are shut down, which ends any read waiting on them, however slowly the
    server sends (a per-read timeout never fires for one byte every few seconds)."""

    def __init__(self, seconds: float):
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._token = _current_deadline.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()
        _current_deadline.reset(self._token)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the deadline passes (at once if it has)."""
        # A duplicate of its own, so the socket can be reached even once TLS wraps it.
        try:
            own = socket.socket(fileno=os.dup(sock.fileno()))
        except OSError:  # out of file descriptors: the per-read timeout still applies
            return
        with self._lock:
            self._sockets.append(own)
            if self.expired:
                _shut(own)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


class _DeadlineConnection(HTTPConnection):
    """A urllib3 connection whose socket the current `_Deadline` watches."""

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _watch(sock)
        return sock

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection, opened for an earlier download
            _watch(self.sock)
        super().request(*args, **kwargs)


class _DeadlineHTTPSConnection(_DeadlineConnection, HTTPSConnection):
    pass


class _DeadlinePool(HTTPConnectionPool):
    ConnectionCls = _DeadlineConnection


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _DeadlineHTTPSConnection


def _watch(sock: socket.socket) -> None:
    deadline = _current_deadline.get()
    if deadline is not None:
        deadline.watch(sock)


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter with connections that `_Deadline` can cut off (proxied ones too)."""

    _POOLS = {"http": _DeadlinePool, "https": _DeadlineHTTPSPool}

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self._POOLS
        return manager


def _session(retries: int) -> requests.Session:
    retry = Retry(
        total=None,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset({"GET"}),
        backoff_factor=_BACKOFF_FACTOR,
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    session.headers["User-Agent"] = _USER_AGENT
    adapter = _DeadlineAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _sniff(head: bytes) -> str | None:
    """The extension of the image format the first bytes `head` announce, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    return next((ext for magic, ext in _MAGIC if head.startswith(magic)), None)


def _extension(content_type: str, url: str, head: bytes) -> str | None:
    """The extension to store a download under, or None if it is no image we read: a
    specific image content type decides; a generic or missing one leaves it to the first
    bytes; another image/* type to the URL's extension, else the bytes."""
    if content_type in _CONTENT_TYPE_EXT:
        return _CONTENT_TYPE_EXT[content_type]
    if content_type in _GENERIC_CONTENT_TYPES:
        return _sniff(head)
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if suffix in IMAGE_EXTENSIONS else _sniff(head)


def _download_one(
    session: requests.Session,
    url: str,
    store: _ClassStore,
    *,
    timeout: float,
    max_bytes: int,
    deadline: float,
) -> _Row:
    row = _Row(url, store.name, "url", "failed", url=url)
    if not _is_valid_url(url):
        row.status = "invalid_url"
        return row
    scratch = store.temp_path()
    clock = _Deadline(deadline)
    try:
        with clock:
            ext = _fetch(session, url, scratch, row, timeout, max_bytes)
            if clock.expired:  # the server closed early because the deadline cut it off
                row.status, ext = "too_slow", None
        if ext is not None:
            status, row.stored_path = store.put(scratch, row.sha256, ext)
            row.status = "downloaded" if status == "stored" else status
    except (requests.RequestException, ValueError):  # ValueError: a redirect to a bad URL
        row.status = "too_slow" if clock.expired else "failed"
    finally:
        scratch.unlink(missing_ok=True)
    return row


def _fetch(
    session: requests.Session, url: str, scratch: Path, row: _Row, timeout: float,
    max_bytes: int,
) -> str | None:
    """Stream `url` into `scratch`, recording bytes and sha256 in `row`; return the extension
    to store it under, or None with `row.status` saying why not. Whether an image decodes is
    not checked here (cleaning does): the bytes only decide what a generic type means."""
    with session.get(url, timeout=timeout, stream=True) as response:
        if response.status_code >= 400:
            row.status = f"http_{response.status_code}"
            return None
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        generic = content_type in _GENERIC_CONTENT_TYPES
        if not generic and not content_type.startswith("image/"):
            row.status = "not_an_image"
            return None
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            row.status, row.bytes = "too_large", int(declared)
            return None
        digest, head = hashlib.sha256(), b""
        with open(scratch, "wb") as f:
            for chunk in response.iter_content(_CHUNK):
                row.bytes += len(chunk)
                if row.bytes > max_bytes:
                    row.status = "too_large"
                    return None
                head += chunk[: _SNIFF_BYTES - len(head)]
                digest.update(chunk)
                f.write(chunk)
        if row.bytes == 0:
            row.status = "empty"
            return None
        ext = _extension(content_type, response.url or url, head)
        if ext is None:
            row.status = "not_an_image" if generic else "unsupported_format"
            return None
        row.sha256 = digest.hexdigest()
        return ext


def download_urls(
    url_file: str | Path,
    class_name: str,
    data_dir: str | Path,
    *,
    timeout: float = DOWNLOAD_TIMEOUT,
    retries: int = 2,
    max_bytes: int = MAX_DOWNLOAD_BYTES,
    deadline: float = DOWNLOAD_DEADLINE,
) -> pd.DataFrame:
    """Download the image URLs listed in `url_file` (one per line) into `data_dir/<class_name>`.

    The list is UTF-8 text (UTF-16 with a byte order mark also reads; anything else is
    refused with a message saying how to save it). Each URL gets a manifest row with its
    status: downloaded, already_present, skipped_done (done in an earlier run: an interrupted
    download simply continues), not_an_image, unsupported_format, empty, http_<code>, failed
    (network), invalid_url (a line that is not an http(s) URL; the rest go on), and, with a
    warning saying which limit to raise: too_large (over `max_bytes`) or too_slow (longer
    than `deadline` seconds in all; `timeout` is per read). An image content type is taken at
    its word; for a generic or missing one (`application/octet-stream`, S3's
    `binary/octet-stream`) the first bytes name the format. Connection errors and 5xx answers
    are retried `retries` times. Returns this run's manifest rows.
    """
    url_file, data_dir = Path(url_file).expanduser(), Path(data_dir).expanduser()
    _check_class_name(class_name)
    urls = _read_url_file(url_file)
    _check_data_dir_classes(data_dir, [class_name])

    manifest = read_manifest(data_dir)
    done_rows = manifest[
        (manifest["source"] == "url")
        & (manifest["class"] == class_name)
        & manifest["status"].isin(DONE_STATUSES)
    ]
    done = {r["url"]: r for r in done_rows.to_dict("records")}

    store = _ClassStore(data_dir, class_name)
    rows: list[_Row] = []
    ok = bad = 0
    with (
        _session(retries) as session,
        tqdm(urls, desc=f"Downloading {class_name}", unit="url") as bar,
    ):
        for url in bar:
            if url in done:
                before = done[url]
                row = _Row(url, class_name, "url", "skipped_done", int(before["bytes"]))
                row.sha256, row.stored_path, row.url = before["sha256"], before["stored_path"], url
            else:
                row = _download_one(session, url, store, timeout=timeout, max_bytes=max_bytes,
                                    deadline=deadline)
                if row.status in DONE_STATUSES:
                    done[url] = row.as_dict()
            _append_manifest(data_dir, [row])  # row by row, so an interrupted run resumes
            rows.append(row)
            ok += row.status in DONE_STATUSES or row.status == "skipped_done"
            bad += row.status not in DONE_STATUSES and row.status != "skipped_done"
            bar.set_postfix(ok=ok, failed=bad)
    _warn_about(rows, {
        "too_slow": f"cut off at deadline={deadline:g} s (DOWNLOAD_DEADLINE = "
                    f"{DOWNLOAD_DEADLINE} s by default): pass a larger deadline= to "
                    "download_urls to give slow servers more time",
        "too_large": f"over max_bytes={max_bytes:,} (MAX_DOWNLOAD_BYTES = "
                     f"{MAX_DOWNLOAD_BYTES:,} by default): pass a larger max_bytes= to "
                     "download_urls to keep bigger files",
        "invalid_url": f"lines of {url_file} that are not http(s) URLs (the other lines "
                       "were downloaded): correct or remove them",
    }, "URL(s)")
    return _frame(rows)


# --------------------------------------------------------------------------- search_images


class _RecordingDownloader(ImageDownloader):
    """icrawler's image downloader, remembering which URL each saved file came from."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.url_of: dict[str, str] = {}

    def process_meta(self, task: dict) -> None:
        if task.get("success") and task.get("filename"):
            self.url_of[task["filename"]] = task["file_url"]


def _reachable(host: str) -> bool:
    """True when https://host answers within a few seconds (honours proxy settings)."""
    timeout = _CONNECTIVITY_TIMEOUT
    answered = threading.Event()

    def probe() -> None:
        try:
            requests.head(f"https://{host}", timeout=timeout, allow_redirects=False)
        except requests.RequestException:
            return
        answered.set()

    # A thread, because name lookups ignore socket timeouts and can hang for a long time.
    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return answered.is_set()


def search_images(
    query: str, class_name: str, data_dir: str | Path, max_num: int = 100, engine: str = "bing"
) -> pd.DataFrame:
    """Download up to `max_num` search results for `query` into `data_dir/<class_name>`.

    Uses icrawler (`engine` "bing" or "google"); results are stored like `import_folder` does,
    with source "search" and status downloaded/already_present. Raises `OfflineError` at once
    when the search engine cannot be reached. Returns this run's manifest rows.
    """
    data_dir = Path(data_dir).expanduser()
    if engine not in _ENGINES:
        raise ValueError(f"engine must be one of {', '.join(_ENGINES)}, got {engine!r}")
    if not isinstance(max_num, int) or max_num < 1:
        raise ValueError(f"max_num must be a positive whole number, got {max_num!r}")
    _check_class_name(class_name)
    _check_data_dir_classes(data_dir, [class_name])
    crawler_cls, host = _ENGINES[engine]
    if not _reachable(host):
        raise OfflineError(
            f"Cannot reach {host}: this computer seems to be offline, so image search is not "
            f"possible. Instead, {_OFFLINE_HINT}."
        )

    store = _ClassStore(data_dir, class_name)
    rows: list[_Row] = []
    with tempfile.TemporaryDirectory(prefix="collect-search-") as tmp:
        crawler = crawler_cls(
            downloader_cls=_RecordingDownloader,
            storage={"root_dir": tmp},
            log_level=logging.ERROR,
            downloader_threads=2,
        )
        crawler.crawl(keyword=query, max_num=max_num)
        url_of = crawler.downloader.url_of
        try:
            for path in tqdm(list(iter_files(tmp)), desc=f"Storing {class_name}", unit="file"):
                rows.append(_store_file(path, store, "search", url=url_of.get(path.name, "")))
        finally:
            _append_manifest(data_dir, rows)
    if not rows:
        warnings.warn(
            f"The {engine} search for {query!r} gave no images (the engine may block automated "
            f"searches). Instead, {_OFFLINE_HINT}.",
            stacklevel=2,
        )
    return _frame(rows)
