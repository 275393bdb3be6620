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

Executed copies of the notebooks are saved (with their outputs) in `--out`; at the end a
table shows how long each notebook took, followed by the final test metrics. The console shows
only that and one line per notebook: what the kernels print on the side (TensorFlow's start-up
lines, warnings) goes to `course.log` next to the executed copies (`--verbose` shows it live).
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
import ast
import contextlib
import json
import os
import signal
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from helpers.evaluate import describe_uncertainty
from helpers.progress import NotebookProgress
from helpers.workspace import Work, check_parameters

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
DEFAULT_PARAMETERS = {"DATA_DIR": ROOT / "data" / "generated", "WORK_DIR": ROOT / "work"}
PATH_PARAMETERS = ("DATA_DIR", "WORK_DIR", "SOURCE_DIR", "REAL_FACE_MODEL")


def folder_problem(folder: Path, option: str = "--out") -> str | None:
    """Why `folder` cannot be made or used as an output folder (it is the course's own
    notebooks/, or it or a folder above it is a file), in words that name `option`; None if it
    can."""
    if folder.resolve() == NOTEBOOK_DIR.resolve():
        return (f"{option} {folder}: that is the course's own notebooks/ folder (the single "
                "source of the notebooks); nothing is written over it. Give another folder, "
                "e.g. work/executed or student/.")
    for path in (folder, *folder.parents):
        if path.exists():
            if path.is_dir():
                return None
            return (f"{option} {folder}: {path} is a file, not a folder. Give a folder (new or "
                    "existing) instead, or move that file away.")
    return None


def notebooks() -> list[Path]:
    """The course notebooks in order (01_... to 08_..., then the optional extensions)."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def parse_value(text: str):
    """Read a command-line parameter value: Python literals (7, 0.5, True, None) or a string."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def resolve_parameters(pairs: Sequence[Sequence[str]], quick: bool) -> dict:
    """Parameters for every notebook: defaults, then `-p NAME VALUE` pairs, paths made absolute."""
    params: dict = dict(DEFAULT_PARAMETERS)
    for name, value in pairs:
        params[name] = parse_value(value)
    if params.get("SOURCE_DIR") and not any(name == "DATA_DIR" for name, _ in pairs):
        params["DATA_DIR"] = ROOT / "data" / "imported"  # keep own photos apart from generated
    if quick:
        params["QUICK"] = True
    for name in PATH_PARAMETERS:
        if params.get(name) is not None:
            params[name] = str(Path(params[name]).expanduser().resolve())
    return params


class NotebookFailed(RuntimeError):
    """A notebook raised an error; says which notebook, which cell and where the copy is."""

    def __init__(self, notebook: str, executed_copy: Path, error: Exception):
        cell = getattr(error, "exec_count", "?")
        ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", "")
        super().__init__(
            f"{notebook} failed in cell [{cell}] with {ename}: {evalue}\n"
            f"The executed copy with the full traceback is {executed_copy}"
        )


@contextmanager
def stderr_to(log_path: Path | None) -> Iterator[None]:
    """Send this process's standard error, and so its kernels' (they inherit it), to a fresh
    `log_path`; with None, leave it on the console."""
    if log_path is None:
        yield
        return
    sys.stderr.flush()
    console = os.dup(2)
    with open(log_path, "wb") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(console, 2)
            os.close(console)


def run_course(params: dict, out_dir: Path, only: Sequence[str] = (),
               verbose: bool = False) -> list[tuple[str, float]]:
    """Execute the notebooks in order, one console line each; return (notebook, seconds) for
    each one run."""
    chosen = [nb for nb in notebooks()
              if not only or any(nb.stem.startswith(prefix) for prefix in only)]
    if not chosen:
        which = f" starting with {' or '.join(only)}" if only else ""
        raise FileNotFoundError(
            f"No notebooks{which} in {NOTEBOOK_DIR}. The runner executes the solution notebooks "
            "in notebooks/; a classroom kit holds only the student copies (student/): open "
            "those in JupyterLab instead.")
    for nb in chosen:
        check_parameters_cell(nb)
    out_dir.mkdir(parents=True, exist_ok=True)
    with learners_predictions_kept(Path(params["WORK_DIR"])):
        return _execute(chosen, params, out_dir, verbose)


def check_parameters_cell(notebook: Path) -> None:
    """A ValueError unless `notebook` is a notebook with a cell tagged `parameters`: without it
    papermill would run it on its own defaults (../work), ignoring every -p given."""
    import nbformat

    restore = f"restore it with git checkout -- notebooks/{notebook.name}"
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except Exception as err:  # nbformat raises several kinds for a broken file
        raise ValueError(f"{notebook.name} cannot be read as a notebook ({err}): {restore}, "
                         "then run again. Nothing was run.") from None
    if not any("parameters" in cell.get("metadata", {}).get("tags", []) for cell in cells):
        raise ValueError(f"{notebook.name} has no cell tagged 'parameters', so WORK_DIR, "
                         f"DATA_DIR and every -p value would be ignored: {restore}, or tag its "
                         "parameters cell again (Property Inspector). Nothing was run.")


@contextmanager
def learners_predictions_kept(work_dir: Path) -> Iterator[None]:
    """Put `WORK_DIR/predictions.json` back as it was: the solutions' predictions are not the
    learner's."""
    path = Work(work_dir).path("predictions")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path} is not a file (a folder?): the course keeps your predictions "
                         "in that file. Move it away, then run again. Nothing was run.")
    before = path.read_bytes() if path.exists() else None
    try:
        yield
    finally:
        if before is not None:
            path.write_bytes(before)
        else:
            path.unlink(missing_ok=True)


def _execute(chosen: list[Path], params: dict, out_dir: Path,
             verbose: bool) -> list[tuple[str, float]]:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    timings = []
    training_log = Work(params["WORK_DIR"]).path("training_log")
    for k, nb in enumerate(chosen, 1):
        label = f"[{k}/{len(chosen)}] {nb.stem}"
        if verbose:
            print(label, flush=True)
        start = time.perf_counter()
        progress = (contextlib.nullcontext() if verbose else
                    NotebookProgress(label, out_dir / nb.name, training_log, sys.stdout))
        try:
            with progress:
                pm.execute_notebook(nb, out_dir / nb.name, parameters=params,
                                    cwd=str(NOTEBOOK_DIR), kernel_name="python3",
                                    progress_bar=verbose)
        except PapermillExecutionError as err:
            print(f"{label:<33} failed", flush=True)
            raise NotebookFailed(nb.name, out_dir / nb.name, err) from err
        timings.append((nb.stem, time.perf_counter() - start))
        print(f"{label:<33} done in {timings[-1][1]:.1f} s", flush=True)
    return timings


def print_summary(timings: list[tuple[str, float]], work_dir: Path) -> None:
    """The per-notebook time table and the final metrics."""
    print("\nnotebook                    seconds")
    for name, seconds in timings:
        print(f"{name:<27} {seconds:7.1f}")
    print(f"{'total':<27} {sum(s for _, s in timings):7.1f}")
    metrics_path = Work(work_dir).path("metrics")
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        print(f"\nTest metrics ({metrics['n_test']} images, {metrics_path}):")
        if "served" in metrics:
            served = metrics["served"]
            print(f"  served model: {served['model']}, threshold {served['threshold']:.2f} "
                  f"(both chosen on the {served['chosen_on']} split)")
        for key in ("accuracy", "precision", "recall", "f1", "f1_macro", "roc_auc"):
            low, high = metrics.get("intervals", {}).get(key, (float("nan"),) * 2)
            print(f"  {key:<10} {metrics[key]:.3f}  (95% interval {low:.3f}–{high:.3f})")
        if "intervals" in metrics:
            print(textwrap.fill(describe_uncertainty(metrics), width=100))


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.course", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute every notebook in order")
    run.add_argument("--quick", action="store_true",
                     help="half the drawn faces, a short diagnosis run (CI mode)")
    run.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                     metavar=("NAME", "VALUE"), help="set a notebook parameter (repeatable)")
    run.add_argument("--out", type=Path, help="folder for executed notebooks "
                     "(default: WORK_DIR/executed)")
    run.add_argument("--only", nargs="*", default=[], metavar="NN",
                     help="run only notebooks whose name starts with these prefixes, e.g. 06 07")
    run.add_argument("--verbose", action="store_true", help="show what the kernels print "
                     "(TensorFlow's log lines, warnings) here instead of only in course.log")
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
    catch_up = sub.add_parser("catch-up", help="stuck? run the solution notebooks before NN "
                              "into your WORK_DIR, so NN can run; your notebooks are not touched")
    catch_up.add_argument("notebook", metavar="NN", help="the notebook you go on with, e.g. 05")
    catch_up.add_argument("--quick", action="store_true", help="as the course's QUICK mode")
    catch_up.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                          metavar=("NAME", "VALUE"), help="the same parameters you use, e.g. "
                          "-p SEED 7 (repeatable)")
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
    colab = sub.add_parser("colab", help="record the kit's public GitHub repository in "
                           "pyproject.toml and write the notebooks' Open in Colab badges, their "
                           "set-up cells and the README's links from it")
    colab.add_argument("--repo", help="https://github.com/OWNER/REPO (default: pyproject.toml's "
                       "[project.urls] Repository)")
    colab.add_argument("--ref", help="the git tag or branch the links and the clone use "
                       "(default: v + pyproject's version; push that tag)")
    args = parser.parse_args(argv)
    if getattr(args, "out", None) is not None and (problem := folder_problem(args.out)):
        print(problem, file=sys.stderr)
        return 2
    if args.command == "colab":
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
    if args.command == "catch-up":
        return catch_up_to(args.notebook, args.parameter, args.quick)
    if args.command == "classroom":
        return classroom_command(args)
    if args.command == "student":
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
    if args.command == "check":
        from helpers.preflight import report, run_checks

        with stderr_to(Path(os.devnull)):  # TensorFlow's start-up lines are no news here
            checks = run_checks(args.work_dir, probe=not args.no_probe)
        print(report(checks))
        return 0 if all(c.ok for c in checks) else 1

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


def _interrupted(signum: int, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def console_main() -> int:
    """`main` for the command line. SIGTERM and SIGHUP (a closed terminal) end a run as Ctrl-C
    does, so the learner's files are put back; each ends in one line, not a traceback."""
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _interrupted)
    try:
        return main()
    except KeyboardInterrupt as stop:
        what = stop.args[0] if stop.args else "Ctrl-C"
        print(f"\nStopped ({what}). Your own files in WORK_DIR are as they were; the notebook "
              "that was running did not finish: run the same command again.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(console_main())
