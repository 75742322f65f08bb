"""The one metric collection every stage clones: accuracy, F1, per-class scores, confusion.

It is the reference: scores.py computes the same numbers from a saved confusion matrix, and
tests/test_scores.py keeps the two equal.
"""

from __future__ import annotations

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
    """``{"val/acc": 0.9, "val/f1/BARLEY": 0.8, ...}`` from a computed collection whose keys
    may carry ``prefix``; the confusion matrix is left out."""
    flat = {}
    for full_name, value in computed.items():
        name = full_name.removeprefix(prefix)
        if name == "confusion":
            continue
        if name in PER_CLASS:
            flat.update(
                {f"{prefix}{name}/{c}": float(v) for c, v in zip(classes, value, strict=True)}
            )
        else:
            flat[f"{prefix}{name}"] = float(value)
    return flat
