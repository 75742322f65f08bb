"""Percentile bootstrap intervals for accuracy and macro F1 over test sequences.

Rare classes have a handful of test sequences (SPRING_WHEAT: 7 of 532 in the published
split), so one or two sequences move macro F1 by several points: the interval says how much.
"""

from __future__ import annotations

import numpy as np

from cropland.training.scores import accuracy, macro_f1


def bootstrap_intervals(
    labels: np.ndarray,
    predicted: np.ndarray,
    num_classes: int,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """``{"acc": (low, high), "f1_macro": (low, high)}`` from ``resamples`` draws of the
    sequences with replacement, each scored like the point estimate."""
    labels = np.asarray(labels)
    predicted = np.asarray(predicted)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(labels), size=(resamples, len(labels)))
    # One bincount fills every draw's confusion matrix: draw r's cells are offset by r * C^2.
    cells = labels[draws] * num_classes + predicted[draws]
    offsets = np.arange(resamples)[:, None] * num_classes * num_classes
    confusion = np.bincount((cells + offsets).ravel(), minlength=resamples * num_classes**2)
    confusion = confusion.reshape(resamples, num_classes, num_classes)

    tail = (1 - level) / 2 * 100
    return {
        name: tuple(float(v) for v in np.percentile(values, [tail, 100 - tail]))
        for name, values in (("acc", accuracy(confusion)), ("f1_macro", macro_f1(confusion)))
    }
