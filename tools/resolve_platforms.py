"""Which Pythons and operating systems can install the kit: `requirements.txt` (or any
requirements file) resolved with `pip install --dry-run` for each, wheels only, as a laptop's
pip would see it. Needs the package index; downloads metadata, not packages.

    python tools/resolve_platforms.py                  # the table in docs/platforms.md
    python tools/resolve_platforms.py -r requirements-dev.txt --python 3.13
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: pip platform tags per system: every tag a current pip on that system accepts.
SYSTEMS = {
    "Linux x86-64": ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                     "manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64"],
    "macOS arm64 (Apple Silicon)": [f"macosx_{v}_0_arm64" for v in (15, 14, 13, 12, 11)]
                                   + ["macosx_11_0_universal2"],
    "Windows x86-64": ["win_amd64"],
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")


def resolve(requirements: Path, python: str, platforms: list[str]) -> tuple[bool, str]:
    """(resolves, what): the number of packages, or pip's reason it cannot resolve."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        options = [arg for tag in platforms for arg in ("--platform", tag)]
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
             "--disable-pip-version-check", "--only-binary=:all:", "--target", tmp,
             "--implementation", "cp", "--python-version", python, *options,
             "--report", str(report), "-r", str(requirements)],
            capture_output=True, text=True)
        if done.returncode == 0 and report.exists():
            packages = json.loads(report.read_text())["install"]
            return True, f"{len(packages)} packages"
    errors = [line.removeprefix("ERROR: ") for line in done.stderr.splitlines()
              if line.startswith("ERROR: ")]
    return False, errors[-1] if errors else done.stderr.strip()[-200:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-r", "--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--python", nargs="+", default=list(PYTHONS))
    args = parser.parse_args(argv)
    print(f"`{args.requirements.name}`, pip {pip_version()}, wheels only\n")
    print("| system | " + " | ".join(f"Python {v}" for v in args.python) + " |")
    print("|---|" + "---|" * len(args.python))
    for system, platforms in SYSTEMS.items():
        cells = []
        for python in args.python:
            ok, what = resolve(args.requirements, python, platforms)
            cells.append(f"yes ({what})" if ok else f"no: {what}")
        print(f"| {system} | " + " | ".join(cells) + " |", flush=True)
    return 0


def pip_version() -> str:
    return subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True,
                          text=True).stdout.split()[1]


if __name__ == "__main__":
    sys.exit(main())
