"""The course's notebooks executed headless with papermill, in order: the engine behind
`python -m helpers.course run`, `catch-up` and `classroom --faces`.

`run_course` checks each notebook's parameters cell, runs it into an executed copy while
`helpers.progress` shows what it is doing, keeps what the kernels print on the side out of the
console (`stderr_to`), and puts the learner's `predictions.json` back whatever happens. A failed
notebook raises `NotebookFailed`, which names the notebook, the cell and the copy.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from helpers.evaluate import describe_uncertainty
from helpers.progress import NotebookProgress
from helpers.project import ROOT
from helpers.workspace import Work

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


@contextlib.contextmanager
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


@contextlib.contextmanager
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
