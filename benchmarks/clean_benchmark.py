"""Benchmark cleaning (notebook 02's `clean_images`): images per second as the folder grows.

Every row cleans a fresh copy of a folder end to end (decode, checks, exact and near-duplicate
search, the face step, writing the clean copies and the report), with and without face
detection:

* `auto`: what notebook 02 does at default parameters (`choose_face_step`): a folder of face
  crops (FER) is kept whole, drawn faces get no face step;
* `detect`: every picture goes through the detector (`CROP_FACES=True`, the worst case);
* `off`: no face step (`CROP_FACES=False`).

Folders: the FER2013 happy/sad faces from ../shared (1,000 and 10,000 of them, and all), when
present, and the kit's generated faces (1,000, 10,000, 50,000). A last row times the
near-duplicate search alone on 100,000 random 256-bit hashes, to show it scales.

    python benchmarks/clean_benchmark.py                       # everything (about 15 minutes)
    python benchmarks/clean_benchmark.py --sizes 1000 --skip-generated
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from research_data import FER_ARCHIVE, find_data  # noqa: E402

from helpers.clean import clean_images  # noqa: E402
from helpers.clean_faces import choose_face_step  # noqa: E402
from helpers.duplicates import near_pairs  # noqa: E402
from helpers.images import class_folders, iter_files  # noqa: E402
from helpers.synthetic import generate_dataset  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="1000,10000,50000", help="folder sizes to time")
    p.add_argument("--detect-up-to", type=int, default=10000,
                   help="time `detect` only for folders up to this size (it is the slow one)")
    p.add_argument("--skip-generated", action="store_true")
    p.add_argument("--skip-fer", action="store_true")
    p.add_argument("--hashes", type=int, default=100_000, help="near-duplicate search alone")
    return p.parse_args(argv)


def subset(source: Path, n: int, out: Path) -> Path:
    """`n` files of `source` (both classes, evenly spread), linked into `out`."""
    files = [(folder.name, f) for folder in class_folders(source) for f in iter_files(folder)]
    step = max(1, len(files) // n)
    for cls, f in files[::step][:n]:
        (out / cls).mkdir(parents=True, exist_ok=True)
        (out / cls / f.name).symlink_to(f)
    return out


def time_clean(data: Path, work: Path, mode: str, generated: bool) -> tuple[float, int, str]:
    """Seconds to decide the face step and clean `data`, files cleaned, the face step's mode."""
    start = time.perf_counter()
    crop = {"auto": None, "detect": True, "off": False}[mode]
    step = choose_face_step(data, crop, generated=generated)
    report = clean_images(data, work, faces=step)
    return time.perf_counter() - start, report["file"].nunique(), step.mode


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    rows = []
    with tempfile.TemporaryDirectory(prefix="happy_sad_clean_") as tmp:
        tmp = Path(tmp)
        folders: list[tuple[str, int, Path, bool]] = []
        fer = None if args.skip_fer else find_data(None, tmp / "fer", FER_ARCHIVE)
        if fer is not None:
            fer_total = sum(1 for _ in fer.rglob("*.jpg"))
            for n in sorted({*(s for s in sizes if s < fer_total), fer_total}):
                folders.append(("FER2013 (48x48 face crops)", n,
                                subset(fer, n, tmp / f"fer_{n}"), False))
        elif not args.skip_fer:
            print(f"FER2013 absent ({FER_ARCHIVE} not found): timing generated faces only.")
        if not args.skip_generated:
            for n in sizes:
                folder = tmp / f"generated_{n}"
                generate_dataset(folder, n_per_class=n // 2, seed=0, dirty=False)
                folders.append(("generated faces (64-160 px)", n, folder, True))
        for name, n, folder, generated in folders:
            for mode in ("auto", "off", "detect"):
                if mode == "detect" and n > args.detect_up_to:
                    continue
                if mode == "auto" and generated:
                    continue  # the same as "off" for drawn faces
                seconds, files, face_mode = time_clean(folder, tmp / "work", mode, generated)
                rows.append((name, files, f"{mode} ({face_mode})", seconds, files / seconds))
                print(f"{name}: {files:,} files, face step {mode} ({face_mode}): {seconds:.1f} s",
                      flush=True)
        bits = np.random.default_rng(0).integers(0, 2, (args.hashes, 256), dtype=np.uint8)
        start = time.perf_counter()
        near_pairs(bits, 20)
        seconds = time.perf_counter() - start
        rows.append(("near-duplicate search only (random hashes)", args.hashes, "-", seconds,
                     args.hashes / seconds))

    print(f"\n{os.cpu_count()} CPU cores\n")
    print("| folder | files | face step | seconds | images/s |")
    print("|---|---|---|---|---|")
    for name, files, mode, seconds, rate in rows:
        print(f"| {name} | {files:,} | {mode} | {seconds:.1f} | {rate:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
