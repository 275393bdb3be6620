"""The runner's progress: the notebook, its cell and, in training, the epoch and the time left;
one live line on a terminal, plain lines elsewhere."""

import io
import json
import re
import sys
import time

from conftest import run_in_terminal
from helpers.progress import NotebookProgress, State, minutes, read_state


def executed_copy(path, statuses, printed=""):
    """A notebook as papermill saves it mid-run: code cells with their status."""
    cells = [{"cell_type": "code", "metadata": {"papermill": {"status": status}},
              "outputs": [{"output_type": "stream", "text": printed}] if i == 0 else []}
             for i, status in enumerate(statuses)]
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown"}, *cells]}))
    return path


def test_the_state_is_read_from_papermills_copy_and_the_training_log(tmp_path):
    copy = executed_copy(tmp_path / "05.ipynb", ["completed", "completed", "running", None],
                         "44 weight updates per epoch: 28 epochs, 1232 updates")
    log = tmp_path / "training_log.csv"
    log.write_text("epoch,loss\n0,0.7\n1,0.6\n2,0.5\n")
    assert read_state(copy, log, since=0) == State(cell=3, cells=4, epoch=3, epochs=28)
    assert read_state(copy, log, since=time.time() + 60).epoch is None  # an older run's log
    (tmp_path / "half.ipynb").write_text('{"cells": [')  # papermill mid-write: wait
    assert read_state(tmp_path / "half.ipynb", None, since=0) is None


def test_an_epoch_line_has_the_pace_and_the_time_left(tmp_path):
    stream = io.StringIO()
    progress = NotebookProgress("[5/10] 05_train", tmp_path / "x.ipynb", None, stream)
    start = progress.started
    progress.show(State(24, 27, epoch=0, epochs=28), start + 60)
    assert stream.getvalue() == ""  # no epoch yet, a short cell: nothing to say
    progress.show(State(24, 27, epoch=2, epochs=28), start + 80)
    progress.show(State(24, 27, epoch=2, epochs=28), start + 81)  # nothing new: no new line
    lines = stream.getvalue().splitlines()
    assert lines == ["[5/10] 05_train: cell 24/27 · 1 min 20 s · epoch 2/28 · 10.0 s/epoch · "
                     "at most 4 min 20 s left"]
    assert minutes(45) == "45 s" and minutes(200) == "3 min 20 s"


def test_a_long_cell_gets_a_plain_line_at_ten_seconds_then_each_minute(tmp_path):
    stream = io.StringIO()
    progress = NotebookProgress("[2/10] 02_clean_data", tmp_path / "x.ipynb", None, stream)
    for seconds in (5, 12, 30, 61, 70):
        progress.show(State(8, 14, cell_seconds=seconds), progress.started + seconds)
    assert [line.split(" · ")[0] for line in stream.getvalue().splitlines()] == [
        "[2/10] 02_clean_data: cell 8/14"] * 2


def test_a_terminal_gets_one_live_line(tmp_path):
    """SLOW (runs notebook 01).

    A real run in a pseudo-terminal: the line is redrawn in place (carriage returns), then
    the notebook's done line; nothing from the kernel."""
    status, text = run_in_terminal([
        sys.executable, "-m", "helpers.course", "run", "--quick", "--only", "01", "-p",
        "WORK_DIR", str(tmp_path / "work"), "-p", "DATA_DIR", str(tmp_path / "data")])
    assert status == 0, text
    assert re.search(r"\r\[1/1\] 01_collect_data: cell \d+/\d+ · \d+ s", text), text
    assert re.search(r"\r\[1/1\] 01_collect_data\s+done in \d+\.\d s\r?$", text, re.M), text
    assert "I0000" not in text and "Traceback" not in text
