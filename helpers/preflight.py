"""The pre-flight check a learner runs before a workshop: `python -m helpers.course check`.

One screen, in the Carpentries style: Python and every package against `requirements.txt`, the
`python3` Jupyter kernel resolving to this environment, write access and free disk where the
course writes, whether TensorFlow sees a GPU, and a short CPU probe that estimates how long the
course takes on this machine. Each line is OK or a problem with what to do; the exit status is
1 if anything must be fixed.
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers.project import ROOT, pyproject

#: Free space the course needs in WORK_DIR (generated faces, clean copies, models, logs).
MIN_FREE_GB = 2.0
#: The two timing columns of INSTRUCTOR.md ("Where the time goes"): the probe's seconds, the
#: default course's (01-08), notebook 05's, and notebook 05's without the diagnosis model, on a
#: 2-core AVX2 machine (`python -m helpers.course run`, and `--only 05 -p DIAGNOSE_EPOCHS 0`)
#: and a 2-core AVX-512 one (`python benchmarks/workshop_timing.py --then-05 DIAGNOSE_EPOCHS=0`).
#: A laptop is placed by its probe: its times scale from the column whose probe is nearest.
REFERENCE_RUNS = {
    "AVX-512": {"probe_s": 5.39, "course_s": 261, "train_s": 164, "train_no_diagnosis_s": 113},
    "AVX2": {"probe_s": 12.0, "course_s": 366, "train_s": 241, "train_no_diagnosis_s": 212},
}
#: Minutes of the 90-minute plan's break, during which notebook 05 trains.
BREAK_MIN = 10


@dataclass
class Check:
    """One line of the report: what was checked, whether it is fine, and the detail."""

    name: str
    ok: bool
    detail: str


def supported_pythons(kit: Path = ROOT) -> SpecifierSet:
    """The Python versions the kit installs on: `requires-python` in pyproject.toml, the versions
    every requirement has wheels for (docs/platforms.md, `tools/resolve_platforms.py`)."""
    return SpecifierSet(pyproject(kit).get("requires-python", ""))


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements of a requirements file (comments and blank lines left out)."""
    lines = (line.split("#")[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Requirement(line) for line in lines if line]


def check_python() -> Check:
    version = platform.python_version()
    supported = supported_pythons()
    ok = supported.contains(version)
    return Check("Python", ok, version if ok else
                 f"{version}: the kit needs Python {supported} (the versions all its packages "
                 "have wheels for); install one of those and make the environment again")


def check_packages(requirements: Path = ROOT / "requirements.txt") -> list[Check]:
    """Every package of `requirements` installed at a version its pin allows."""
    checks = []
    for requirement in read_requirements(requirements):
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            checks.append(Check(requirement.name, False,
                                f"not installed: pip install -r {requirements.name}"))
            continue
        ok = requirement.specifier.contains(version, prereleases=True)
        checks.append(Check(requirement.name, ok, version if ok else
                            f"{version} installed, {requirement.specifier} wanted: "
                            f"pip install -r {requirements.name}"))
    return checks


def check_kernel() -> Check:
    """The `python3` kernel the notebooks ask for runs this environment's Python."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec("python3")
    except NoSuchKernel:
        return Check("Jupyter kernel", False, "no 'python3' kernel: pip install ipykernel")
    program = spec.argv[0]
    # jupyter_client starts a bare "python" with the Python it runs in
    bare = {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}
    runs = sys.executable if program in bare else program
    ok = os.path.abspath(runs) == os.path.abspath(sys.executable)
    return Check("Jupyter kernel", ok, f"python3 runs {program}" if ok else
                 f"python3 runs {program}, not {sys.executable}: activate this environment "
                 "and run: python -m ipykernel install --user --name python3")


def check_work_dir(work_dir: Path) -> Check:
    """WORK_DIR (or the nearest existing folder above it) is writable and has room."""
    folder = Path(work_dir).resolve()
    while not folder.exists():
        folder = folder.parent
    try:
        with tempfile.NamedTemporaryFile(dir=folder):
            pass
    except OSError as err:
        return Check("Work folder", False, f"cannot write in {folder}: {err}")
    free_gb = shutil.disk_usage(folder).free / 1e9
    ok = free_gb >= MIN_FREE_GB
    return Check("Work folder", ok, f"{folder}: {free_gb:.1f} GB free" + (
        "" if ok else f", the course needs about {MIN_FREE_GB:.0f} GB: free some space"))


def check_gpu() -> Check:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return Check("GPU", True, f"{len(gpus)} found (TensorFlow will use it)" if gpus
                 else "none: the course is made for CPUs and does not need one")


def cpu_probe(steps: int = 60) -> float:
    """Seconds for `steps` training steps of the kit's model on random batches of 64 faces."""
    import numpy as np

    from helpers.model import build_model, compile_model

    model = compile_model(build_model())
    images = np.random.default_rng(0).random((64, 48, 48, 3), dtype=np.float32) * 255
    labels = (images.mean(axis=(1, 2, 3)) > 127.5).astype("float32")
    model.train_on_batch(images, labels)  # builds the graph: not timed
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return time.perf_counter() - start


def check_speed(seconds: float | None = None) -> Check:
    """Place this machine between the guide's timing columns by the probe's seconds, and say
    whether notebook 05 fits the 90-minute plan's break."""
    seconds = cpu_probe() if seconds is None else seconds
    name, column = min(REFERENCE_RUNS.items(),
                       key=lambda item: abs(math.log(seconds / item[1]["probe_s"])))
    course, train, lean = (column[key] * seconds / column["probe_s"] / 60
                           for key in ("course_s", "train_s", "train_no_diagnosis_s"))
    detail = (f"probe {seconds:.1f} s, nearest the guide's {name} column: the default course "
              f"should take about {course:.0f} min here, notebook 05 about {train:.0f}")
    if train <= BREAK_MIN:
        return Check("Speed", True, detail)
    advice = (f"set DIAGNOSE_EPOCHS = 0 in notebook 05 (then about {lean:.0f} min)"
              if lean <= BREAK_MIN else "pair up with a faster laptop")
    return Check("Speed", False, f"{detail}, more than the {BREAK_MIN}-minute break: in class "
                 f"{advice} (INSTRUCTOR.md, slow laptops)")


def run_checks(work_dir: Path, probe: bool = True) -> list[Check]:
    checks = [check_python(), *check_packages(), check_kernel(), check_work_dir(work_dir),
              check_gpu()]
    return checks + ([check_speed()] if probe else [])


def report(checks: list[Check]) -> str:
    lines = [f"  {'OK ' if c.ok else 'FIX'}  {c.name:<24} {c.detail}" for c in checks]
    problems = sum(not c.ok for c in checks)
    verdict = ("Ready for the course." if not problems else
               f"{problems} thing(s) to fix before the course (marked FIX).")
    return "\n".join(["Pre-flight check", *lines, verdict])
