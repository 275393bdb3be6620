"""Run the whole course headless: every notebook in order, executed with papermill.

    python -m helpers.course run            # the full course on the generated faces
    python -m helpers.course run --quick    # small data, few epochs (about 2 minutes)
    python -m helpers.course run -p SOURCE_DIR ~/my_faces -p SEED 7 --out runs/seed7
    python -m helpers.course check          # pre-flight check before a workshop
    python -m helpers.course student --out student/   # exercise copies for learners
    python -m helpers.course classroom --out classroom/   # offline USB folder for a workshop
    python -m helpers.course classroom --out classroom/ --faces ~/fer   # ... with a real-face model
    python -m helpers.course catch-up 05    # stuck? make what 01-04 make, from the solutions
    python -m helpers.course colab --repo https://github.com/OWNER/REPO   # Colab badges, set-up
    python -m helpers.course site           # the executed course as a website, in work/site

Executed copies of the notebooks are saved (with their outputs) in `--out`; at the end a
table shows how long each notebook took, followed by the final test metrics. The console shows
only that, what each notebook is doing while it runs (`helpers.progress`) and one line per
notebook: what the kernels print on the side (TensorFlow's start-up lines, warnings) goes to
`course.log` next to the executed copies (`--verbose` shows it live). The notebooks are executed
by `helpers.runner`; SIGTERM and SIGHUP end a run as Ctrl-C does (`console_main`).
If a notebook fails, the run stops, names the notebook, the cell and the error, and exits with
status 1. Parameters are checked before anything runs (`helpers.workspace.check_parameters`): a
bad one exits with status 2, as does an `--out` that is a file (every command).

`catch-up NN` is for a learner who is stuck: it runs the solution notebooks before NN into
their WORK_DIR, so NN finds every file it needs; their own notebooks are not touched. Neither
command keeps the solutions' answers to the "predict first" exercises: `predictions.json` in
WORK_DIR is put back as it was.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers.runner import (
    DEFAULT_PARAMETERS,
    NOTEBOOK_DIR,
    ROOT,
    NotebookFailed,
    folder_problem,
    notebooks,
    print_summary,
    resolve_parameters,
    run_course,
    stderr_to,
)
from helpers.workspace import check_parameters


def catch_up_to(target: str, pairs: Sequence[Sequence[str]], quick: bool) -> int:
    """Run the solution notebooks before `target` ("05") into WORK_DIR; see the module doc."""
    numbers = [nb.name[:2] for nb in notebooks()]
    if not numbers:
        print(f"No solution notebooks in {NOTEBOOK_DIR}: catch-up runs the solutions, which "
              "this kit does not carry. Ask your instructor for a copy of the kit with them "
              "(`python -m helpers.course classroom --with-solutions`), or copy the work/ "
              "folder of a neighbour who is further on.", file=sys.stderr)
        return 2
    target = target.zfill(2)
    if target not in numbers[1:]:
        print(f"catch-up takes the notebook you go on with, one of {', '.join(numbers[1:])}; got "
              f"{target!r}. (Notebook 01 needs nothing before it.)", file=sys.stderr)
        return 2
    params = resolve_parameters(pairs, quick)
    try:
        check_parameters(**params)
    except ValueError as err:
        print(f"Bad parameter(s), nothing was run:\n{err}", file=sys.stderr)
        return 2
    before = [n for n in numbers if n < target]
    work_dir = Path(params["WORK_DIR"])
    out_dir = work_dir / "executed" / "catch-up"
    if problem := folder_problem(out_dir, "WORK_DIR"):
        print(problem, file=sys.stderr)
        return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"Catching up for notebook {target}: running the solutions of {before[0]}-{before[-1]} "
          f"into {work_dir}; your own notebooks are not touched.")
    try:
        with stderr_to(out_dir / "course.log"):
            timings = run_course(params, out_dir, before)
    except NotebookFailed as err:
        print(f"\nFAILED: {err}\nWhat the kernels printed: {out_dir / 'course.log'}",
              file=sys.stderr)
        return 1
    except ValueError as err:
        print(f"\n{err}", file=sys.stderr)
        return 2
    print(f"Done in {sum(s for _, s in timings):.0f} s. Open your notebook {target}, then Run All "
          "(Kernel → Restart Kernel and Run All Cells).")
    return 0


def classroom_command(args: argparse.Namespace) -> int:
    """`classroom`: the folder, with a real-face model if --faces; --model-only adds just that."""
    from helpers.classroom import (
        REAL_FACE_MODELS,
        add_real_face_model,
        build_classroom,
        describe_real_face_model,
    )

    if (args.model_only or args.parameter) and args.faces is None:
        print("--model-only and -p go with --faces DIR (the real-face pictures to train on).",
              file=sys.stderr)
        return 2
    try:
        if args.model_only:
            add_real_face_model(args.out, args.faces, seed=args.seed, parameters=args.parameter)
        else:
            build_classroom(args.out, seed=args.seed, pip_options=args.pip_option,
                            notebooks=notebooks(), with_solutions=args.with_solutions,
                            faces_dir=args.faces, face_parameters=args.parameter)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    except (FileExistsError, RuntimeError) as err:
        print(err, file=sys.stderr)
        return 1
    out = args.out.resolve()
    if args.faces is not None:
        print("Real-face model: " + describe_real_face_model(
            out / "kit" / REAL_FACE_MODELS["served_model"]))
    if not args.model_only:
        wheels = len(list((out / "wheelhouse").glob("*")))
        print(f"Classroom folder ready: {out} ({wheels} packages in wheelhouse/)")
    print(f"Learners follow {out / 'INSTALL.txt'}")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The command line: `run` and `catch-up` execute notebooks; the others make files."""
    parser = argparse.ArgumentParser(prog="python -m helpers.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook in order")
    run.add_argument("--quick", action="store_true",
                     help="half the drawn faces: a check that everything runs (CI mode)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="set a notebook parameter (repeatable)")
    run.add_argument("--out", type=Path, help="folder for executed notebooks "
                     "(default: WORK_DIR/executed)")
    run.add_argument("--only", nargs="*", default=[], metavar="NN",
                     help="run only notebooks whose name starts with these prefixes, e.g. 06 07")
    run.add_argument("--verbose", action="store_true", help="show what the kernels print "
                     "(TensorFlow's log lines, warnings) here instead of only in course.log")
    catch_up = sub.add_parser("catch-up", help="stuck? run the solution notebooks before NN "
                              "into your WORK_DIR, so NN can run; your notebooks are not touched")
    catch_up.add_argument("notebook", metavar="NN", help="the notebook you go on with, e.g. 05")
    catch_up.add_argument("--quick", action="store_true", help="as the course's QUICK mode")
    catch_up.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                          metavar=("NAME", "VALUE"), help="the same parameters you use, e.g. "
                          "-p SEED 7 (repeatable)")
    _add_kit_commands(sub)
    return parser


def _add_kit_commands(sub) -> None:
    """`check`, `student`, `classroom` and `colab`: commands that make or check files."""
    check = sub.add_parser("check", help="pre-flight check before a workshop: versions, "
                           "kernel, disk, GPU, and how long the course will take here")
    check.add_argument("--work-dir", type=Path, default=DEFAULT_PARAMETERS["WORK_DIR"],
                       help="where the course will write (default: work/)")
    check.add_argument("--no-probe", action="store_true", help="skip the 2-second CPU probe")
    student = sub.add_parser("student", help="write student copies of the notebooks: "
                             "exercises blanked, outputs cleared")
    student.add_argument("--out", type=Path, default=ROOT / "student",
                         help="folder for the copies, next to helpers/ (default: student/)")
    student.add_argument("--force", action="store_true",
                         help="replace copies a learner has changed (their answers are lost)")
    classroom = sub.add_parser("classroom", help="build an offline folder for a workshop: "
                               "wheelhouse, kit, student notebooks, install line")
    classroom.add_argument("--out", type=Path, default=ROOT / "classroom",
                           help="folder to create (default: classroom/)")
    classroom.add_argument("--seed", type=int, default=42, help="the workshop's SEED")
    classroom.add_argument("--pip-option", action="append", default=[], metavar="OPTION",
                           help="passed to pip download, e.g. --pip-option=--platform=win_amd64")
    classroom.add_argument("--with-solutions", action="store_true",
                           help="also put the solution notebooks in kit/notebooks/, so "
                           "catch-up works in the room (learners can open them)")
    classroom.add_argument("--faces", type=Path, metavar="DIR", help="a folder with happy/ and "
                           "sad/ pictures of real faces: notebooks 01-07 train on it and the "
                           "kit gets the model in kit/models/real-faces/ (notebook 07 uses it)")
    classroom.add_argument("--model-only", action="store_true", help="with --faces: put only "
                           "the real-face model into the classroom folder --out built before")
    classroom.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                           metavar=("NAME", "VALUE"), help="with --faces: a notebook parameter "
                           "for its training run, e.g. -p EPOCHS 10 (repeatable)")
    site = sub.add_parser("site", help="build a static website of the executed course (the "
                          "notebooks a run left, with their outputs; README, guides, docs)")
    site.add_argument("--executed", type=Path, default=DEFAULT_PARAMETERS["WORK_DIR"] / "executed",
                      help="the executed notebooks (default: work/executed, where run puts them)")
    site.add_argument("--out", type=Path, default=DEFAULT_PARAMETERS["WORK_DIR"] / "site",
                      help="folder for the site (default: work/site)")
    colab = sub.add_parser("colab", help="record the kit's public GitHub repository in "
                           "pyproject.toml and write the notebooks' Open in Colab badges, their "
                           "set-up cells and the README's links from it")
    colab.add_argument("--repo", help="https://github.com/OWNER/REPO (default: pyproject.toml's "
                       "[project.urls] Repository)")
    colab.add_argument("--ref", help="the git tag or branch the links and the clone use "
                       "(default: v + pyproject's version; push that tag)")


def _site_command(args: argparse.Namespace) -> int:
    from helpers.site import build_site

    try:
        front = build_site(args.executed.resolve(), args.out.resolve())
    except (FileNotFoundError, FileExistsError, RuntimeError, ValueError) as err:
        print(err, file=sys.stderr)
        return 2
    print(f"Site built: {front} (open it in a browser; docs/running.md says how to publish it)")
    return 0


def _colab_command(args: argparse.Namespace) -> int:
    from helpers.colab import kit_source, write_colab

    try:
        written = write_colab(ROOT, args.repo, args.ref)
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    repo, tag = kit_source(ROOT)
    print(f"{len(written)} files written for {repo or 'no repository'} at {args.ref or tag}")
    if repo is None:
        print("pyproject.toml names no repository ([project.urls] Repository), so the "
              "notebooks carry no Colab badge; give one with --repo.")
    return 0


def _student_command(args: argparse.Namespace) -> int:
    from helpers.student import make_student_copies

    try:
        written = make_student_copies(notebooks(), args.out, force=args.force)
    except FileExistsError as err:
        print(err, file=sys.stderr)
        return 1
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    print(f"{len(written)} student notebooks in {args.out.resolve()}")
    if not (args.out.resolve().parent / "helpers").is_dir():
        print("Note: the notebooks look for helpers/, data/ and work/ one folder up; "
              "copy them next to helpers/ before opening them.")
    return 0


def _check_command(args: argparse.Namespace) -> int:
    from helpers.preflight import report, run_checks

    with stderr_to(Path(os.devnull)):  # TensorFlow's start-up lines are no news here
        checks = run_checks(args.work_dir, probe=not args.no_probe)
    print(report(checks))
    return 0 if all(c.ok for c in checks) else 1


def _run_command(args: argparse.Namespace) -> int:
    params = resolve_parameters(args.parameter, args.quick)
    try:
        check_parameters(**params)
    except ValueError as err:
        print(f"Bad parameter(s), nothing was run:\n{err}", file=sys.stderr)
        return 2
    work_dir = Path(params["WORK_DIR"])
    out_dir = (args.out or work_dir / "executed").resolve()
    if problem := folder_problem(out_dir, "--out" if args.out else "WORK_DIR"):
        print(problem, file=sys.stderr)
        return 2
    log_path = out_dir / "course.log"
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"Executed notebooks go to {out_dir}")
    if args.verbose:
        print("What the kernels print on the side is shown here (--verbose)")
    else:
        print(f"What the kernels print on the side goes to {log_path} (--verbose shows it here)")
    print("Parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    try:
        with stderr_to(None if args.verbose else log_path):
            timings = run_course(params, out_dir, args.only, args.verbose)
    except NotebookFailed as err:
        log = "" if args.verbose else f"\nWhat the kernels printed: {log_path}"
        print(f"\nFAILED: {err}{log}", file=sys.stderr)
        return 1
    except FileNotFoundError as err:
        print(f"\nNothing was run: {err}", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"\n{err}", file=sys.stderr)
        return 2
    print_summary(timings, work_dir)
    return 0



def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "out", None) is not None and (problem := folder_problem(args.out)):
        print(problem, file=sys.stderr)
        return 2
    commands = {"run": _run_command, "check": _check_command, "student": _student_command,
                "classroom": classroom_command, "colab": _colab_command, "site": _site_command,
                "catch-up": lambda a: catch_up_to(a.notebook, a.parameter, a.quick)}
    return commands[args.command](args)


def _interrupted(signum: int, frame) -> None:
    name = signal.Signals(signum).name
    raise KeyboardInterrupt("Ctrl-C" if name == "SIGINT" else name)


def _quiet_exit() -> None:
    """After a stop, papermill's kernel is shut down at exit (nbclient's atexit hook), which
    signals the kernel and resumes its interrupted tasks: ignore further stops so that exit
    ends in 130, not killed by a late SIGINT, and keep asyncio from logging those tasks'
    errors (a stopped kernel's `DeadKernelError`) as tracebacks."""
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def console_main() -> int:
    """`main` for the command line. SIGTERM and SIGHUP (a closed terminal) end a run as Ctrl-C
    does, so the learner's files are put back; each ends in one line, not a traceback. SIGINT
    gets the same handler: with Python's own, asyncio (under papermill) may turn Ctrl-C into a
    cancelled task that the run survives."""
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupted)
    try:
        return main()
    except KeyboardInterrupt as stop:
        _quiet_exit()
        what = stop.args[0] if stop.args else "Ctrl-C"
        print(f"\nStopped ({what}). Your own files in WORK_DIR are as they were; the notebook "
              "that was running did not finish: run the same command again.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(console_main())
