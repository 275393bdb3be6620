"""An offline classroom folder to copy onto a USB stick: packages, the kit, student notebooks.

    python -m helpers.course classroom --out classroom/
    python -m helpers.course classroom --out classroom-windows/ \\
        --pip-option=--platform=win_amd64 --pip-option=--python-version=3.12 \\
        --pip-option=--only-binary=:all:

The folder holds `wheelhouse/` (every package in requirements.txt, downloaded once by
`pip download`), `kit/` (the helpers, the student copies of the notebooks, the generated faces
for the workshop's seed, requirements and guides) and `INSTALL.txt`, whose one install line
learners run with no internet: `pip install --no-index --find-links wheelhouse -r ...`.
Wheels are made for one operating system and Python version: build one folder per kind of
laptop in the room (`--pip-option` is passed to `pip download`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers.student import make_student_copies
from helpers.synthetic import generate_dataset

ROOT = Path(__file__).resolve().parent.parent
KIT_FILES = ("README.md", "INSTRUCTOR.md", "requirements.txt", "environment.yml",
             "pyproject.toml", "data/README.md", "docs/running.md", "docs/own-photos.md",
             "docs/troubleshooting.md", "docs/platforms.md")


def download_wheels(requirements: Path, wheelhouse: Path, pip_options: Sequence[str] = ()) -> None:
    """`pip download` every package of `requirements` (and their dependencies) into `wheelhouse`."""
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check",
               "-r", str(requirements), "-d", str(wheelhouse), *pip_options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"pip download failed (exit {done.returncode}):\n{done.stderr[-2000:]}\n"
                           "Building the folder needs the package index (internet) once.")


def install_command(wheelhouse: str = "wheelhouse",
                    requirements: str = "kit/requirements.txt") -> list[str]:
    """The line learners run, from the folder's top, with no internet."""
    return ["python", "-m", "pip", "install", "--no-index", "--find-links", wheelhouse,
            "-r", requirements]


def build_classroom(out_dir: str | Path, seed: int = 42, n_per_class: int = 1000,
                    requirements: str | Path = ROOT / "requirements.txt",
                    pip_options: Sequence[str] = (), notebooks: Sequence[Path] = (),
                    with_solutions: bool = False) -> Path:
    """Write the classroom folder (see the module docstring); returns its path. With
    `with_solutions` the solution notebooks go in `kit/notebooks/` too, so that
    `python -m helpers.course catch-up NN` works in the room."""
    out = Path(out_dir)
    kit = out / "kit"
    if kit.exists():
        raise FileExistsError(f"{kit} already exists: choose another --out folder, or remove "
                              "that one first (wheels in a kept wheelhouse/ are reused).")
    download_wheels(Path(requirements), out / "wheelhouse", pip_options)  # first: it may fail
    shutil.copytree(ROOT / "helpers", kit / "helpers",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in KIT_FILES:
        if (ROOT / name).exists():
            (kit / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, kit / name)
    shutil.copy2(requirements, kit / "requirements.txt")
    make_student_copies(list(notebooks), kit / "student")
    if with_solutions:
        (kit / "notebooks").mkdir()
        for path in notebooks:
            shutil.copy2(path, kit / "notebooks" / path.name)
    generate_dataset(kit / "data" / "generated", n_per_class=n_per_class, seed=seed)
    (out / "INSTALL.txt").write_text(f"""\
Happy/sad CNN course: offline install (no internet needed)

1. Copy this whole folder to your laptop and open a terminal in it.
2. Make a fresh environment with the same Python the wheels were built for
   ({" ".join(pip_options) or f"Python {sys.version_info.major}.{sys.version_info.minor}, "
     + sys.platform}):
       python -m venv .venv
       source .venv/bin/activate        (Windows: .venv\\Scripts\\activate)
3. Install, from the wheelhouse only:
       {" ".join(install_command())}
4. Check the laptop is ready:
       cd kit
       python -m helpers.course check
5. Start JupyterLab, open student/01_collect_data.ipynb and go through the notebooks in order:
       jupyter lab

The faces in kit/data/generated are the ones notebook 01 draws for SEED = {seed}
({n_per_class} per class); the notebooks are the student copies, with exercises to fill in.
""")
    return out
