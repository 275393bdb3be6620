"""Evaluation metrics agree with hand-computed values."""

import json

import pandas as pd
import pytest

from helpers.evaluate import evaluate_predictions, most_confident_mistakes, save_metrics


def test_metrics_on_a_known_case(tmp_path):
    labels = [0, 0, 0, 1, 1, 1]
    probs = [0.1, 0.4, 0.7, 0.9, 0.6, 0.2]  # one false positive, one false negative
    m = evaluate_predictions(labels, probs, ["happy", "sad"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["roc_auc"] == pytest.approx(6 / 9)  # 6 of 9 (sad, happy) pairs ranked right
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]
    assert m["n_test"] == 6 and m["class_names"] == ["happy", "sad"]
    saved = json.loads(save_metrics(m, tmp_path / "metrics.json").read_text())
    assert saved == m


def test_most_confident_mistakes_come_first():
    test = pd.DataFrame({"file": list("abcd"), "class": ["happy", "happy", "sad", "sad"],
                         "label": [0, 0, 1, 1]})
    mistakes = most_confident_mistakes(test, [0.95, 0.2, 0.4, 0.01], ["happy", "sad"], n=5)
    assert list(mistakes["file"]) == ["d", "a", "c"]
    assert list(mistakes["predicted"]) == ["happy", "sad", "happy"]
    assert mistakes["confidence"].iloc[0] == pytest.approx(0.99)
