"""Evaluation metrics agree with hand-computed values."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from helpers.evaluate import (
    bootstrap_interval,
    choose_threshold,
    describe_uncertainty,
    evaluate_predictions,
    fast_f1,
    fast_roc_auc,
    most_confident_mistakes,
    save_metrics,
    threshold_table,
    wilson_interval,
)


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


def test_mistakes_follow_the_threshold():
    test = pd.DataFrame({"file": ["a", "b"], "class": ["happy", "sad"], "label": [0, 1]})
    assert most_confident_mistakes(test, [0.35, 0.45], ["happy", "sad"]).empty is False
    mistakes = most_confident_mistakes(test, [0.35, 0.45], ["happy", "sad"], threshold=0.3)
    assert list(mistakes["file"]) == ["a"] and mistakes["confidence"].iloc[0] == 0.35


def test_threshold_for_best_accuracy_or_for_a_recall_target():
    labels = [0] * 6 + [1] * 4
    probs = [0.1, 0.2, 0.3, 0.35, 0.5, 0.6, 0.4, 0.7, 0.8, 0.9]
    table = threshold_table(labels, probs)
    assert table.loc[0.5, "accuracy"] == pytest.approx(0.7)
    assert (table.loc[0.5, "false_positives"], table.loc[0.5, "false_negatives"]) == (2, 1)
    assert table.loc[0.65, "accuracy"] == pytest.approx(0.9)  # best: 0.65 and 0.7 tie
    assert choose_threshold(labels, probs) == 0.65  # 0.65 and 0.7 tie: the one nearer 0.5
    assert choose_threshold(labels, probs, min_recall=1.0) == 0.4  # catch every sad face
    assert table.loc[0.4, "recall"] == 1.0 and table.loc[0.45, "recall"] == 0.75
    # One face more right at 0.55 than at 0.5, out of 200: noise, so 0.5 stays.
    labels = [0] * 100 + [1] * 100
    probs = [0.3] * 89 + [0.52] + [0.8] * 10 + [0.7] * 95 + [0.2] * 5
    table = threshold_table(labels, probs)
    assert (table.loc[0.5, "accuracy"], table.loc[0.55, "accuracy"]) == (0.92, 0.925)
    assert table["accuracy"].max() == 0.925 and choose_threshold(labels, probs) == 0.5
    with pytest.raises(ValueError, match="lower MIN_RECALL"):
        choose_threshold([0, 1], [0.99, 0.01], min_recall=1.0)


def test_intervals_and_baseline_come_with_the_metrics():
    labels = [0] * 60 + [1] * 40
    probs = [0.2] * 50 + [0.8] * 10 + [0.9] * 30 + [0.1] * 10  # 80 of 100 right
    m = evaluate_predictions(labels, probs, ["happy", "sad"])
    assert m["accuracy"] == pytest.approx(0.8)
    low, high = m["intervals"]["accuracy"]
    assert low == pytest.approx(0.7112, abs=1e-3) and high == pytest.approx(0.8666, abs=1e-3)
    assert m["intervals"]["precision"] == pytest.approx(wilson_interval(30, 40))
    for key in ("f1", "f1_macro", "roc_auc"):  # the bootstrap brackets the point estimate
        low, high = m["intervals"][key]
        assert low < m[key] < high and high - low < 0.3
    assert (m["baseline_class"], m["baseline_accuracy"]) == ("happy", 0.6)
    assert "between 0.711 and 0.867" in describe_uncertainty(m)
    assert "rough" not in describe_uncertainty(m)


def test_confusion_matrix_names_each_cell():
    from helpers.plots import plot_confusion_matrix

    ax = plot_confusion_matrix([0, 0, 1, 1, 1], [0, 1, 0, 1, 1], ["happy", "sad"]).axes[0]
    texts = {t.get_text() for t in ax.texts}
    assert texts == {"1\ntrue negative", "1\nfalse positive", "1\nfalse negative",
                     "2\ntrue positive"}
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")


def test_a_small_test_split_is_called_rough():
    m = evaluate_predictions([0] * 7 + [1] * 6, [0.6] * 7 + [0.4] * 6, ["happy", "sad"])
    text = describe_uncertainty(m)  # the seed tutorial's 13 test photos, all wrong
    assert "rough estimate" in text and "about 39 more" in text
    assert m["intervals"]["accuracy"][1] < 0.25 and "'happy' would score 0.538" in text



def test_the_bootstrap_shortcuts_agree_with_scikit_learn():
    rng = np.random.default_rng(1)
    for n in (10, 57, 300):
        labels = rng.integers(0, 2, n)
        probs = np.round(np.clip(labels * 0.3 + rng.normal(0.35, 0.25, n), 0, 1), 1)  # ties
        assert fast_roc_auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs))
        called = probs >= 0.5
        assert fast_f1(labels, called) == pytest.approx(f1_score(labels, called))


def test_the_bootstrap_keeps_an_interval_where_scipys_gives_none():
    """Why `bootstrap_interval` is hand-written: on a small test split some resamples hold one
    class only (ROC-AUC undefined there); scipy.stats.bootstrap cannot leave them out and
    answers NaN, the kit's skips them and still brackets the estimate."""
    import warnings

    from scipy.stats import bootstrap
    from sklearn.metrics import roc_auc_score

    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    probs = np.array([0.1, 0.2, 0.3, 0.6, 0.2, 0.1, 0.7, 0.4])

    def statistic(y, p):
        return roc_auc_score(y, p) if len(np.unique(y)) == 2 else np.nan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scipy_ci = bootstrap((labels, probs), statistic, paired=True, vectorized=False,
                             method="percentile", n_resamples=1000,
                             random_state=0).confidence_interval
    assert np.isnan(scipy_ci.low) and np.isnan(scipy_ci.high)
    low, high = bootstrap_interval(fast_roc_auc, labels, probs)
    assert low <= roc_auc_score(labels, probs) <= high
