"""The pre-flight check: every problem is a FIX line that says what to do; exit status 1."""

import subprocess
import sys

from conftest import REPO
from helpers.preflight import (
    BREAK_MIN,
    REFERENCE_RUNS,
    check_packages,
    check_speed,
    check_work_dir,
    report,
)


def test_missing_and_wrong_packages_say_what_to_do(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# a comment\nnumpy>=1.0  # fine\nnumpy<1.0\n"
                            "no-such-package-xyz~=1.0\n")
    fine, wrong, missing = check_packages(requirements)
    assert fine.ok and not wrong.ok and not missing.ok
    assert "installed, <1.0 wanted: pip install -r requirements.txt" in wrong.detail
    assert missing.detail == "not installed: pip install -r requirements.txt"
    text = report([fine, wrong, missing])
    assert "FIX  no-such-package-xyz" in text and "2 thing(s) to fix" in text


def test_work_folder_and_speed_estimate(tmp_path):
    work = check_work_dir(tmp_path / "not" / "yet" / "work")  # created later by the course
    assert work.ok and str(tmp_path) in work.detail and "GB free" in work.detail
    fast, laptop = REFERENCE_RUNS["AVX-512"], REFERENCE_RUNS["AVX2"]
    reference = check_speed(fast["probe_s"])  # as fast as the guide's first column
    assert "nearest the guide's AVX-512 column" in reference.detail and reference.ok
    assert f"about {fast['course_s'] / 60:.0f} min here" in reference.detail
    held = check_speed(laptop["probe_s"] * 1.1)  # a little slower than the AVX2 column
    assert "nearest the guide's AVX2 column" in held.detail
    assert f"notebook 05 about {laptop['train_s'] * 1.1 / 60:.0f}" in held.detail
    minutes = {key: laptop[key] / laptop["probe_s"] / 60 for key in laptop if key != "probe_s"}
    lean = check_speed(BREAK_MIN / minutes["train_s"] * 1.05)  # 05 just over the break
    assert not lean.ok and "set DIAGNOSE_EPOCHS = 0" in lean.detail
    slow = check_speed(BREAK_MIN / minutes["train_no_diagnosis_s"] * 1.5)  # even without it
    assert not slow.ok and "pair up" in slow.detail and "break" in slow.detail


def test_the_runner_checks_this_environment(tmp_path):
    done = subprocess.run([sys.executable, "-m", "helpers.course", "check", "--no-probe",
                           "--work-dir", str(tmp_path)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stdout
    assert done.stdout.startswith("Pre-flight check") and "Ready for the course." in done.stdout
    assert "OK   tensorflow" in done.stdout and "OK   Jupyter kernel" in done.stdout


def test_a_python_without_tomllib_is_told_which_pythons_the_kit_needs(monkeypatch):
    """Python 3.10 has no tomllib: the check still reads the supported versions and says so."""
    from helpers import preflight, project

    monkeypatch.setattr(project, "tomllib", None)
    monkeypatch.setattr(preflight.platform, "python_version", lambda: "3.10.12")
    check = preflight.check_python()
    assert not check.ok and "the kit needs Python <3.14,>=3.11" in check.detail
    assert project.kit_version() == project.pyproject()["version"] != "unknown"
