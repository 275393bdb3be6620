"""Evaluation: how well does the trained model do on images it has never seen?

Metrics come from scikit-learn, computed once on the held-out test split, and are written
to `metrics.json` so that scripts, tests and the next notebook read the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm


def evaluate_predictions(
    labels: Sequence[int],
    probabilities: Sequence[float],
    class_names: Sequence[str],
    threshold: float = 0.5,
) -> dict:
    """Accuracy, precision, recall, F1 (positive class = `class_names[1]`), macro F1, ROC-AUC."""
    y_true = np.asarray(labels, dtype=int)
    y_prob = np.asarray(probabilities, dtype=float).ravel()
    y_pred = (y_prob >= threshold).astype(int)
    both_present = len(np.unique(y_true)) == 2
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
    }


def save_metrics(metrics: dict, path: str | Path) -> Path:
    """Write metrics as pretty, stable JSON."""
    path = Path(path)
    path.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return path


def most_confident_mistakes(
    test: pd.DataFrame, probabilities: Sequence[float], class_names: Sequence[str], n: int = 8
) -> pd.DataFrame:
    """The `n` wrong predictions the model was most sure about (often label noise or odd faces)."""
    p = np.asarray(probabilities, dtype=float).ravel()
    predicted = (p >= 0.5).astype(int)
    table = test.assign(
        predicted=[class_names[i] for i in predicted],
        confidence=np.where(predicted == 1, p, 1 - p),
    )
    wrong = table[predicted != table["label"].to_numpy()]
    return wrong.sort_values("confidence", ascending=False).head(n).reset_index(drop=True)
