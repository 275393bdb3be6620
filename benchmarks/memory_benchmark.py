"""Benchmark the input pipeline's memory as the training set grows: peak RSS and images/s of two
training epochs through `helpers.pipeline.make_dataset`, cached in memory or streamed from disk.

A folder of N pictures is made from the kit's generated faces (`--base` of them, drawn once),
hard-linked as often as it takes: N distinct files, so the pipeline reads N files, while drawing
200,000 faces would take the better part of an hour. Each row runs in a fresh process, so its
peak RSS (`resource.getrusage`) is that row's alone. `default` is what `make_dataset` chooses
(`CACHE_BUDGET_BYTES`).

    python benchmarks/memory_benchmark.py                       # 10k, 50k, 200k (about 15 min)
    python benchmarks/memory_benchmark.py --sizes 2000,10000
    python benchmarks/memory_benchmark.py --course [--quick]   # the whole course's peak memory

`--course` runs `python -m helpers.course run` and samples, twice a second, the memory of the
runner and every kernel it starts (the sum of their RSS, as a 2 GB Binder or JupyterHub limit
counts it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TQDM_DISABLE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MODES = ("cached", "streamed", "default")


def course_peak_memory(quick: bool) -> tuple[float, float, float]:
    """Run the course into a temporary folder: (peak MB of all its processes together, peak MB
    of the largest one, seconds)."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="memory-course-") as tmp:
        command = [sys.executable, "-m", "helpers.course", "run", "--out", tmp,
                   "-p", "WORK_DIR", str(Path(tmp) / "work")] + (["--quick"] if quick else [])
        start = time.perf_counter()
        runner = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL)
        total = largest = 0.0
        while runner.poll() is None:
            try:
                tree = [psutil.Process(runner.pid), *psutil.Process(runner.pid).children(True)]
                sizes = [p.memory_info().rss / 2**20 for p in tree if p.is_running()]
            except psutil.Error:
                continue
            total, largest = max(total, sum(sizes)), max(largest, max(sizes, default=0))
            time.sleep(0.5)
        if runner.returncode:
            raise SystemExit(f"the course failed (exit {runner.returncode})")
        return total, largest, time.perf_counter() - start


def make_folder(base: list[Path], n: int, out: Path) -> list[Path]:
    """`n` distinct files in `out`, hard links to the `base` pictures in turn."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = out / f"{i:06d}{base[i % len(base)].suffix}"
        if not path.exists():
            os.link(base[i % len(base)], path)
        paths.append(path)
    return paths


def one_epoch(listing: Path, mode: str, image_size: int, batch_size: int) -> dict:
    """Run in a child process: two shuffled training epochs; their seconds and peak RSS."""
    import resource

    from helpers.pipeline import CACHE_BUDGET_BYTES, make_dataset

    paths = listing.read_text().split("\n")
    budget = {"cached": 1 << 62, "streamed": 0, "default": CACHE_BUDGET_BYTES}[mode]
    ds = make_dataset(paths, [i % 2 for i in range(len(paths))], image_size, batch_size,
                      training=True, cache_budget=budget)
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        seen = sum(int(x.shape[0]) for x, _ in ds)
        seconds.append(time.perf_counter() - start)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"images": seen, "seconds": seconds, "peak_rss_mb": peak_mb,
            "streams": len(paths) * image_size * image_size * 3 > budget}  # uint8 RGB


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10000,50000,200000")
    p.add_argument("--base", type=int, default=10000, help="generated faces to link from")
    p.add_argument("--image-size", type=int, default=48)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--course", action="store_true", help="the whole course's peak memory")
    p.add_argument("--quick", action="store_true", help="with --course: the QUICK course")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.course:
        total, largest, seconds = course_peak_memory(args.quick)
        print(f"{'QUICK' if args.quick else 'default'} course: peak {total:,.0f} MB for the runner "
              f"and its kernels together, {largest:,.0f} MB for the largest process "
              f"({seconds / 60:.1f} min)")
        return 0
    if args.child:
        print(json.dumps(one_epoch(Path(args.child[0]), args.child[1], args.image_size,
                                   args.batch_size)))
        return 0

    from workshop_timing import isa_name

    from helpers.images import iter_files
    from helpers.synthetic import generate_dataset

    sizes = [int(s) for s in args.sizes.split(",")]
    held = os.environ.get("ONEDNN_MAX_CPU_ISA", "").upper() == "AVX2"
    print(f"CPU: {isa_name(held)}, {os.cpu_count()} cores; "
          f"{args.image_size}x{args.image_size} grey, batch {args.batch_size}")
    with tempfile.TemporaryDirectory(prefix="memory-benchmark-") as tmp:
        generate_dataset(Path(tmp) / "faces", n_per_class=args.base // 2, seed=0, dirty=False)
        base = sorted(path for cls in ("happy", "sad")
                      for path in iter_files(Path(tmp) / "faces" / cls))
        print("\n| pictures | pipeline | peak RSS MB | images/s, epoch 1 | epoch 2 |\n"
              "|---|---|---|---|---|")
        for n in sizes:
            listing = Path(tmp) / f"list-{n}.txt"
            listing.write_text("\n".join(map(str, make_folder(base, n, Path(tmp) / f"n{n}"))))
            for mode in MODES:
                done = subprocess.run([sys.executable, __file__, "--child", str(listing), mode,
                                       "--image-size", str(args.image_size),
                                       "--batch-size", str(args.batch_size)],
                                      capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                name = mode if mode != "default" else (
                    f"default ({'streams' if row['streams'] else 'cached'})")
                speeds = " | ".join(f"{row['images'] / t:,.0f}" for t in row["seconds"])
                print(f"| {n:,} | {name} | {row['peak_rss_mb']:,.0f} | {speeds} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
