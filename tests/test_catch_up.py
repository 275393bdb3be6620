"""`python -m helpers.course catch-up NN`: a stuck learner gets every file the notebooks before
NN would have written, from the solutions, and notebook NN then runs."""

import json

from conftest import as_options, copy_course, digests
from helpers import course as course_module
from helpers import runner
from helpers.student import make_student_copies
from helpers.workspace import Work


def test_catch_up_from_nothing_makes_the_course_runs_files_and_05_trains_the_same_twice(
        course, tmp_path, capsys):
    """The same SEED through another runner path in other folders: catching up to 05 from
    nothing, with the course run's parameters, draws, cleans, splits and builds exactly what
    the course run did (the same-seed check); notebook 05 then trains (briefly) twice, in two
    copies, to the same log and card."""
    work, data = tmp_path / "work", tmp_path / "data"
    student = make_student_copies(course_module.notebooks(), tmp_path / "student")
    copies = {path: path.read_bytes() for path in student}
    work.mkdir()
    mine = '{"exercise": 2, "prediction": "worse", "settings": {}}\n'
    Work(work).path("predictions").write_text(mine)  # the learner's own prediction from 03
    params = as_options(course["params"])

    assert course_module.main(["catch-up", "05", *params, "-p", "WORK_DIR", str(work),
                               "-p", "DATA_DIR", str(data)]) == 0
    out = capsys.readouterr().out
    assert "solutions of 01-04" in out and "Open your notebook 05" in out
    assert sorted(p.name for p in (work / "executed" / "catch-up").glob("*.ipynb")) == [
        p.name for p in course_module.notebooks()[:4]]
    assert Work(work).path("predictions").read_text() == mine  # the solutions' guesses are not kept
    assert all(path.read_bytes() == text for path, text in copies.items())
    for made in ("collect", "cleaning_report", "face_step", "split"):
        assert Work(work).path(made).read_bytes() == Work(course["work"]).path(made).read_bytes()
    assert digests(data) == digests(course["data"])
    assert _weights(work) == _weights(course["work"])

    # notebook 05 now finds everything it needs; twice from the same files, the same training
    again = copy_course({"work": work, "data": data, "params": {}}, tmp_path / "again")
    short = ["-p", "EPOCHS", "2", "-p", "MIN_STEPS", "0", "-p", "DIAGNOSE_EPOCHS", "0"]
    for run in (work, again["work"]):
        assert course_module.main(["run", "--quick", "--only", "05", *short, "-p", "WORK_DIR",
                                   str(run), "-p", "DATA_DIR", str(run.parent / "data"), "--out",
                                   str(run.parent / "out")]) == 0
    logs = [Work(run).path("training_log").read_text() for run in (work, again["work"])]
    assert logs[0] == logs[1] and len(logs[0].splitlines()) == 3, logs
    validation = [json.loads((Work(run).path("trained_model") / "card.json").read_text())[
        "validation"] for run in (work, again["work"])]
    assert validation[0] == validation[1] and validation[0]["val_accuracy"] >= 0


def _weights(work) -> list:
    import keras

    model = keras.models.load_model(Work(work).path("untrained_model"), compile=False)
    return [w.tolist() for w in model.get_weights()]


def test_catch_up_says_what_to_do_when_it_cannot(tmp_path, monkeypatch, capsys):
    assert course_module.main(["catch-up", "01"]) == 2
    assert "Notebook 01 needs nothing before it" in capsys.readouterr().err
    assert course_module.main(["catch-up", "99"]) == 2  # after the last notebook
    assert course_module.main(["catch-up", "05", "-p", "SEED", "-1"]) == 2
    assert "SEED must be" in capsys.readouterr().err
    monkeypatch.setattr(runner, "NOTEBOOK_DIR", tmp_path)  # a classroom kit: no solutions
    assert course_module.main(["catch-up", "05"]) == 2
    assert "--with-solutions" in capsys.readouterr().err
