"""Reliability of prediction and the shared decoder (issue #23, second round).

Each test stands for a class of failure found by probing: a model whose output is not one
probability per picture, special files that block, files crafted to cost minutes or gigabytes
to decode, file names that are not UTF-8, memory out of proportion to the work, exceptions
escaping `load_classifier`, image paths that look like options, and unsafe upload names.
Every file is made in code and small; TensorFlow is loaded once per module.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import progressive_jpeg, save_brightness_model, write_image
from helpers import images, predict
from helpers.bundle import CARD_FILE
from helpers.images import REASONS, ImageError, open_image
from helpers.predict import classify_images, load_classifier, main

# --------------------------------------------------------------------------- crafted files


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (90, 120, 150)).save(buffer, format="PNG")
    return buffer.getvalue()


def _scans(data: bytes) -> int:
    return data.count(b"\xff\xda")


# --------------------------------------------------------------------------- special files


@pytest.mark.timeout(60)
def test_a_named_pipe_or_a_folder_is_refused_without_opening_it(tmp_path):
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)  # opening it for reading would wait for a writer forever
    with pytest.raises(ImageError) as refused:
        open_image(pipe)
    assert refused.value.reason == "not_a_file" and "named pipe" in str(refused.value)
    with pytest.raises(ImageError) as folder:
        open_image(tmp_path)
    assert folder.value.reason == "not_a_file" and "folder" in str(folder.value)
    assert "not_a_file" in REASONS


# --------------------------------------------------------------------------- decode cost


@pytest.mark.timeout(60)
def test_a_jpeg_with_too_many_scans_is_refused_before_decoding(tmp_path):
    normal = tmp_path / "normal.jpg"
    normal.write_bytes(progressive_jpeg(0))
    assert 1 < _scans(normal.read_bytes()) <= 20 and open_image(normal).size == (32, 32)
    bomb = tmp_path / "scans.jpg"
    bomb.write_bytes(progressive_jpeg(images.MAX_JPEG_SCANS))
    start = time.perf_counter()
    with pytest.raises(ImageError) as refused:
        open_image(bomb)
    assert time.perf_counter() - start < 5
    assert refused.value.reason == "too_large"
    assert f"helpers.images.MAX_JPEG_SCANS = {images.MAX_JPEG_SCANS:_}" in str(refused.value)


@pytest.mark.timeout(60)
def test_a_png_with_too_many_chunks_is_refused_before_parsing_them(tmp_path):
    png = _png_bytes()
    header = 8 + 25  # signature and IHDR
    text = _chunk(b"tEXt", b"key\x00value") * (images.MAX_PNG_CHUNKS + 1)
    path = tmp_path / "text.png"
    path.write_bytes(png[:header] + text + png[header:])
    with pytest.raises(ImageError) as refused:
        open_image(path)
    assert refused.value.reason == "too_large"
    assert f"helpers.images.MAX_PNG_CHUNKS = {images.MAX_PNG_CHUNKS:_}" in str(refused.value)
    few = tmp_path / "few.png"
    few.write_bytes(png[:header] + _chunk(b"tEXt", b"key\x00value") * 20 + png[header:])
    assert open_image(few).size == (8, 8)


@pytest.mark.timeout(60)
def test_a_png_chunk_longer_than_the_file_is_corrupt_without_reading_gigabytes(tmp_path):
    png = _png_bytes()
    at = png.index(b"IDAT") - 4
    path = tmp_path / "idat.png"
    path.write_bytes(png[:at] + struct.pack(">I", 0xFFFFFFFF) + png[at + 4:])
    tracemalloc.start()
    try:
        with pytest.raises(ImageError) as refused:
            open_image(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert refused.value.reason == "corrupt" and "IDAT" in str(refused.value)
    assert peak < 20_000_000  # not the 4 GB the chunk claims


def test_running_out_of_memory_while_decoding_is_an_image_error(tmp_path, monkeypatch):
    path = write_image(tmp_path / "photo.png")

    def no_memory(self):
        raise MemoryError

    monkeypatch.setattr(Image.Image, "load", no_memory)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_memory)
    with pytest.raises(ImageError) as refused:
        open_image(path)
    assert refused.value.reason == "too_large" and "memory" in str(refused.value)


_PEAK_CODE = """
import re, sys
from pathlib import Path
from helpers.images import open_image

def peak() -> int:  # the most memory this process has held, in bytes
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1]) * 1024

before = peak()
img = open_image(sys.argv[1])
print(max(img.size), img.mode, peak() - before)
"""


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
@pytest.mark.timeout(120)
def test_a_large_transparent_png_is_shrunk_with_one_full_size_copy(tmp_path):
    side = 6000
    path = tmp_path / "alpha.png"
    pixels = np.zeros((side, side, 4), np.uint8)
    pixels[1000:5000, 1000:5000] = (250, 200, 40, 255)
    Image.fromarray(pixels, "RGBA").save(path, compress_level=1)
    del pixels
    done = subprocess.run([sys.executable, "-c", _PEAK_CODE, str(path)], capture_output=True,
                          text=True, timeout=100, cwd=Path(__file__).parent.parent, check=True)
    side_after, mode, grown = done.stdout.split()
    assert mode == "RGB" and int(side_after) == images.MAX_SIDE
    decoded = side * side * 4
    assert int(grown) < 1.6 * decoded  # the decoded picture, not a premultiplied copy too


def test_a_large_transparent_png_keeps_its_exif_rotation_and_white_background(tmp_path):
    path = tmp_path / "rotated.png"
    pixels = np.zeros((2100, 4200, 4), np.uint8)  # transparent: white once flattened
    pixels[:, :2100] = (0, 0, 0, 255)  # left half black
    exif = Image.Exif()
    exif[0x0112] = 6  # turn 90° clockwise to display: the black half goes on top
    Image.fromarray(pixels, "RGBA").save(path, exif=exif)
    img = np.asarray(open_image(path))
    assert img.shape == (2048, 1024, 3)
    assert img[:1000].max() < 10 and img[1048:].min() > 245


# --------------------------------------------------------------------------- prediction


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """The stand-in model (mean brightness), saved with its sidecars; loads TensorFlow once."""
    return save_brightness_model(tmp_path_factory.mktemp("model") / "model.keras")


@pytest.fixture(scope="module")
def classifier(model_path):
    return load_classifier(model_path)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def _copy_model(model_path: Path, folder: Path) -> Path:
    folder.mkdir()
    for sidecar in model_path.parent.iterdir():
        shutil.copy(sidecar, folder / sidecar.name)
    return folder / model_path.name


def _with_output(model_path: Path, folder: Path, output_layer) -> Path:
    """The stand-in model with `output_layer` on top, saved with the same card."""
    import keras

    path = _copy_model(model_path, folder)
    keras.Sequential([keras.Input((16, 16, 1)), output_layer]).save(path)
    return path


@pytest.mark.parametrize("layer", ["softmax_2", "per_pixel"])
def test_a_model_without_one_probability_per_picture_is_refused(model_path, tmp_path, layer,
                                                                capsys):
    import keras

    output = {"softmax_2": keras.layers.Dense(2, activation="softmax"),  # (None, 16, 16, 2)
              "per_pixel": keras.layers.Conv2D(1, 1, activation="sigmoid")}[layer]
    path = _with_output(model_path, tmp_path / "wrong", output)
    with pytest.raises(ValueError, match=r"output shape \(None, 1\)"):
        load_classifier(path)
    assert main([str(path), "x.png"]) == 2
    assert "one probability per picture" in _lines(capsys.readouterr().out)[0]["error"]


def test_a_tflite_model_without_one_probability_per_picture_is_refused(tmp_path):
    import keras

    from helpers.export import TFLiteClassifier, export_tflite

    two = keras.Sequential([keras.Input((16, 16, 1)), keras.layers.GlobalAveragePooling2D(),
                            keras.layers.Dense(2, activation="softmax")])
    path = export_tflite(two, tmp_path / "two.tflite")
    with pytest.raises(ValueError, match=r"output shape \(None, 1\)"):
        TFLiteClassifier(path)


def test_an_answer_that_is_not_a_probability_is_an_error_line(classifier, tmp_path):
    paths = [write_image(tmp_path / f"{i}.png") for i in range(3)]
    odd = replace(classifier, predict=lambda images: np.array([np.nan, 1.5, 0.25]))
    nan, above, fine = classify_images(odd, paths)
    assert "not a probability" in nan["error"] and "not a probability" in above["error"]
    assert fine["label"] == "happy" and fine["confidence"] == 0.75
    json.loads(json.dumps(nan, allow_nan=False))  # valid JSON: no NaN


@pytest.mark.timeout(60)
def test_the_cli_skips_a_named_pipe_and_answers_for_the_photo(model_path, tmp_path, capsys):
    photo = write_image(tmp_path / "photo.png")
    pipe = tmp_path / "pipe.jpg"
    os.mkfifo(pipe)
    assert main([str(model_path), str(photo), str(pipe)]) == 1
    good, special = _lines(capsys.readouterr().out)
    assert good["label"] in ("happy", "sad")
    assert special["error"] == f"pipe.jpg: {REASONS['not_a_file']} (a named pipe)"


def _strict_stdout(monkeypatch, encoding: str) -> io.BytesIO:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding=encoding, errors="strict",
                                                        write_through=True))
    return raw


def test_file_names_that_are_not_utf8_print_readably_as_json(model_path, tmp_path, monkeypatch):
    photo = tmp_path / os.fsdecode(b"caf\xe9.png")
    try:
        write_image(photo)
    except (OSError, UnicodeError):
        pytest.skip("this file system takes only UTF-8 names")
    broken = tmp_path / os.fsdecode(b"bad\xff.jpg")
    broken.write_text("not a picture")
    raw = _strict_stdout(monkeypatch, "utf-8")
    assert main([str(model_path), str(photo), str(broken)]) == 1
    good, bad = _lines(raw.getvalue().decode("utf-8"))
    assert good["path"] == str(tmp_path / "caf\\xe9.png") and "label" in good
    assert bad["error"].startswith("bad\\xff.jpg: the file is not an image")


def test_every_line_prints_on_an_ascii_stdout(model_path, tmp_path, monkeypatch):
    photo = write_image(tmp_path / "ünï 😀.png")
    raw = _strict_stdout(monkeypatch, "ascii")
    assert main([str(model_path), str(photo)]) == 0
    [line] = _lines(raw.getvalue().decode("ascii"))
    assert line["path"] == str(photo)


def test_pictures_are_decoded_and_answered_in_batches(classifier, tmp_path, monkeypatch):
    monkeypatch.setattr(predict, "PREDICT_BATCH", 2)
    paths = [write_image(tmp_path / f"{i}.png", colour=(20 * i, 0, 0)) for i in range(5)]
    batches = []

    def recording(images: np.ndarray) -> np.ndarray:
        batches.append(len(images))
        if len(batches) == 1:
            raise RuntimeError("the model broke")
        return classifier.predict(images)

    results = predict.iter_classify(replace(classifier, predict=recording), paths)
    first = next(results)
    assert batches == [2]  # the first answers come before the later pictures are read
    rest = list(results)
    assert batches == [2, 2, 1]
    assert "the model broke" in first["error"] and "the model broke" in rest[0]["error"]
    assert all("label" in r for r in rest[1:]) and [r["path"] for r in rest[1:]] == [
        str(p) for p in paths[2:]]


def test_the_cli_prints_each_batch_as_soon_as_it_is_done(model_path, tmp_path, monkeypatch):
    monkeypatch.setattr(predict, "PREDICT_BATCH", 2)
    paths = [write_image(tmp_path / f"{i}.png") for i in range(5)]
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    lines_when_read = []
    real_open = predict.open_image

    def open_image_noting_output(path):
        lines_when_read.append(out.getvalue().count("\n"))
        if Path(path).name == "1.png":
            raise MemoryError  # a picture that fails in an unexpected way stops no other
        return real_open(path)

    monkeypatch.setattr(predict, "open_image", open_image_noting_output)
    assert main([str(model_path), *map(str, paths)]) == 1
    assert lines_when_read == [0, 0, 2, 2, 4]
    lines = _lines(out.getvalue())
    assert [bool(line.get("label")) for line in lines] == [True, False, True, True, True]
    assert lines[1]["error"].startswith("1.png: ")


def _zip_without(path: Path, member: str, replacement: str | None = None) -> None:
    with zipfile.ZipFile(path) as old:
        members = {name: old.read(name) for name in old.namelist()}
    with zipfile.ZipFile(path, "w") as new:
        for name, data in members.items():
            if name != member:
                new.writestr(name, data)
            elif replacement is not None:
                new.writestr(name, replacement)


def _damage(model: Path, case: str) -> None:
    prep = model.with_name(CARD_FILE)
    record = json.loads(prep.read_text())
    if case == "no_config_json":  # KeyError inside Keras
        _zip_without(model, "config.json")
    elif case == "config_not_a_dict":  # TypeError inside Keras
        with zipfile.ZipFile(model) as archive:
            config = json.loads(archive.read("config.json"))
        _zip_without(model, "config.json", json.dumps({**config, "config": 5}))
    elif case == "size_infinite":  # OverflowError
        prep.write_text(json.dumps(record).replace('"image_size": 16', '"image_size": 1e999'))
    elif case == "face_step_a_string":  # AttributeError
        prep.write_text(json.dumps({**record, "face_step": "photos"}))
    elif case == "face_rule_not_a_number":  # TypeError when the first face is cropped
        prep.write_text(json.dumps({**record, "face_step": {"mode": "photos",
                                                            "rules": {"margin": "wide"}}}))
    elif case == "classes_deeply_nested":  # RecursionError
        prep.write_text("[" * 100_000 + "]" * 100_000)
    elif case == "classes_not_names":  # TypeError (unhashable) at the first answer
        prep.write_text(json.dumps({**record, "classes": [["happy"], ["sad"]]}))
    elif case in ("channels_true", "channels_float", "threshold_true"):  # one error per picture
        key, value = {"channels_true": ("channels", True), "channels_float": ("channels", 1.0),
                      "threshold_true": ("threshold", True)}[case]
        prep.write_text(json.dumps({**record, key: value}))
    elif case in ("margin_huge", "margin_negative"):  # accepted, then every crop failed
        margin = 1e308 if case == "margin_huge" else -5
        prep.write_text(json.dumps({**record, "face_step": {"mode": "photos",
                                                            "rules": {"margin": margin}}}))


@pytest.mark.parametrize("case", ["no_config_json", "config_not_a_dict", "size_infinite",
                                  "face_step_a_string", "face_rule_not_a_number",
                                  "classes_deeply_nested", "classes_not_names",
                                  "channels_true", "channels_float", "threshold_true",
                                  "margin_huge", "margin_negative"])
def test_a_damaged_model_or_card_is_an_error_line_and_status_2(model_path, tmp_path, case,
                                                                   capsys):
    model = _copy_model(model_path, tmp_path / "damaged")
    _damage(model, case)
    photo = write_image(tmp_path / "photo.png")
    assert main([str(model), str(photo)]) == 2
    [line] = _lines(capsys.readouterr().out)
    assert set(line) == {"error"} and str(model.parent) in line["error"]


def test_a_path_the_file_system_refuses_still_gives_every_line(model_path, tmp_path, capsys):
    photo = write_image(tmp_path / "photo.png")
    too_long = tmp_path / ("x" * 300 + ".png")
    assert main([str(model_path), str(too_long), str(photo)]) == 1
    refused, good = _lines(capsys.readouterr().out)
    assert refused["error"].startswith("x" * 300) and "label" in good


def test_image_paths_may_start_with_a_dash(model_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_image(tmp_path / "-rf.png")
    write_image(tmp_path / "-h.png")
    assert main([str(model_path), "-rf.png"]) == 0
    assert main([str(model_path), "--", "-h.png"]) == 0
    first, second = _lines(capsys.readouterr().out)
    assert first["path"] == "-rf.png" and second["path"] == "-h.png" and "label" in second


# --------------------------------------------------------------------------- upload widget


def _upload(name: str, data: bytes) -> dict:
    return {"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
            "last_modified": dt.datetime.now().astimezone()}  # as ipywidgets delivers it


@pytest.fixture
def widget(classifier, tmp_path):
    from helpers.upload import UploadWidget

    return UploadWidget(classifier, tmp_path / "uploads")


def _png_upload() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_upload_never_writes_through_a_link(widget, tmp_path):
    outside = tmp_path / "outside" / "target.png"
    outside.parent.mkdir()
    widget.folder.mkdir()
    (widget.folder / "me.png").symlink_to(outside)  # dangling: nothing there yet
    widget.upload.value = (_upload("me.png", _png_upload()),)
    assert not outside.exists()
    assert (widget.folder / "me_1.png").read_bytes() == _png_upload()
    assert widget.results[0]["label"] == "sad"


def test_long_upload_names_are_shortened_to_fit_and_stay_in_the_folder(widget):
    long_names = ["笑" * 100 + ".png", "a" * 249 + ".png"]  # 304 bytes; 253, then 255 with _1
    odd_names = ["../x.png", "a/b.png", "..\\c.png", "..", ""]
    widget.upload.value = tuple(_upload(name, _png_upload())
                                for name in [*long_names, *long_names, *odd_names])
    saved = sorted(widget.folder.iterdir())
    assert len(saved) == 9 and all(p.parent == widget.folder and p.is_file() for p in saved)
    assert all(len(p.name.encode()) <= 255 for p in saved)
    assert sum(p.name.startswith("笑") and p.suffix == ".png" for p in saved) == 2
    assert all("label" in r for r in widget.results)
    assert not (widget.folder.parent / "x.png").exists()


def test_an_upload_that_cannot_be_saved_stops_no_other(widget, monkeypatch):
    import builtins

    real_open = builtins.open

    def disk_full_for_one(file, *args, **kwargs):
        if Path(file).name == "full.png":
            raise OSError(28, "No space left on device")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", disk_full_for_one)
    widget.upload.value = (_upload("full.png", _png_upload()), _upload("fine.png", _png_upload()))
    failed, fine = widget.results
    assert "full.png" in failed["error"] and "No space left" in failed["error"]
    assert fine["label"] == "sad" and not (widget.folder / "full.png").exists()
