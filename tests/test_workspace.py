"""The work-folder contract: every artefact by name, and "run notebook NN first" when missing."""

import pandas as pd
import pytest

from helpers.workspace import ARTEFACTS, Work, write_table


def test_a_missing_artefact_names_the_notebook_that_makes_it(tmp_path):
    work = Work(tmp_path / "work")
    with pytest.raises(FileNotFoundError, match=r"split.csv \(which picture is for training, "
                                                r"validation or the test\) does not exist yet: "
                                                r"run notebook 03_explore_and_split first"):
        work.table("split")
    with pytest.raises(FileNotFoundError, match="run notebook 06_evaluate first"):
        work.require("served_model")
    with pytest.raises(KeyError, match="'model' is not one of the course's artefacts: collect"):
        work.path("model")


def test_artefacts_round_trip_by_name(tmp_path):
    work = Work(tmp_path / "work")
    assert work.write_json("metrics", {"accuracy": 0.9}) == tmp_path / "work" / "metrics.json"
    assert work.json("metrics") == {"accuracy": 0.9}
    write_table(pd.DataFrame({"file": ["a.png"], "class": ["0"], "label": [0]}),
                work.path("split"))
    assert work.table("split")["class"].tolist() == ["0"]  # a class name stays text
    assert work.require("split") == work.root / "split.csv"


def test_every_artefact_has_its_own_place_and_a_notebook():
    paths = [a.path for a in ARTEFACTS.values()]
    assert len(set(paths)) == len(paths)
    assert all(a.made_by[:2].isdigit() and a.holds for a in ARTEFACTS.values())
