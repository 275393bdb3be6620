"""Time every notebook the way a workshop meets it, on this CPU and as on an ordinary laptop.

Most learners' laptops have AVX2 but not AVX-512. On a machine that has AVX-512 this script
also runs everything with oneDNN held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`), the closest this
machine gets to such a laptop. Every time is printed beside the ISA it ran with and the
pre-flight probe's seconds under the same setting (`python -m helpers.course check` runs the
same probe on a learner's laptop, so a reader can place any laptop between the columns).

    python benchmarks/workshop_timing.py                          # default course, both ISAs
    python benchmarks/workshop_timing.py --isa avx2 --quick       # QUICK, held to AVX2 only
    python benchmarks/workshop_timing.py --then-05 DIAGNOSE_EPOCHS=0   # and 05 again like this

Each run uses a fresh temporary WORK_DIR and DATA_DIR; nothing in the repository changes.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROW = re.compile(r"^(\d\d_\w+)\s+(\d+\.\d)$", re.M)


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


def isa_name(held_to_avx2: bool) -> str:
    flags = cpu_flags()
    native = ("AVX-512" + (" with BF16" if "avx512_bf16" in flags else "")
              if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2")
    return f"AVX2 (oneDNN held to it on an {native} CPU)" if held_to_avx2 else native


def environment(held_to_avx2: bool) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    if held_to_avx2:
        env["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    return env


def probe_seconds(env: dict) -> float:
    code = "from helpers.preflight import cpu_probe; print(cpu_probe())"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def run_course(env: dict, args: list[str]) -> tuple[dict[str, float], float]:
    """Seconds per notebook (from the runner's table) and the wall time of the whole command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "helpers.course", "run", *args], cwd=REPO,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the course failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return {name: float(s) for name, s in ROW.findall(done.stdout)}, wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--isa", choices=["native", "avx2", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="time the QUICK course")
    parser.add_argument("--then-05", action="append", default=[], metavar="NAME=VALUE",
                        help="afterwards, run notebook 05 again with these parameters")
    args = parser.parse_args()
    avx512 = "avx512f" in cpu_flags()
    settings = {"native": [False], "avx2": [True], "both": [False, True]}[args.isa]
    if not avx512:
        settings = [False]  # oneDNN cannot be held below what the CPU has: one column
    columns = []
    for held in settings:
        env = environment(held)
        probe = probe_seconds(env)
        with tempfile.TemporaryDirectory() as tmp:
            common = ["-p", "WORK_DIR", f"{tmp}/work", "-p", "DATA_DIR", f"{tmp}/data"]
            times, wall = run_course(env, [*(["--quick"] if args.quick else []), *common,
                                           "--out", f"{tmp}/out"])
            if args.then_05:
                extra = [part for pair in args.then_05 for part in ("-p", *pair.split("=", 1))]
                again, _ = run_course(env, ["--only", "05", *(["--quick"] if args.quick else []),
                                            *common, *extra, "--out", f"{tmp}/again"])
                times[f"05_train ({', '.join(args.then_05)})"] = again["05_train"]
        columns.append((isa_name(held), probe, times, wall))
        print(f"{isa_name(held)}: probe {probe:.2f} s, course {wall:.0f} s", flush=True)
    mode = "QUICK" if args.quick else "default"
    print(f"\n| notebook ({mode} course) | " + " | ".join(
        f"{isa}, probe {probe:.2f} s" for isa, probe, _, _ in columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for name in columns[0][2]:
        print(f"| {name} | " + " | ".join(f"{times.get(name, float('nan')):.0f} s"
                                          for _, _, times, _ in columns) + " |")
    print("| whole command (start-up included) | " + " | ".join(
        f"{wall / 60:.1f} min" for *_, wall in columns) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
