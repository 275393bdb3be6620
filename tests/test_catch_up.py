"""`python -m helpers.course catch-up NN`: a stuck learner gets every file the notebooks before
NN would have written, from the solutions, and notebook NN then runs."""

import json

from helpers import course, runner
from helpers.student import make_student_copies
from helpers.workspace import Work


def test_catch_up_to_05_on_a_fresh_folder_then_05_runs(tmp_path, capsys):
    work, data = tmp_path / "work", tmp_path / "data"
    student = make_student_copies(course.notebooks(), tmp_path / "student")
    copies = {path: path.read_bytes() for path in student}
    work.mkdir()
    mine = '{"exercise": 2, "prediction": "worse", "settings": {}}\n'
    Work(work).path("predictions").write_text(mine)  # the learner's own prediction from 03

    assert course.main(["catch-up", "05", "--quick", "-p", "WORK_DIR", str(work),
                        "-p", "DATA_DIR", str(data)]) == 0
    out = capsys.readouterr().out
    assert "solutions of 01-04" in out and "Open your notebook 05" in out
    for made in ("collect", "cleaning_report", "face_step", "split", "untrained_model"):
        assert Work(work).path(made).is_file(), made
    assert sorted(p.name for p in (work / "executed" / "catch-up").glob("*.ipynb")) == [
        p.name for p in course.notebooks()[:4]]
    assert Work(work).path("predictions").read_text() == mine  # the solutions' guesses are not kept
    assert all(path.read_bytes() == text for path, text in copies.items())

    # notebook 05 now finds everything it needs (a short training keeps the test fast)
    assert course.main(["run", "--quick", "--only", "05", "-p", "WORK_DIR", str(work),
                        "-p", "DATA_DIR", str(data), "-p", "EPOCHS", "1", "-p", "MIN_STEPS", "1",
                        "-p", "DIAGNOSE_EPOCHS", "1", "--out", str(tmp_path / "out")]) == 0
    assert json.loads((Work(work).path("trained_model") / "card.json").read_text())["classes"]


def test_catch_up_says_what_to_do_when_it_cannot(tmp_path, monkeypatch, capsys):
    assert course.main(["catch-up", "01"]) == 2
    assert "Notebook 01 needs nothing before it" in capsys.readouterr().err
    assert course.main(["catch-up", "99"]) == 2  # after the last notebook
    assert course.main(["catch-up", "05", "-p", "SEED", "-1"]) == 2
    assert "SEED must be" in capsys.readouterr().err
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)  # a classroom kit: no solutions
    assert course.main(["catch-up", "05"]) == 2
    assert "--with-solutions" in capsys.readouterr().err
