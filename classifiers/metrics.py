"""Classification metrics of the shared tasks: accuracy (= micro-F1), macro recall, macro F1."""

from __future__ import annotations

import numpy as np


def score_report(gold: np.ndarray, predicted: np.ndarray, classes: int = 3) -> dict[str, float]:
    """Accuracy, macro-averaged recall (SemEval-2017 4A) and macro F1 over the classes present in ``gold``."""
    gold = np.asarray(gold)
    predicted = np.asarray(predicted)
    if gold.size == 0:
        return {"accuracy": 0.0, "macro_recall": 0.0, "macro_f1": 0.0, "count": 0.0}
    recalls, f1s = [], []
    for label in range(classes):
        actual = gold == label
        if not actual.any():
            continue
        chosen = predicted == label
        hits = float(np.sum(actual & chosen))
        recall = hits / float(actual.sum())
        precision = hits / float(chosen.sum()) if chosen.any() else 0.0
        recalls.append(recall)
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return {
        "accuracy": float(np.mean(gold == predicted)),
        "macro_recall": float(np.mean(recalls)),
        "macro_f1": float(np.mean(f1s)),
        "count": float(gold.size),
    }
