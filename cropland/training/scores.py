"""Scores of confusion matrices, the numpy twin of the torchmetrics collection in metrics.py.

Every function takes ``(..., C, C)`` confusions (rows are true classes, columns predictions),
so one matrix and a stack of bootstrap resamples are scored by the same code.
"""

from __future__ import annotations

import numpy as np


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, 0 where the denominator is 0 (torchmetrics' zero_division)."""
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def per_class_scores(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class, each ``(..., C)``."""
    confusion = np.asarray(confusion, dtype=np.float64)
    true_positive = np.diagonal(confusion, axis1=-2, axis2=-1)
    support = confusion.sum(axis=-1)
    predicted = confusion.sum(axis=-2)
    return {
        "precision": _divide(true_positive, predicted),
        "recall": _divide(true_positive, support),
        # Written as torchmetrics does, 2TP / (2TP + FP + FN), so both round alike.
        "f1": _divide(2 * true_positive, support + predicted),
        "support": support.astype(np.int64),
    }


def macro_average(per_class: np.ndarray, confusion: np.ndarray) -> np.ndarray:
    """Mean of ``(..., C)`` per-class values over the classes in the truth or the predictions
    (as scikit-learn and torchmetrics count them, so a class the model wrongly predicts pulls
    the average down); 0 when no class counts."""
    confusion = np.asarray(confusion)
    counted = (confusion.sum(axis=-1) > 0) | (confusion.sum(axis=-2) > 0)
    total = np.where(counted, per_class, 0.0).sum(axis=-1)
    return _divide(total, counted.sum(axis=-1).astype(np.float64))


def accuracy(confusion: np.ndarray) -> np.ndarray:
    """Share of the diagonal, ``(...)``; 0 for an empty matrix."""
    confusion = np.asarray(confusion, dtype=np.float64)
    total = confusion.sum(axis=(-2, -1))
    return _divide(np.trace(confusion, axis1=-2, axis2=-1), total)


def macro_f1(confusion: np.ndarray) -> np.ndarray:
    """``(...)``, the macro average of the per-class F1."""
    return macro_average(per_class_scores(confusion)["f1"], confusion)


def accuracy_and_macro_f1(confusion: np.ndarray) -> tuple[float, float]:
    """The two headline numbers of one confusion matrix."""
    return float(accuracy(confusion)), float(macro_f1(confusion))
