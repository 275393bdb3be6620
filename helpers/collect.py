"""Collecting photos: get a learner's own pictures into the kit's data folder.

Three ways in, one result: `data_dir/<class>/<sha256[:16]><ext>` files plus a row per source
file in `data_dir/collect_manifest.csv`.

* `import_folder` copies photos from a folder with one subfolder per class (happy/, sad/).
* `download_urls` downloads a text file of image URLs into one class (resumable).
* `search_images` fetches search-engine results with icrawler (needs internet).

Files are named by a hash of their bytes, so the same picture collected twice (or under two
names) is stored once, and re-running a collection step adds nothing new. Originals are
never modified or deleted, and nothing is decoded here: checking that every file really is
a usable image is the cleaning stage's job. The manifest says where every file came from and
what happened to it, including the ones that were skipped or failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
import requests
from icrawler import ImageDownloader
from icrawler.builtin import BingImageCrawler, GoogleImageCrawler
from requests.adapters import HTTPAdapter
from tqdm.auto import tqdm
from urllib3.util.retry import Retry

from .images import IMAGE_EXTENSIONS, class_folders, is_hidden, iter_files, sha256_of

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
    """The whole collection manifest of `data_dir` (empty DataFrame if there is none yet)."""
    path = Path(data_dir) / MANIFEST_NAME
    if not path.is_file():
        return _frame([])
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    frame["bytes"] = pd.to_numeric(frame["bytes"], errors="coerce").fillna(0).astype("int64")
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
    path = data_dir / MANIFEST_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    _frame(rows).to_csv(
        path, mode="a", header=not path.exists(), index=False, encoding="utf-8", lineterminator="\n"
    )


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
    """Copy one file into `store` (bytes unchanged) and describe what happened."""
    row = _Row(url or str(path.absolute()), store.name, source, "skipped_extension", url=url)
    try:
        row.bytes = path.stat().st_size
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            return row
        row.sha256 = sha256_of(path)
        existing = store.find(row.sha256)
        if existing:
            row.status, row.stored_path = "already_present", existing
            return row
        scratch = store.temp_path()
        try:
            shutil.copyfile(path, scratch)
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


def import_folder(
    source_dir: str | Path, data_dir: str | Path, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Copy a folder of photos, one subfolder per class, into `data_dir`.

    Every file under `source_dir` is recorded in the manifest: files with an image extension
    below each class folder (nested subfolders included) are copied unchanged to
    `data_dir/<class>/<sha256[:16]><ext>`; hidden and system files (`.DS_Store`, `._x.jpg`,
    checkpoint folders) are recorded as skipped_hidden, files lying directly in `source_dir`
    as skipped_no_class, files in class folders not picked as skipped_other_class. A file
    byte-identical to one already stored in its class is recorded as already_present and not
    copied (`copies_left_out` lists these). Running it again copies nothing twice.
    `classes` picks which two subfolders to import. Returns this run's manifest rows.
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
    everything = {folder.name: list(iter_files(folder, include_hidden=True)) for folder in picked}
    files = {name: [p for p in paths if not _hidden_below(p, source_dir)]
             for name, paths in everything.items()}
    for folder in picked:
        images = [p for p in files[folder.name] if p.suffix.lower() in IMAGE_EXTENSIONS]
        if not images:
            others = sorted({p.suffix.lower() or "(no extension)" for p in files[folder.name]})
            detail = (
                f" It holds {len(files[folder.name])} other file(s) ({', '.join(others)}): "
                f"convert them to JPEG or PNG."
                if others
                else ""
            )
            raise ValueError(
                f"Class folder {folder} has no images ({_FORMATS}).{detail} Add photos to it, "
                "or pick other class folders with classes=[...]."
            )
    _check_data_dir_classes(data_dir, list(files))

    # Everything else under source_dir is recorded, not copied: loose files belong to no
    # class, hidden files are system files, other folders are classes that were not picked.
    picked_names = {folder.name for folder in picked}
    rows = []
    for path in iter_files(source_dir, include_hidden=True):
        top = path.relative_to(source_dir).parts[0]
        if top in picked_names and not _hidden_below(path, source_dir):
            continue
        status = ("skipped_hidden" if _hidden_below(path, source_dir) else
                  "skipped_no_class" if path.parent == source_dir else "skipped_other_class")
        rows.append(_Row(str(path.absolute()), top if status == "skipped_other_class" else "",
                         "folder", status, path.stat().st_size))
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
    return _frame(rows)


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
    for line in url_file.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            urls.append(line)
    if not urls:
        raise ValueError(
            f"{url_file} lists no URLs. Put one image URL per line (lines starting with # "
            "are comments)."
        )
    return urls


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
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _extension(content_type: str, url: str) -> str | None:
    if content_type in _CONTENT_TYPE_EXT:
        return _CONTENT_TYPE_EXT[content_type]
    suffix = Path(requests.utils.urlparse(url).path).suffix.lower()
    return suffix if suffix in IMAGE_EXTENSIONS else None


def _download_one(
    session: requests.Session, url: str, store: _ClassStore, timeout: float, max_bytes: int
) -> _Row:
    row = _Row(url, store.name, "url", "failed", url=url)
    if requests.utils.urlparse(url).scheme not in ("http", "https"):
        row.status = "invalid_url"
        return row
    try:
        response = session.get(url, timeout=timeout, stream=True)
    except requests.RequestException:
        return row
    with response:
        if response.status_code >= 400:
            row.status = f"http_{response.status_code}"
            return row
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not content_type.startswith("image/"):
            row.status = "not_an_image"
            return row
        ext = _extension(content_type, response.url or url)
        if ext is None:
            row.status = "unsupported_format"
            return row
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            row.status, row.bytes = "too_large", int(declared)
            return row
        scratch = store.temp_path()
        digest = hashlib.sha256()
        try:
            with open(scratch, "wb") as f:
                for chunk in response.iter_content(_CHUNK):
                    row.bytes += len(chunk)
                    if row.bytes > max_bytes:
                        row.status = "too_large"
                        return row
                    digest.update(chunk)
                    f.write(chunk)
            if row.bytes == 0:
                row.status = "empty"
                return row
            row.sha256 = digest.hexdigest()
            status, row.stored_path = store.put(scratch, row.sha256, ext)
            row.status = "downloaded" if status == "stored" else status
        except requests.RequestException:
            row.status = "failed"
        finally:
            scratch.unlink(missing_ok=True)
    return row


def download_urls(
    url_file: str | Path,
    class_name: str,
    data_dir: str | Path,
    *,
    timeout: float = 10,
    retries: int = 2,
    max_bytes: int = 10_000_000,
) -> pd.DataFrame:
    """Download the image URLs listed in `url_file` (one per line) into `data_dir/<class_name>`.

    Each URL gets a manifest row with its status: downloaded, already_present, skipped_done
    (done in an earlier run: an interrupted download simply continues), not_an_image,
    unsupported_format, too_large (over `max_bytes`), http_<code>, failed (network), empty
    or invalid_url. Connection errors and 5xx answers are retried `retries` times.
    Returns this run's manifest rows.
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
                row = _download_one(session, url, store, timeout, max_bytes)
                if row.status in DONE_STATUSES:
                    done[url] = row.as_dict()
            _append_manifest(data_dir, [row])  # row by row, so an interrupted run resumes
            rows.append(row)
            ok += row.status in DONE_STATUSES or row.status == "skipped_done"
            bad += row.status not in DONE_STATUSES and row.status != "skipped_done"
            bar.set_postfix(ok=ok, failed=bad)
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
