"""Web image search into one class (`search_images`), with icrawler; needs internet.

Split from helpers.collect, which still offers `search_images`: the one way in that needs a
search engine, so its dependency (icrawler) and its offline check live apart. Offline it stops
at once with `OfflineError`, pointing to a folder or a URL list instead. Results are stored
and recorded as helpers.store does for every way in, with source "search".
"""

from __future__ import annotations

import logging
import tempfile
import threading
import warnings
from pathlib import Path

import pandas as pd
import requests
from icrawler import ImageDownloader
from icrawler.builtin import BingImageCrawler, GoogleImageCrawler
from tqdm.auto import tqdm

from .images import iter_files
from .store import (
    ClassStore,
    ManifestRow,
    append_manifest,
    check_class_name,
    check_data_dir_classes,
    manifest_frame,
    store_file,
)

_OFFLINE_HINT = (
    "put your photos in a folder with happy/ and sad/ subfolders and set SOURCE_DIR "
    "(notebook 01) or use download_urls with a list of URLs"
)
_ENGINES = {
    "bing": (BingImageCrawler, "www.bing.com"),
    "google": (GoogleImageCrawler, "www.google.com"),
}
_CONNECTIVITY_TIMEOUT = 3.0


class OfflineError(RuntimeError):
    """Raised by `search_images` when the search engine cannot be reached."""


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
    check_class_name(class_name)
    check_data_dir_classes(data_dir, [class_name])
    crawler_cls, host = _ENGINES[engine]
    if not _reachable(host):
        raise OfflineError(
            f"Cannot reach {host}: this computer seems to be offline, so image search is not "
            f"possible. Instead, {_OFFLINE_HINT}."
        )

    store = ClassStore(data_dir, class_name)
    rows: list[ManifestRow] = []
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
                rows.append(store_file(path, store, "search", url=url_of.get(path.name, "")))
        finally:
            append_manifest(data_dir, rows)
    if not rows:
        warnings.warn(
            f"The {engine} search for {query!r} gave no images (the engine may block automated "
            f"searches). Instead, {_OFFLINE_HINT}.",
            stacklevel=2,
        )
    return manifest_frame(rows)
