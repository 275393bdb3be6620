"""Evaluation: how well does the trained model do on images it has never seen?

Metrics come from scikit-learn, computed once on the held-out test split, and are written
to `metrics.json` so that scripts, tests and the next notebook read the same numbers. Each comes
with a 95% confidence interval (Wilson's for proportions, a bootstrap for F1 and ROC-AUC) and
next to the "always answer the larger class" baseline: 0.46 accuracy on 13 test photos is
a number that means little, and the interval says so. The threshold that turns a probability
into a label is chosen beforehand on the validation split (`choose_threshold`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest, rankdata
from sklearn import metrics as skm

from helpers.workspace import write_json

#: Below this many test images a result is called rough, in the notebook and the runner.
ROUGH_BELOW = 100
CONFIDENCE = 0.95
#: The thresholds `choose_threshold` considers.
THRESHOLDS = np.round(np.arange(0.05, 0.96, 0.05), 2)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> list[float]:
    """Wilson score interval for a proportion (accuracy, precision, recall): [low, high]."""
    if n == 0:
        return [float("nan"), float("nan")]
    ci = binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def fast_f1(y_true: np.ndarray, called: np.ndarray) -> float:
    """F1 of the positive class (label 1) for boolean predictions `called`; the same number as
    scikit-learn's `f1_score`, fast enough to compute a thousand times in a bootstrap."""
    hit = y_true == 1
    found = 2 * np.sum(hit & called)
    return float(found / (found + np.sum(hit ^ called))) if found else 0.0


def fast_roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic (rank sum of the positives); the same number as
    scikit-learn's `roc_auc_score`, fast enough to bootstrap."""
    ranks, positives = rankdata(y_score), np.sum(y_true == 1)
    return float((ranks[y_true == 1].sum() - positives * (positives + 1) / 2)
                 / (positives * (len(y_true) - positives)))


def bootstrap_interval(metric, y_true: np.ndarray, y_score: np.ndarray, seed: int = 0,
                       n_resamples: int = 1000, confidence: float = CONFIDENCE) -> list[float]:
    """Percentile bootstrap interval of `metric(y_true, y_score)`, resampling test images with
    replacement (resamples holding only one class are skipped): [low, high]. Hand-written:
    scipy.stats.bootstrap cannot skip those and gives NaN on small test splits (test_evaluate's
    test_the_bootstrap_keeps_an_interval_where_scipys_gives_none)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_resamples):
        pick = rng.integers(0, len(y_true), len(y_true))
        if len(np.unique(y_true[pick])) == 2:
            values.append(metric(y_true[pick], y_score[pick]))
    if not values:
        return [float("nan"), float("nan")]
    tail = (1 - confidence) / 2 * 100
    return [float(v) for v in np.percentile(values, [tail, 100 - tail])]


def evaluate_predictions(
    labels: Sequence[int],
    probabilities: Sequence[float],
    class_names: Sequence[str],
    threshold: float = 0.5,
) -> dict:
    """Accuracy, precision, recall, F1 (positive class = `class_names[1]`), macro F1, ROC-AUC,
    each with its 95% interval (`intervals`), and the larger-class baseline."""
    y_true = np.asarray(labels, dtype=int)
    y_prob = np.asarray(probabilities, dtype=float).ravel()
    y_pred = (y_prob >= threshold).astype(int)
    both_present = len(np.unique(y_true)) == 2
    tp, fp = int(((y_pred == 1) & (y_true == 1)).sum()), int(((y_pred == 1) & (y_true == 0)).sum())
    fn = int(((y_pred == 0) & (y_true == 1)).sum())
    larger = int(np.bincount(y_true, minlength=2).argmax())

    def f1(t, p):
        return fast_f1(t, p >= threshold)

    def f1_macro(t, p):
        return (fast_f1(t, p >= threshold) + fast_f1(1 - t, p < threshold)) / 2

    intervals = {
        "accuracy": wilson_interval(int((y_pred == y_true).sum()), len(y_true)),
        "precision": wilson_interval(tp, tp + fp),
        "recall": wilson_interval(tp, tp + fn),
        "f1": bootstrap_interval(f1, y_true, y_prob),
        "f1_macro": bootstrap_interval(f1_macro, y_true, y_prob),
        "roc_auc": bootstrap_interval(fast_roc_auc, y_true, y_prob),
    }
    return {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(skm.precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(skm.recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(skm.f1_score(y_true, y_pred, zero_division=0)),
        "f1_macro": float(skm.f1_score(y_true, y_pred, average="macro", zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, y_prob)) if both_present else float("nan"),
        "n_test": int(len(y_true)),
        "class_names": list(class_names),
        "positive_class": class_names[1],
        "threshold": threshold,
        "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=[0, 1]).tolist(),
        "confidence_level": CONFIDENCE,
        "intervals": intervals,
        "baseline_class": class_names[larger],
        "baseline_accuracy": float(np.mean(y_true == larger)),
    }


def threshold_table(
    labels: Sequence[int], probabilities: Sequence[float], thresholds: Sequence[float] = THRESHOLDS
) -> pd.DataFrame:
    """For each threshold: accuracy, precision and recall of the second class, and the count of
    false positives (first class called second) and false negatives (second class missed)."""
    y_true = np.asarray(labels, dtype=int)
    y_prob = np.asarray(probabilities, dtype=float).ravel()
    rows = []
    for t in thresholds:
        called = y_prob >= t
        tp, fp = int((called & (y_true == 1)).sum()), int((called & (y_true == 0)).sum())
        fn = int((~called & (y_true == 1)).sum())
        rows.append({"threshold": round(float(t), 2), "accuracy": float(np.mean(called == y_true)),
                     "precision": tp / (tp + fp) if tp + fp else 0.0,
                     "recall": tp / (tp + fn) if tp + fn else 0.0,
                     "false_positives": fp, "false_negatives": fn})
    return pd.DataFrame(rows).set_index("threshold")


def choose_threshold(
    labels: Sequence[int], probabilities: Sequence[float], min_recall: float | None = None
) -> float:
    """The probability above which a picture is called the second class, chosen on *validation*
    predictions (never the test split's).

    Without `min_recall`: among 0.05, 0.10, ..., 0.95, the threshold nearest 0.5 whose accuracy
    is within one standard error of the best one's (a smaller gap is more than the validation
    split can tell from luck, so 0.5 stays unless another threshold is clearly better). With
    `min_recall` (e.g. 0.9): the highest threshold that still finds that share of the second
    class, trading more false positives for fewer misses.
    """
    table = threshold_table(labels, probabilities)
    if min_recall is None:
        best = table["accuracy"].max()
        noise = np.sqrt(best * (1 - best) / len(np.asarray(labels)))  # one standard error
        close = table.index[table["accuracy"] >= best - noise].to_numpy()
        return float(close[np.argmin(np.abs(close - 0.5))])
    enough = table.index[table["recall"] >= min_recall]
    if len(enough) == 0:
        raise ValueError(f"No threshold finds {min_recall:.0%} of the second class on these "
                         "images; ask for a lower MIN_RECALL.")
    return float(enough.max())


def metrics_table(metrics: dict) -> pd.DataFrame:
    """`evaluate_predictions`' result as a table: each metric with its 95% interval, and the
    accuracy of always answering the larger class beneath."""
    table = pd.DataFrame({k: [metrics[k], *metrics["intervals"][k]] for k in metrics["intervals"]},
                         index=["test", "95% low", "95% high"]).T
    table.loc[f"always '{metrics['baseline_class']}' (accuracy)"] = [
        metrics["baseline_accuracy"], None, None]
    return table


def describe_uncertainty(metrics: dict) -> str:
    """A few plain sentences on how far to trust the test accuracy (notebook 06, the runner)."""
    n, (low, high) = metrics["n_test"], metrics["intervals"]["accuracy"]
    text = (f"Accuracy {metrics['accuracy']:.3f} on {n} test images: the true accuracy on faces "
            f"like these is probably (95% interval) between {low:.3f} and {high:.3f}. Always "
            f"answering '{metrics['baseline_class']}' would score "
            f"{metrics['baseline_accuracy']:.3f}.")
    if n < ROUGH_BELOW:
        text += (f" With fewer than {ROUGH_BELOW} test images this is a rough estimate: the "
                 f"interval is {high - low:.2f} wide, and halving it takes four times the test "
                 f"images (about {3 * n} more; collect more photos, the split keeps the share).")
    return text


def save_metrics(metrics: dict, path: str | Path) -> Path:
    """Write metrics as pretty, stable JSON."""
    return write_json(path, metrics, sort_keys=True)


def most_confident_mistakes(
    test: pd.DataFrame,
    probabilities: Sequence[float],
    class_names: Sequence[str],
    n: int = 8,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """The `n` wrong predictions the model was most sure about (often label noise or odd faces).

    `confidence` is the probability the model gave the label it chose."""
    p = np.asarray(probabilities, dtype=float).ravel()
    predicted = (p >= threshold).astype(int)
    table = test.assign(
        predicted=[class_names[i] for i in predicted],
        confidence=np.where(predicted == 1, p, 1 - p),
    )
    wrong = table[predicted != table["label"].to_numpy()]
    return wrong.sort_values("confidence", ascending=False).head(n).reset_index(drop=True)
