"""Reliability of collecting (issue #23): hostile servers, odd files and folders, old encodings.

Each test is one class of failure found by probing `import_folder` and `download_urls`. All
made in code: folders in tmp_path, downloads from an http.server on 127.0.0.1 that the test
starts and stops; every test that could hang has a timeout.
"""

from __future__ import annotations

import csv
import inspect
import io
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from PIL import Image

from helpers import download
from helpers.collect import (
    DONE_STATUSES,
    MANIFEST_NAME,
    copies_left_out,
    download_urls,
    import_folder,
    read_manifest,
)


def image_bytes(fmt: str, color: tuple[int, int, int] = (200, 30, 90)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format=fmt)
    return buf.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def photos(root: Path, n: int = 2) -> Path:
    """A photo folder with happy/ and sad/, `n` distinct PNGs in each."""
    for i in range(n):
        write(root / "happy" / f"h{i}.png", image_bytes("PNG", (10 * i, 200, 0)))
        write(root / "sad" / f"s{i}.png", image_bytes("PNG", (0, 0, 200 - 10 * i)))
    return root


def stored(data: Path) -> list[Path]:
    return sorted(p for p in data.rglob("*") if p.is_file() and p.name != MANIFEST_NAME)


# --------------------------------------------------------------------------- a local server

JPEG, PNG = image_bytes("JPEG"), image_bytes("PNG", (1, 2, 3))
SNIFFED = {  # format → (bytes, extension the stored file gets)
    "jpeg": (JPEG, ".jpg"),
    "png": (PNG, ".png"),
    "gif": (image_bytes("GIF"), ".gif"),
    "bmp": (image_bytes("BMP"), ".bmp"),
    "webp": (image_bytes("WEBP"), ".webp"),
    "tiff-le": (b"II*\x00" + image_bytes("TIFF")[4:], ".tiff"),
    "tiff-be": (b"MM\x00*" + b"\x00" * 60, ".tiff"),
}
TRICKLE_SECONDS = 6  # a trickling server gives up after this long (so old code fails, not hangs)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: bytes, ctype: str | None, code: int = 200, headers=()) -> None:
        self.send_response(code)
        if ctype is not None:
            self.send_header("Content-Type", ctype)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _trickle(self, data: bytes) -> None:
        try:
            for i in range(0, int(TRICKLE_SECONDS / 0.2)):
                self.wfile.write(data[i % len(data):i % len(data) + 1])
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the client hung up: what a deadline does
            pass

    def do_GET(self):  # noqa: N802 (http.server's name)
        path = self.path.lstrip("/")
        kind, _, fmt = path.partition("/")
        if kind == "ok":
            self._send(PNG if fmt == "png" else JPEG, f"image/{fmt}")
        elif kind in ("octet", "binary", "none", "odd"):
            body, _ = SNIFFED.get(fmt, (b"<html><body>a login page</body></html>", ""))
            ctype = {"octet": "application/octet-stream", "binary": "binary/octet-stream",
                     "odd": "image/x-unheard-of"}
            self._send(body, ctype.get(kind))
        elif path == "html-as-jpeg":
            self._send(b"<html><body>hotlinking not allowed</body></html>", "image/jpeg")
        elif path == "bad-redirect":
            self._send(b"", "text/plain", 302, [("Location", "http://[::1/moved.jpg")])
        elif path == "slow-body":  # a declared length, one byte every 0.2 s
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self._trickle(JPEG)
        elif path == "slow-body-no-length":  # HTTP/1.0: the body ends when the server closes
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            self._trickle(JPEG)
        elif path == "slow-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\n")
            self._trickle(b"X-Padding: " + b"a" * 40 + b"\r\n")
        else:
            self._send(b"not found", "text/plain", 404)


class _KeepAliveHandler(_Handler):
    """HTTP/1.1: the connection stays open for the next URL; counts the connections."""

    protocol_version = "HTTP/1.1"
    clients: set = set()

    def setup(self):
        super().setup()
        self.clients.add(self.client_address)


@pytest.fixture(params=[_Handler])
def server(request, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setattr(download, "_BACKOFF_FACTOR", 0)
    request.param.clients = set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), request.param)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield SimpleNamespace(base=f"http://127.0.0.1:{httpd.server_address[1]}",
                          clients=request.param.clients)
    httpd.shutdown()
    httpd.server_close()


def url_list(tmp_path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    return write(tmp_path / "urls.txt", "\n".join(lines).encode(encoding))


def statuses(frame) -> dict[str, str]:
    return dict(zip(frame["url"], frame["status"], strict=True))


# --------------------------------------------------------------------------- 1. hangs


@pytest.mark.timeout(40)
@pytest.mark.parametrize("path", ["slow-body", "slow-body-no-length", "slow-headers"])
def test_a_trickling_server_is_cut_off_at_the_deadline(tmp_path, server, path):
    urls = url_list(tmp_path, [f"{server.base}/{path}", f"{server.base}/ok/png"])
    start = time.monotonic()
    with pytest.warns(UserWarning, match=r"too_slow.*deadline=1 s.*DOWNLOAD_DEADLINE"):
        result = download_urls(urls, "happy", tmp_path / "data", timeout=5, retries=0,
                               deadline=1)
    elapsed = time.monotonic() - start
    assert list(result["status"]) == ["too_slow", "downloaded"]  # and the list goes on
    assert elapsed < 3, f"took {elapsed:.1f} s with a 1 s deadline"
    assert [p.suffix for p in stored(tmp_path / "data")] == [".png"]  # no partial file kept
    default = inspect.signature(download_urls).parameters["deadline"].default
    assert default == download.DOWNLOAD_DEADLINE == 60


@pytest.mark.timeout(40)
@pytest.mark.parametrize("server", [_KeepAliveHandler], indirect=True)
def test_the_deadline_also_cuts_off_a_kept_alive_connection(tmp_path, server):
    urls = url_list(tmp_path, [f"{server.base}/ok/png", f"{server.base}/slow-body"])
    start = time.monotonic()
    with pytest.warns(UserWarning, match="too_slow"):
        result = download_urls(urls, "happy", tmp_path / "data", retries=0, deadline=1)
    assert list(result["status"]) == ["downloaded", "too_slow"]
    assert len(server.clients) == 1  # the slow URL came over the first URL's connection
    assert time.monotonic() - start < 3


# --------------------------------------------------------------------------- 2. file names


def test_non_utf8_file_names_import_and_can_be_found_again(tmp_path):
    source = photos(tmp_path / "photos")
    latin1 = os.fsdecode(b"caf\xe9.png")  # an old camera's or zip file's name
    copy_name = os.fsdecode(b"caf\xe9_copie \xe0 l'\xe9t\xe9.png")  # sorts after latin1
    try:
        write(source / "happy" / latin1, image_bytes("PNG", (5, 5, 5)))
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses file names that are not UTF-8")
    write(source / "happy" / copy_name, image_bytes("PNG", (5, 5, 5)))
    data = tmp_path / "data"

    first = import_folder(source, data)
    second = import_folder(source, data)  # a re-run works too

    manifest = read_manifest(data)
    assert len(manifest) == len(first) + len(second) == 2 * 6
    assert set(first["status"]) == {"imported", "already_present"}
    names = {os.fsencode(Path(p).name) for p in manifest["original_path"]}
    assert {b"caf\xe9.png", b"caf\xe9_copie \xe0 l'\xe9t\xe9.png"} <= names
    assert all(Path(p).is_file() for p in manifest["original_path"])  # each names its file
    left_out = copies_left_out(data)
    assert [os.fsencode(Path(p).name) for p in left_out["original_path"]] == [
        os.fsencode(copy_name)]
    assert Path(left_out["original_path"][0]).read_bytes() == image_bytes("PNG", (5, 5, 5))


# --------------------------------------------------------------------------- 3. downloads stop


@pytest.mark.timeout(30)
def test_a_malformed_url_gets_its_own_row_and_the_rest_go_on(tmp_path, server):
    bad = ["http://[::1/bad.jpg", "http://127.0.0.1:99999/x.png", "http://exa mple.com/a.png",
           "http:///no-host.png", "=HYPERLINK(\"http://evil.example\",\"click\")"]
    good = [f"{server.base}/ok/jpeg", f"{server.base}/ok/png"]
    urls = url_list(tmp_path, [good[0], *bad, f"{server.base}/bad-redirect", good[1]])
    data = tmp_path / "data"

    with pytest.warns(UserWarning, match=r"5 URL\(s\) invalid_url: lines of .*urls.txt"):
        first = download_urls(urls, "happy", data, retries=0)
    with pytest.warns(UserWarning, match="invalid_url"):
        second = download_urls(urls, "happy", data, retries=0)  # resume does not stop there

    assert statuses(first) == {good[0]: "downloaded", **dict.fromkeys(bad, "invalid_url"),
                               f"{server.base}/bad-redirect": "failed", good[1]: "downloaded"}
    assert statuses(second) == statuses(first) | dict.fromkeys(good, "skipped_done")
    assert len(read_manifest(data)) == 2 * len(first)


@pytest.mark.timeout(30)
def test_a_manifest_resaved_by_a_spreadsheet_in_cp1252_still_resumes(tmp_path, server):
    good = f"{server.base}/ok/jpeg"
    accented = f"{server.base}/caf\u00e9-cr\u00e8me.png"  # 404: a row with text cp1252 re-codes
    urls = url_list(tmp_path, [good, accented])
    data = tmp_path / "data"
    download_urls(urls, "happy", data, retries=0)
    manifest = data / MANIFEST_NAME
    manifest.write_bytes(manifest.read_text(encoding="utf-8").encode("cp1252"))

    again = download_urls(urls, "happy", data, retries=0)

    assert statuses(again) == {good: "skipped_done", accented: "http_404"}
    assert len(read_manifest(data)) == 4


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le-bom",
                                      "utf-16-be-bom"])
def test_url_lists_in_utf8_or_utf16_with_bom_are_read(tmp_path, server, encoding):
    lines = ["# caf\u00e9 photos", f"{server.base}/ok/jpeg"]
    text = "\n".join(lines)
    if encoding.endswith("-bom"):
        raw = "\ufeff".encode(encoding[:-4]) + text.encode(encoding[:-4])
    else:
        raw = text.encode(encoding)
    urls = write(tmp_path / "urls.txt", raw)
    result = download_urls(urls, "happy", tmp_path / "data", retries=0)
    assert list(result["status"]) == ["downloaded"]


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [("# caf\u00e9\nhttp://127.0.0.1:9/a.png".encode("latin-1"), "line 1"),
     ("http://127.0.0.1:9/a.png".encode("utf-16-le"), "UTF-16 without a byte order mark")],
    ids=["latin-1", "utf-16-no-bom"],
)
def test_url_lists_in_other_encodings_are_refused_naming_the_file(tmp_path, raw, phrase):
    urls = write(tmp_path / "my urls.txt", raw)
    with pytest.raises(ValueError) as info:
        download_urls(urls, "happy", tmp_path / "data")
    message = str(info.value)
    for part in (str(urls), phrase, "UTF-8"):
        assert part in message
    assert not isinstance(info.value, UnicodeDecodeError)
    assert not (tmp_path / "data" / MANIFEST_NAME).exists()


@pytest.mark.timeout(30)
def test_images_with_a_generic_or_missing_content_type_are_recognised_by_their_bytes(
        tmp_path, server):
    paths = [f"{kind}/{fmt}" for kind in ("octet", "binary", "none", "odd") for fmt in SNIFFED]
    urls = url_list(tmp_path, [f"{server.base}/{p}" for p in [
        *paths, "octet/text", "none/text", "odd/text", "html-as-jpeg"]])
    data = tmp_path / "data"

    result = download_urls(urls, "happy", data, retries=0)

    got = {url.removeprefix(server.base + "/"): s for url, s in statuses(result).items()}
    assert got == {
        **{p: ("downloaded" if p.startswith("octet/") else "already_present") for p in paths},
        "octet/text": "not_an_image",
        "none/text": "not_an_image",
        "odd/text": "unsupported_format",  # an image type we do not know, and no known bytes
        "html-as-jpeg": "downloaded",  # the header names an image: cleaning decodes and decides
    }
    by_path = dict(zip(got, result["stored_path"], strict=True))
    for fmt, (body, ext) in SNIFFED.items():
        assert by_path[f"octet/{fmt}"].endswith(ext)
        assert (data / by_path[f"octet/{fmt}"]).read_bytes() == body


# --------------------------------------------------------------------------- 4. silent folders


@pytest.fixture
def unreadable(monkeypatch):
    """Make folders unreadable: chmod 000, and (as root, who reads anyway) a listing refused."""
    blocked: list[Path] = []
    real_listdir = os.listdir

    def listdir(path="."):
        if os.geteuid() == 0 and Path(os.fsdecode(path)).absolute() in blocked:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "listdir", listdir)

    def block(folder: Path) -> Path:
        blocked.append(folder.absolute())
        folder.chmod(0)
        return folder

    yield block
    for folder in blocked:
        folder.chmod(0o755)


def test_photos_in_an_unreadable_nested_folder_are_recorded(tmp_path, unreadable):
    source = photos(tmp_path / "photos")
    write(source / "happy" / "2019" / "party.png", image_bytes("PNG", (9, 9, 9)))
    locked = unreadable(source / "happy" / "2019")
    other = unreadable(write(source / "angry" / "x" / "grr.png", b"x").parent)

    with pytest.warns(UserWarning, match="skipped_unreadable_folder.*permissions"):
        result = import_folder(source, tmp_path / "data", classes=["happy", "sad"])

    rows = result.set_index("original_path")
    assert rows.loc[str(locked), "status"] == "skipped_unreadable_folder"
    assert rows.loc[str(locked), "class"] == "happy"
    assert rows.loc[str(other), "status"] == "skipped_unreadable_folder"
    assert (result["status"] == "imported").sum() == 4


def test_an_unreadable_class_folder_says_permission_denied(tmp_path, unreadable):
    source = photos(tmp_path / "photos")
    unreadable(source / "sad")
    with pytest.raises(PermissionError, match=r"Cannot read the class folder .*sad.*permission"):
        import_folder(source, tmp_path / "data")
    assert not (tmp_path / "data" / MANIFEST_NAME).exists()


@pytest.mark.timeout(10)
@pytest.mark.parametrize("target", ["root", "etc"])
def test_a_class_folder_linking_out_of_the_photo_folder_is_refused(tmp_path, target):
    source = photos(tmp_path / "photos")
    if target == "root":
        outside = Path("/")
    else:
        outside = tmp_path / "etc"
        write(outside / "shadow", b"root:$6$secret:19000:0:99999:7:::\n")
        write(outside / "logo.png", image_bytes("PNG"))
    os.rename(source / "sad", tmp_path / "old sad")
    (source / "sad").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ValueError, match=r"sad is a link to .* outside .*photos.*[Cc]opy"):
        import_folder(source, tmp_path / "data")

    assert not (tmp_path / "data").exists() or stored(tmp_path / "data") == []


@pytest.mark.timeout(10)
def test_links_and_special_files_inside_a_class_folder_are_recorded_not_followed(tmp_path):
    source = photos(tmp_path / "photos")
    elsewhere = write(tmp_path / "elsewhere" / "secret.png", image_bytes("PNG", (7, 7, 7))).parent
    (source / "happy" / "elsewhere").symlink_to(elsewhere, target_is_directory=True)
    (source / "happy" / "sad too").symlink_to(source / "sad", target_is_directory=True)
    (source / "happy" / "root").symlink_to("/", target_is_directory=True)
    (source / "happy" / "up").symlink_to("..", target_is_directory=True)  # a loop: not a row
    (source / "happy" / "gone.png").symlink_to(tmp_path / "deleted.png")
    os.mkfifo(source / "happy" / "pipe.jpg")

    with pytest.warns(UserWarning, match="skipped_not_a_file.*skipped_outside_link.*copy"):
        result = import_folder(source, tmp_path / "data")

    got = dict(zip((Path(p).name for p in result["original_path"]), result["status"],
                   strict=True))
    assert got == {
        "elsewhere": "skipped_outside_link", "sad too": "skipped_outside_link",
        "root": "skipped_outside_link", "gone.png": "skipped_not_a_file",
        "pipe.jpg": "skipped_not_a_file", **dict.fromkeys(["h0.png", "h1.png", "s0.png",
                                                            "s1.png"], "imported")}
    happy = result[result["status"] == "imported"].groupby("class").size().to_dict()
    assert happy == {"happy": 2, "sad": 2}  # sad's photos stay sad's


# --------------------------------------------------------------------------- 5. security


def test_copies_keep_the_source_permissions(tmp_path):
    source = photos(tmp_path / "photos")
    (source / "happy" / "h0.png").chmod(0o600)
    (source / "sad" / "s0.png").chmod(0o644)
    (source / "sad" / "s1.png").chmod(0o400)  # read-only: still copied, still read-only
    old = os.umask(0o022)
    try:
        result = import_folder(source, tmp_path / "data")
    finally:
        os.umask(old)
    modes = {Path(row.original_path).name: stat.S_IMODE((tmp_path / "data" / row.stored_path)
                                                         .stat().st_mode)
             for row in result.itertuples()}
    assert modes == {"h0.png": 0o600, "h1.png": 0o644, "s0.png": 0o644, "s1.png": 0o400}
    old = os.umask(0o077)
    try:
        again = import_folder(source, tmp_path / "data2")
    finally:
        os.umask(old)
    assert sorted(stat.S_IMODE((tmp_path / "data2" / row.stored_path).stat().st_mode)
                  for row in again.itertuples()) == [0o400, 0o600, 0o600, 0o600]


def test_a_formula_line_is_kept_as_text_in_the_manifest(tmp_path):
    formula = '=HYPERLINK("http://evil.example","click me")'
    urls = url_list(tmp_path, [formula, "+cmd|' /C calc'!A0", "@SUM(1+1)"])
    data = tmp_path / "data"
    with pytest.warns(UserWarning, match="3 URL.s. invalid_url"):
        download_urls(urls, "happy", data)
    with open(data / MANIFEST_NAME, newline="", encoding="utf-8") as f:
        cells = [cell for line in csv.reader(f) for cell in line]
    assert f"'{formula}" in cells
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@"))]
    manifest = read_manifest(data)
    assert list(manifest["url"]) == [formula, "+cmd|' /C calc'!A0", "@SUM(1+1)"]
    assert set(manifest["status"]) == {"invalid_url"}
    assert not DONE_STATUSES & set(manifest["status"])
