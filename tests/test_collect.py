"""Tests for helpers.collect (with helpers.download and helpers.search): importing a folder,
downloading URLs, searching offline.

Everything is local: images are made with PIL in tmp_path, downloads come from an
http.server on 127.0.0.1, and the search tests never reach a search engine.
"""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from PIL import Image

from helpers import download, search
from helpers.collect import (
    MANIFEST_COLUMNS,
    MANIFEST_NAME,
    OfflineError,
    download_urls,
    import_folder,
    read_manifest,
    search_images,
)


def image_bytes(color: tuple[int, int, int], fmt: str = "PNG", size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format=fmt)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(folder: Path) -> dict[Path, bytes]:
    """Every file below `folder` (hidden ones included) with its bytes."""
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def stored_files(data_dir: Path) -> list[Path]:
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A learner's photo folder with every awkward case the importer must handle."""
    src = tmp_path / "my photos"
    write(src / "happy" / "a.jpg", image_bytes((250, 200, 0), "JPEG"))
    write(src / "happy" / "UPPER.PNG", image_bytes((0, 200, 0)))
    write(src / "happy" / "2024" / "party" / "nested.png", image_bytes((0, 0, 200)))
    write(src / "happy" / "smile ünïcødé 😀 copy.jpeg", image_bytes((200, 0, 200), "JPEG"))
    write(src / "happy" / "notes.txt", b"my favourite photos")
    write(src / "happy" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    write(src / "happy" / "._a.jpg", b"\x00\x05\x16\x07AppleDouble")
    write(src / "happy" / ".ipynb_checkpoints" / "a-checkpoint.jpg", b"checkpoint")
    write(src / ".ipynb_checkpoints" / "stray.png", image_bytes((1, 2, 3)))
    write(src / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    sad = image_bytes((10, 10, 120), "JPEG")
    write(src / "sad" / "frown.jpg", sad)
    write(src / "sad" / "frown - Copy.JPEG", sad)  # same picture under another name
    write(src / "sad" / "gloomy day.bmp", image_bytes((90, 90, 90), "BMP"))
    return src


VISIBLE = {
    "happy/a.jpg",
    "happy/UPPER.PNG",
    "happy/2024/party/nested.png",
    "happy/smile ünïcødé 😀 copy.jpeg",
    "happy/notes.txt",
    "sad/frown.jpg",
    "sad/frown - Copy.JPEG",
    "sad/gloomy day.bmp",
}
HIDDEN = {
    "happy/.DS_Store",
    "happy/._a.jpg",
    "happy/.ipynb_checkpoints/a-checkpoint.jpg",
    ".ipynb_checkpoints/stray.png",
    ".DS_Store",
}


def rel(frame: pd.DataFrame, src: Path) -> list[str]:
    return [Path(p).relative_to(src.absolute()).as_posix() for p in frame["original_path"]]


# --------------------------------------------------------------------------- import_folder


def test_import_copies_every_image_and_records_every_file(source: Path, tmp_path: Path):
    data = tmp_path / "data"
    before = snapshot(source)

    result = import_folder(source, data)

    assert list(result.columns) == MANIFEST_COLUMNS
    # Every source file appears exactly once, hidden ones as skipped_hidden (nothing lost).
    assert sorted(rel(result, source)) == sorted(VISIBLE | HIDDEN)
    assert (result["source"] == "folder").all() and (result["url"] == "").all()
    # Originals untouched and still there (hidden files included).
    assert snapshot(source) == before
    # Each imported file is a byte-identical copy named by its content hash.
    for row in result.to_dict("records"):
        original = Path(row["original_path"]).read_bytes()
        assert row["bytes"] == len(original)
        if row["status"] in ("skipped_extension", "skipped_hidden"):
            assert row["stored_path"] == "" and row["sha256"] == ""
            continue
        assert row["sha256"] == sha(original)
        stored = data / row["stored_path"]
        assert stored.read_bytes() == original
        assert stored.name.startswith(row["sha256"][:16])
        if row["status"] == "imported":
            assert stored.suffix == Path(row["original_path"]).suffix.lower()
        assert row["stored_path"] == f"{row['class']}/{stored.name}"  # posix, relative
    statuses = dict(zip(rel(result, source), result["status"], strict=True))
    assert statuses["happy/notes.txt"] == "skipped_extension"
    assert Counter(statuses.values()) == {
        "imported": 6,
        "already_present": 1,
        "skipped_extension": 1,
        "skipped_hidden": len(HIDDEN),
    }
    assert {p for p, s in statuses.items() if s == "skipped_hidden"} == HIDDEN
    # Written to disk, identical to what was returned.
    on_disk = read_manifest(data)
    pd.testing.assert_frame_equal(on_disk, result)
    assert sorted(p.name for p in data.iterdir() if p.is_dir()) == ["happy", "sad"]
    assert len(stored_files(data)) == 6


def test_nested_upper_case_and_unicode_names(source: Path, tmp_path: Path):
    data = tmp_path / "data"
    result = import_folder(source, data)
    result = result.set_index(pd.Index(rel(result, source)))
    nested = result.loc["happy/2024/party/nested.png"]
    assert nested["class"] == "happy" and (data / nested["stored_path"]).is_file()
    upper = result.loc["happy/UPPER.PNG"]
    assert upper["stored_path"].endswith(".png")
    assert result.loc["sad/gloomy day.bmp", "stored_path"].endswith(".bmp")
    unicode_row = result.loc["happy/smile ünïcødé 😀 copy.jpeg"]
    assert (data / unicode_row["stored_path"]).is_file()
    # The unicode path survives the CSV round trip.
    assert unicode_row["original_path"] in set(read_manifest(data)["original_path"])


def test_hidden_files_and_checkpoint_folders_are_ignored(source: Path, tmp_path: Path):
    data = tmp_path / "data"
    result = import_folder(source, data)
    hidden = result[[("/." in p or "\\." in p) for p in result["original_path"]]]
    assert set(hidden["status"]) == {"skipped_hidden"} and not hidden["stored_path"].any()
    assert set(result["class"]) == {"happy", "sad", ""}
    assert not (data / ".ipynb_checkpoints").exists()
    assert all(not p.name.startswith(".") for p in stored_files(data))


def test_reimport_adds_nothing(source: Path, tmp_path: Path):
    data = tmp_path / "data"
    first = import_folder(source, data)
    files = snapshot(data / "happy") | snapshot(data / "sad")

    second = import_folder(source, data)

    assert snapshot(data / "happy") | snapshot(data / "sad") == files
    assert set(second["status"]) == {"already_present", "skipped_extension", "skipped_hidden"}
    assert list(second["stored_path"]) == list(first["stored_path"])
    assert len(read_manifest(data)) == len(first) + len(second)


def test_same_picture_under_two_names_is_stored_once(tmp_path: Path):
    src, data = tmp_path / "src", tmp_path / "data"
    picture = image_bytes((1, 100, 200), "JPEG")
    write(src / "happy" / "me.jpg", picture)
    write(src / "happy" / "me (1).jpeg", picture)  # other name, other extension, same bytes
    write(src / "happy" / "sub" / "ME.JPG", picture)
    write(src / "sad" / "s.png", image_bytes((5, 5, 5)))

    result = import_folder(src, data)

    happy = result[result["class"] == "happy"]
    assert sorted(happy["status"]) == ["already_present", "already_present", "imported"]
    assert happy["stored_path"].nunique() == 1
    assert [p.name for p in (data / "happy").iterdir()] == [sha(picture)[:16] + ".jpeg"]


def test_files_directly_in_source_are_recorded_not_copied(source: Path, tmp_path: Path):
    write(source / "loose.jpg", image_bytes((7, 7, 7), "JPEG"))
    result = import_folder(source, tmp_path / "data")
    loose = result[result["status"] == "skipped_no_class"]
    assert rel(loose, source) == ["loose.jpg"] and list(loose["class"]) == [""]


def test_classes_picks_two_of_three(source: Path, tmp_path: Path):
    write(source / "angry" / "grr.png", image_bytes((255, 0, 0)))
    result = import_folder(source, tmp_path / "data", classes=["sad", "angry"])
    copied = result[~result["status"].str.startswith("skipped")]
    assert set(copied["class"]) == {"sad", "angry"}
    others = result[result["status"] == "skipped_other_class"]
    assert set(others["class"]) == {"happy"} and not others["stored_path"].any()
    assert len(others) == 5  # happy's visible files are recorded, not copied
    assert not (tmp_path / "data" / "happy").exists()


@pytest.mark.parametrize(
    ("layout", "kwargs", "error", "phrases"),
    [
        (
            ["happy/a.png"],
            {},
            ValueError,
            ["only one class folder (happy/)", "binary", "two class folders, e.g. happy/ and sad/"],
        ),
        (
            ["happy/a.png", "sad/b.png", "angry/c.png"],
            {},
            ValueError,
            ["3 class folders (angry, happy, sad)", "binary", "classes=['angry', 'happy']"],
        ),
        (["happy/a.png", "sad/notes.txt"], {}, ValueError, ["sad", "has no images", ".txt"]),
        (["happy/a.png", "sad/.DS_Store"], {}, ValueError, ["sad", "has no images"]),
        (["a.png", "b.png"], {}, ValueError, ["no class subfolders", "happy", "2 file(s)"]),
        (
            ["happy/a.png", "sad/b.png"],
            {"classes": ["happy", "smiling"]},
            ValueError,
            ["'smiling'", "happy, sad"],
        ),
        (
            ["happy/a.png", "sad/b.png", "angry/c.png"],
            {"classes": ["happy"]},
            ValueError,
            ["only one class folder"],
        ),
    ],
)
def test_bad_layouts_give_clear_errors(tmp_path, layout, kwargs, error, phrases):
    src = tmp_path / "src"
    for i, name in enumerate(layout):
        write(src / name, image_bytes((i, i, i)) if name.endswith(".png") else b"x")
    with pytest.raises(error) as info:
        import_folder(src, tmp_path / "data", **kwargs)
    for phrase in phrases:
        assert phrase in str(info.value)
    assert not (tmp_path / "data" / MANIFEST_NAME).exists()  # nothing half-imported


def test_missing_source_or_file_instead_of_folder(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="does not exist.*happy/ and sad/"):
        import_folder(tmp_path / "nope", tmp_path / "data")
    archive = write(tmp_path / "faces.zip", b"PK\x03\x04")
    with pytest.raises(ValueError, match="not a folder.*unzip"):
        import_folder(archive, tmp_path / "data")


def test_overlapping_folders_and_third_class_are_refused(source: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="overlap"):
        import_folder(source, source / "data")
    data = tmp_path / "data"
    write(data / "cats" / "c.png", image_bytes((3, 3, 3)))
    with pytest.raises(ValueError, match="already holds the classes cats.*binary"):
        import_folder(source, data)


# --------------------------------------------------------------------------- download_urls

PNG = image_bytes((0, 255, 0))
PNG_2 = image_bytes((255, 0, 255))
JPEG = image_bytes((255, 128, 0), "JPEG")
MAX_BYTES = 5_000
BIG = b"\x89PNG" + b"\x00" * (3 * MAX_BYTES)


class _Handler(BaseHTTPRequestHandler):
    hits: Counter = Counter()

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, ctype: str, length: bool = True) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.hits[self.path] += 1
        routes = {
            "/happy.png": (200, PNG, "image/png"),
            "/copy-of-happy.png": (200, PNG, "image/png"),
            "/photo?id=7": (200, JPEG, "image/jpeg; charset=binary"),
            "/page.html": (200, b"<html><body>Not a picture</body></html>", "text/html"),
            "/drawing.svg": (200, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml"),
            "/big.png": (200, BIG, "image/png"),
            "/empty.png": (200, b"", "image/png"),
        }
        if self.path in routes:
            self._send(*routes[self.path])
        elif self.path == "/big-no-length.jpg":  # HTTP/1.0: the body ends when we close
            self._send(200, BIG, "image/jpeg", length=False)
        elif self.path == "/flaky.png":  # 500 on the first try, fine afterwards
            code = 500 if self.hits[self.path] == 1 else 200
            self._send(code, PNG_2 if code == 200 else b"oops", "image/png")
        elif self.path == "/broken.png":
            self._send(503, b"down", "text/plain")
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "_BACKOFF_FACTOR", 0)
    _Handler.hits = Counter()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(base=f"http://127.0.0.1:{httpd.server_address[1]}", hits=_Handler.hits)
    httpd.shutdown()
    httpd.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


EXPECTED = {
    "/happy.png": "downloaded",
    "/photo?id=7": "downloaded",
    "/copy-of-happy.png": "already_present",
    "/page.html": "not_an_image",
    "/drawing.svg": "unsupported_format",
    "/missing.png": "http_404",
    "/big.png": "too_large",
    "/big-no-length.jpg": "too_large",
    "/empty.png": "empty",
    "/flaky.png": "downloaded",
    "/broken.png": "http_503",
}


def url_file(tmp_path: Path, server, extra: list[str] = ()) -> Path:
    lines = ["# my happy faces", "", *[server.base + p for p in EXPECTED], "  ", *extra]
    return write(tmp_path / "urls.txt", "\n".join(lines).encode())


def test_download_urls_records_each_outcome(tmp_path: Path, server):
    data = tmp_path / "data"
    refused = f"http://127.0.0.1:{closed_port()}/x.png"
    urls = url_file(tmp_path, server, [refused, "ftp://example.invalid/a.png"])

    result = download_urls(urls, "happy", data, timeout=5, retries=2, max_bytes=MAX_BYTES)

    assert list(result.columns) == MANIFEST_COLUMNS
    got = dict(zip(result["url"], result["status"], strict=True))
    assert got == {server.base + p: s for p, s in EXPECTED.items()} | {
        refused: "failed",
        "ftp://example.invalid/a.png": "invalid_url",
    }
    assert (result["source"] == "url").all() and (result["class"] == "happy").all()
    by_path = result.set_index(result["url"].str.replace(server.base, "", regex=False))
    assert (data / by_path.loc["/happy.png", "stored_path"]).read_bytes() == PNG
    assert by_path.loc["/photo?id=7", "stored_path"] == f"happy/{sha(JPEG)[:16]}.jpg"
    assert (
        by_path.loc["/copy-of-happy.png", "stored_path"] == by_path.loc["/happy.png", "stored_path"]
    )
    assert (data / by_path.loc["/flaky.png", "stored_path"]).read_bytes() == PNG_2
    assert server.hits["/flaky.png"] == 2  # retried once after the 500
    assert server.hits["/broken.png"] == 3  # 1 try + 2 retries
    assert server.hits["/missing.png"] == 1  # 4xx is not retried
    # Only the three distinct images were stored; no partial files are left behind.
    assert sorted(p.name for p in (data / "happy").iterdir()) == sorted(
        f"{sha(b)[:16]}{ext}" for b, ext in [(PNG, ".png"), (JPEG, ".jpg"), (PNG_2, ".png")]
    )
    pd.testing.assert_frame_equal(read_manifest(data), result)


def test_download_urls_resumes_without_downloading_again(tmp_path: Path, server):
    data = tmp_path / "data"
    urls = url_file(tmp_path, server)
    first = download_urls(urls, "happy", data, max_bytes=MAX_BYTES)
    hits = Counter(server.hits)

    second = download_urls(urls, "happy", data, max_bytes=MAX_BYTES)

    done = set(first.loc[first["status"].isin(download.DONE_STATUSES), "url"])
    assert len(done) == 4
    for row in second.itertuples():
        path = row.url.replace(server.base, "")
        if row.url in done:
            assert row.status == "skipped_done"
            assert server.hits[path] == hits[path]  # not fetched again
            assert (data / row.stored_path).is_file()
        else:
            assert row.status == EXPECTED[path]  # failures are tried again
    assert len(read_manifest(data)) == 2 * len(EXPECTED)


def test_interrupted_download_continues(tmp_path: Path, server, monkeypatch):
    data = tmp_path / "data"
    urls = url_file(tmp_path, server)
    real = download._download_one
    calls = []

    def interrupt_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(download, "_download_one", interrupt_on_third)
    with pytest.raises(KeyboardInterrupt):
        download_urls(urls, "happy", data, max_bytes=MAX_BYTES)
    assert len(read_manifest(data)) == 2  # the finished URLs were recorded
    monkeypatch.setattr(download, "_download_one", real)

    result = download_urls(urls, "happy", data, max_bytes=MAX_BYTES)

    assert list(result["status"][:3]) == ["skipped_done", "skipped_done", "already_present"]
    assert server.hits["/happy.png"] == 1


def test_download_urls_errors(tmp_path: Path, server):
    with pytest.raises(FileNotFoundError, match="one image URL per line"):
        download_urls(tmp_path / "nope.txt", "happy", tmp_path / "data")
    empty = write(tmp_path / "empty.txt", b"# nothing yet\n\n")
    with pytest.raises(ValueError, match="lists no URLs"):
        download_urls(empty, "happy", tmp_path / "data")
    urls = url_file(tmp_path, server)
    with pytest.raises(ValueError, match="not a usable folder name"):
        download_urls(urls, "../happy", tmp_path / "data")
    write(tmp_path / "data" / "happy" / "a.png", PNG)
    write(tmp_path / "data" / "sad" / "b.png", PNG_2)
    with pytest.raises(ValueError, match="binary"):
        download_urls(urls, "angry", tmp_path / "data")
    assert sum(server.hits.values()) == 0


# --------------------------------------------------------------------------- search_images


class _NoCrawler:
    def __init__(self, *args, **kwargs):
        raise AssertionError("the crawler must not start when offline")


def test_search_offline_raises_helpful_error(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(search, "_reachable", lambda host: False)
    monkeypatch.setitem(search._ENGINES, "bing", (_NoCrawler, "www.bing.com"))
    with pytest.raises(OfflineError) as info:
        search_images("happy face", "happy", tmp_path / "data")
    message = str(info.value)
    assert "www.bing.com" in message
    assert "happy/ and sad/ subfolders and set SOURCE_DIR (notebook 01)" in message
    assert "download_urls with a list of URLs" in message
    assert not (tmp_path / "data" / MANIFEST_NAME).exists()


def test_search_fails_fast_without_name_resolution(tmp_path: Path, monkeypatch):
    """The real connectivity check, with DNS cut off (so no outside host is contacted)."""
    release = threading.Event()

    def no_dns(*args, **kwargs):
        release.wait(30)  # a hanging name lookup, like a captive or dead network
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setattr(search, "_CONNECTIVITY_TIMEOUT", 0.5)
    monkeypatch.setitem(search._ENGINES, "google", (_NoCrawler, "www.google.com"))
    start = time.monotonic()
    try:
        with pytest.raises(OfflineError, match="SOURCE_DIR"):
            search_images("sad face", "sad", tmp_path / "data", engine="google")
    finally:
        release.set()
    assert time.monotonic() - start < 3


def test_search_stores_results_like_import(tmp_path: Path, monkeypatch):
    class FakeCrawler:
        def __init__(self, downloader_cls, storage, **kwargs):
            assert issubclass(downloader_cls, search._RecordingDownloader)
            self.root = Path(storage["root_dir"])
            self.downloader = SimpleNamespace(url_of={})

        def crawl(self, keyword, max_num):
            for i, data in enumerate([PNG, JPEG, PNG]):
                name = f"{i + 1:06d}.{'png' if data is PNG else 'jpg'}"
                write(self.root / name, data)
                self.downloader.url_of[name] = f"https://img.example/{keyword}/{i}"

    monkeypatch.setattr(search, "_reachable", lambda host: True)
    monkeypatch.setitem(search._ENGINES, "bing", (FakeCrawler, "www.bing.com"))
    data = tmp_path / "data"

    result = search_images("smile", "happy", data, max_num=3)

    assert list(result["status"]) == ["downloaded", "downloaded", "already_present"]
    assert (result["source"] == "search").all()
    assert list(result["url"]) == [f"https://img.example/smile/{i}" for i in range(3)]
    assert len(stored_files(data)) == 2
    pd.testing.assert_frame_equal(read_manifest(data), result)


def test_search_rejects_bad_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="engine must be one of bing, google"):
        search_images("smile", "happy", tmp_path, engine="duckduckgo")
    with pytest.raises(ValueError, match="max_num"):
        search_images("smile", "happy", tmp_path, max_num=0)
