"""Downloading a text file of image URLs into one class (`download_urls`), resumably.

Split from helpers.collect, which still offers `download_urls` (notebook 01, docs): the
network half of collecting, with its own limits. Nothing waits for ever: each download has a
deadline (`DOWNLOAD_DEADLINE`) that shuts its sockets down however slowly the server sends,
reads have a timeout, sizes a limit, and connection errors and 5xx answers are retried.
Nothing is decoded: a download's first bytes are only looked at to name its format when the
server does not say; whether it is a usable image is the cleaning stage's job. Files are
stored and recorded as helpers.store does for every way in.
"""

from __future__ import annotations

import codecs
import hashlib
import urllib.parse
from pathlib import Path

import pandas as pd
import requests
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from .deadline import Deadline, DeadlineAdapter
from .images import IMAGE_EXTENSIONS
from .store import (
    ClassStore,
    ManifestRow,
    append_manifest,
    check_class_name,
    check_data_dir_classes,
    manifest_frame,
    read_manifest,
    warn_about,
)

#: URL statuses that count as done: `download_urls` skips these URLs when run again.
DONE_STATUSES = frozenset({"downloaded", "already_present"})
#: Seconds one download may take in all (`download_urls(deadline=...)`), however slowly the
#: server trickles its bytes; past it the URL is recorded as too_slow.
DOWNLOAD_DEADLINE = 60
#: Seconds `download_urls` waits for each answer or read (`timeout=...`).
DOWNLOAD_TIMEOUT = 10
#: Largest download kept, in bytes (`download_urls(max_bytes=...)`); larger ones are too_large.
MAX_DOWNLOAD_BYTES = 10_000_000
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
_USER_AGENT = "happy-sad-cnn-kit/0.1 (course kit; python-requests)"
#: urllib3 backoff factor between download retries (tests set it to 0).
_BACKOFF_FACTOR = 0.3
_CHUNK = 1 << 16


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
    adapter = DeadlineAdapter(max_retries=retry)
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
    store: ClassStore,
    *,
    timeout: float,
    max_bytes: int,
    deadline: float,
) -> ManifestRow:
    row = ManifestRow(url, store.name, "url", "failed", url=url)
    if not _is_valid_url(url):
        row.status = "invalid_url"
        return row
    scratch = store.temp_path()
    clock = Deadline(deadline)
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
    session: requests.Session, url: str, scratch: Path, row: ManifestRow, timeout: float,
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
    check_class_name(class_name)
    urls = _read_url_file(url_file)
    check_data_dir_classes(data_dir, [class_name])

    done = _done_before(data_dir, class_name)
    store = ClassStore(data_dir, class_name)
    rows: list[ManifestRow] = []
    ok = bad = 0
    with (
        _session(retries) as session,
        tqdm(urls, desc=f"Downloading {class_name}", unit="url") as bar,
    ):
        for url in bar:
            if url in done:
                before = done[url]
                row = ManifestRow(url, class_name, "url", "skipped_done", int(before["bytes"]))
                row.sha256, row.stored_path, row.url = before["sha256"], before["stored_path"], url
            else:
                row = _download_one(session, url, store, timeout=timeout, max_bytes=max_bytes,
                                    deadline=deadline)
                if row.status in DONE_STATUSES:
                    done[url] = row.as_dict()
            append_manifest(data_dir, [row])  # row by row, so an interrupted run resumes
            rows.append(row)
            ok += row.status in DONE_STATUSES or row.status == "skipped_done"
            bad += row.status not in DONE_STATUSES and row.status != "skipped_done"
            bar.set_postfix(ok=ok, failed=bad)
    _warn_about_limits(rows, url_file, deadline, max_bytes)
    return manifest_frame(rows)


def _done_before(data_dir: Path, class_name: str) -> dict[str, dict]:
    """The manifest rows of the URLs of `class_name` that an earlier run downloaded, by URL."""
    manifest = read_manifest(data_dir)
    done_rows = manifest[
        (manifest["source"] == "url")
        & (manifest["class"] == class_name)
        & manifest["status"].isin(DONE_STATUSES)
    ]
    return {r["url"]: r for r in done_rows.to_dict("records")}


def _warn_about_limits(rows: list[ManifestRow], url_file: Path, deadline: float,
                       max_bytes: int) -> None:
    """One warning per limit that stopped some URLs, naming the setting to change."""
    warn_about(rows, {
        "too_slow": f"cut off at deadline={deadline:g} s (DOWNLOAD_DEADLINE = "
                    f"{DOWNLOAD_DEADLINE} s by default): pass a larger deadline= to "
                    "download_urls to give slow servers more time",
        "too_large": f"over max_bytes={max_bytes:,} (MAX_DOWNLOAD_BYTES = "
                     f"{MAX_DOWNLOAD_BYTES:,} by default): pass a larger max_bytes= to "
                     "download_urls to keep bigger files",
        "invalid_url": f"lines of {url_file} that are not http(s) URLs (the other lines "
                       "were downloaded): correct or remove them",
    }, "URL(s)")
