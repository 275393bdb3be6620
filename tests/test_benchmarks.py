"""The photo and cleaning benchmarks run end to end on small folders made in code, and say so
when their research data is absent (the recipe benchmark is tested in test_export.py); the
throughput scan runs on a few generated faces."""

import re
import subprocess
import sys

from conftest import PHOTO, REPO, landscape, save_brightness_model, scene
from helpers.faces import FaceRules, FaceStep


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / script), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=600)


def test_photos_benchmark_scores_the_photo_path(tmp_path):
    data = tmp_path / "photos"
    (data / "happy").mkdir(parents=True)
    (data / "sad").mkdir(parents=True)
    PHOTO.save(data / "happy" / "portrait.jpg")
    scene(1).save(data / "happy" / "scene.jpg")
    scene(2, mirror=True).save(data / "sad" / "scene.jpg")
    landscape().save(data / "sad" / "landscape.jpg")
    model = save_brightness_model(tmp_path / "model" / "model.keras", 48,
                                  FaceStep("face_crops", FaceRules(margin=0.07)))
    done = run("photos_benchmark.py", "--model", str(model), "--data", str(data))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| 4 | 3 (75.0%) |" in done.stdout  # three photos show a face, the landscape none
    assert "no_face 1" in done.stdout and "| 0.500 |" in done.stdout  # baseline: 2 of 4


def test_photos_benchmark_explains_missing_data(tmp_path):
    done = run("photos_benchmark.py", "--data", str(tmp_path / "nowhere"))
    assert done.returncode == 0 and "Data absent" in done.stdout


def test_clean_benchmark_times_each_face_step(tmp_path):
    done = run("clean_benchmark.py", "--sizes", "40", "--skip-fer", "--hashes", "3000")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| generated faces (64-160 px) | 40 | off (none) |" in done.stdout
    assert "| generated faces (64-160 px) | 40 | detect (photos) |" in done.stdout
    assert "| near-duplicate search only (random hashes) | 3,000 | - |" in done.stdout


def test_throughput_benchmark_prints_the_isa_and_both_tables(tmp_path):
    """SLOW (trains to time it)."""
    from helpers.synthetic import generate_dataset

    generate_dataset(tmp_path / "faces", n_per_class=20, dirty=False)
    done = run("throughput_benchmark.py", "--data", str(tmp_path / "faces"), "--images", "64",
               "--skip-xla")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("CPU: ")
    for row in ("the bare network, tensors in memory, no augmentation | off",
                "make_dataset with build_augmentation | off", "half width: 8, 16x2, 32x2, 64x2"):
        assert re.search(rf"^\| {re.escape(row)} \|.* [\d,]+ \|$", done.stdout, re.MULTILINE), \
            done.stdout
    no_data = run("throughput_benchmark.py", "--data", str(tmp_path / "nowhere"))
    assert no_data.returncode == 0 and "Data absent" in no_data.stdout
