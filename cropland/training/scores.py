"""How a classifier is scored: the torchmetrics collection every training stage logs, and the
same scores computed with numpy from a confusion matrix, with the report table built from them.

The collection is the reference; tests/test_scores.py keeps the numpy scores equal to it. The
numpy functions take ``(..., C, C)`` confusions (rows are true classes, columns predictions),
so one matrix and a stack of bootstrap resamples are scored by the same code.
"""

from __future__ import annotations

import numpy as np
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

# Vector-valued members: logged per class, not as one scalar.
PER_CLASS = ("precision", "recall", "f1")


def per_class_group(stage: str) -> str:
    """``val_per_class``: a group of its own per stage, so that TensorBoard shows the headline
    ``val/`` curves apart from the dozens of per-class ones."""
    return f"{stage}_per_class"


def per_class_key(stage: str, score: str, class_name: str) -> str:
    """``val_per_class/f1_BARLEY``."""
    return f"{per_class_group(stage)}/{score}_{class_name}"


def is_stage_score(key: str, stage: str) -> bool:
    """Whether ``key`` is one of ``stage``'s scores: ``test/acc``, ``test_per_class/f1_CORN``."""
    return key.startswith((f"{stage}/", f"{per_class_group(stage)}/"))


def classification_metrics(num_classes: int) -> MetricCollection:
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            "precision": MulticlassPrecision(num_classes, average=None),
            "recall": MulticlassRecall(num_classes, average=None),
            "f1": MulticlassF1Score(num_classes, average=None),
            "confusion": MulticlassConfusionMatrix(num_classes),
        },
        # Groups found by comparing states after the first update can differ between DDP
        # processes, whose collectives must then match: every metric keeps its own states.
        compute_groups=False,
    )


def flatten_metrics(computed: dict, prefix: str, classes: list[str]) -> dict[str, float]:
    """``{"val/acc": 0.9, "val_per_class/f1_BARLEY": 0.8, ...}`` from a computed collection
    whose keys may carry ``prefix`` (``"val/"``); the confusion matrix is left out."""
    stage = prefix.removesuffix("/")
    flat = {}
    for full_name, value in computed.items():
        name = full_name.removeprefix(prefix)
        if name == "confusion":
            continue
        if name in PER_CLASS:
            flat.update(
                {
                    per_class_key(stage, name, c): float(v)
                    for c, v in zip(classes, value, strict=True)
                }
            )
        else:
            flat[f"{prefix}{name}"] = float(value)
    return flat


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows are true classes, columns predictions."""
    flat = np.bincount(labels * num_classes + predicted, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


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


def classification_report(confusion: np.ndarray, classes: list[str]) -> str:
    """A table like scikit-learn's: per class, accuracy, macro and support-weighted averages."""
    scores = per_class_scores(confusion)
    support = scores["support"]
    total = int(support.sum())
    width = max(len(c) for c in [*classes, "weighted avg"])
    lines = [f"{'':>{width}}  precision    recall  f1-score   support", ""]
    for i, name in enumerate(classes):
        lines.append(
            f"{name:>{width}}  {scores['precision'][i]:9.3f} {scores['recall'][i]:9.3f} "
            f"{scores['f1'][i]:9.3f} {support[i]:9d}"
        )
    lines += [
        "",
        f"{'accuracy':>{width}}  {'':9} {'':9} {float(accuracy(confusion)):9.3f} {total:9d}",
    ]
    averaged = ("precision", "recall", "f1")
    macro = [macro_average(scores[k], confusion) for k in averaged]
    weighted = [np.average(scores[k], weights=support) if total else 0.0 for k in averaged]
    for label, averages in (("macro avg", macro), ("weighted avg", weighted)):
        lines.append(
            f"{label:>{width}}  {averages[0]:9.3f} {averages[1]:9.3f} {averages[2]:9.3f} {total:9d}"
        )
    return "\n".join(lines)
