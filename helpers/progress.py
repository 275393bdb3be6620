"""What a headless run is doing: the notebook, its cell, and in training the epoch and the time
left.

papermill saves a notebook's executed copy as each cell starts and ends, with the cell's status
in its metadata; notebook 05's CSVLogger adds a row to `training_log.csv` after every epoch, and
its output says how many epochs are planned. `NotebookProgress` reads those two files about once
a second, in a thread of the runner. Nothing is read from the kernel itself, so no TensorFlow or
kernel noise reaches the console. On a terminal it keeps one live line (tqdm's status printer);
elsewhere (CI, a log file) it prints a plain line for each new epoch and for a cell that runs
long.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

#: notebook 05's line saying how many epochs it plans (early stopping may end sooner).
EPOCHS_PLANNED = re.compile(r"weight updates per epoch: (\d+) epochs")
LONG_CELL_S = 10  # a plain line for a cell running this long, then one a minute


@dataclass
class State:
    """Where a notebook is: its running code cell (1-based) of all and for how long; the
    epochs logged by this run (None: no training yet) and planned."""

    cell: int
    cells: int
    cell_seconds: float = 0.0
    epoch: int | None = None
    epochs: int | None = None


def read_state(executed: Path, training_log: Path | None, since: float) -> State | None:
    """The state saved in `executed` (None while it is missing or half-written) and, if
    `training_log` was written after `since`, the epochs in it."""
    try:
        cells = [c for c in json.loads(executed.read_text(encoding="utf-8"))["cells"]
                 if c.get("cell_type") == "code"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    marks = [c.get("metadata", {}).get("papermill", {}) for c in cells]
    status = [mark.get("status") for mark in marks]
    running = status.index("running") if "running" in status else None
    state = State(running + 1 if running is not None else status.count("completed"), len(cells))
    if running is not None and marks[running].get("start_time"):
        try:
            began = datetime.fromisoformat(marks[running]["start_time"]).timestamp()
            state.cell_seconds = max(time.time() - began, 0.0)
        except (TypeError, ValueError):
            pass
    printed = "".join(str(o.get("text", "")) for c in cells for o in c.get("outputs", []))
    if planned := EPOCHS_PLANNED.search(printed):
        state.epochs = int(planned[1])
    try:
        if training_log is not None and training_log.stat().st_mtime >= since:
            rows = training_log.read_text(encoding="utf-8").splitlines()
            state.epoch = max(len(rows) - 1, 0)  # a header, then one row per epoch
    except OSError:
        pass
    return state


def minutes(seconds: float) -> str:
    """`seconds` as a person says it: 45 s, 3 min 20 s."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


class NotebookProgress:
    """`with NotebookProgress(label, executed, training_log, stream):` shows the progress of the
    notebook that papermill is running into `executed` while the block runs."""

    def __init__(self, label: str, executed: Path, training_log: Path | None, stream: TextIO,
                 interval: float = 1.0) -> None:
        self.label, self.executed, self.training_log = label, executed, training_log
        self.stream, self.interval = stream, interval
        self.started = time.time()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._status = tqdm.status_printer(stream) if stream.isatty() else None
        self._epoch_seen: dict[int, float] = {}  # epoch -> when it was first seen logged
        self._said: tuple = ()

    def __enter__(self) -> NotebookProgress:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        if self._status is not None:
            self._status("")  # blank the live line, back to its start for the runner's line
            self.stream.write("\r")
            self.stream.flush()

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            state = read_state(self.executed, self.training_log, self.started)
            if state is not None:
                self.show(state, time.time())

    def describe(self, state: State, now: float) -> str:
        """One line: the cell, and in training the epoch, seconds per epoch and time left."""
        parts = [f"cell {state.cell}/{state.cells}", minutes(now - self.started)]
        if state.epoch is not None and state.epochs:
            self._epoch_seen.setdefault(state.epoch, now)
            parts.append(f"epoch {state.epoch}/{state.epochs}")
            (first, t0), (last, t1) = min(self._epoch_seen.items()), max(self._epoch_seen.items())
            if last > first:
                per_epoch = (t1 - t0) / (last - first)
                left = max(state.epochs - state.epoch, 0) * per_epoch
                parts += [f"{per_epoch:.1f} s/epoch", f"at most {minutes(left)} left"]
        return f"{self.label}: " + " · ".join(parts)

    def show(self, state: State, now: float) -> None:
        """Update the live line, or print a plain line for a new epoch or a long cell."""
        line = self.describe(state, now)
        if self._status is not None:
            self._status(line)
            return
        long_cell = int(state.cell_seconds // 60) if state.cell_seconds >= LONG_CELL_S else -1
        key = (state.cell, state.epoch) if state.epoch else (state.cell, long_cell)
        if key != self._said and (state.epoch or long_cell >= 0):
            print(line, file=self.stream, flush=True)
        self._said = key
