"""Percentile bootstrap intervals for accuracy and macro F1 over test sequences.

Rare classes have a handful of test sequences (SPRING_WHEAT: 7 of 532 in the published
split), so one or two sequences move macro F1 by several points: the interval says how much.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from cropland.training.scores import accuracy, macro_f1

# At most this many drawn cells (resamples x sequences, or resamples x confusion cells) are
# held at once: resamples are drawn in chunks, so memory stays bounded for any test set.
_CELLS_PER_CHUNK = 1 << 22


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
    predicted = np.asarray(predicted)[None]
    scores = _resampled_scores(labels, predicted, num_classes, resamples, level, seed)
    return {name: _percentiles(values[0], level) for name, values in scores.items()}


def paired_difference_intervals(
    labels: np.ndarray,
    predicted: np.ndarray,
    reference: np.ndarray,
    num_classes: int,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """``{"acc": (low, high), "f1_macro": (low, high)}`` of the mean score over the rows of
    ``predicted`` (``(runs, sequences)``, e.g. one model's seeds) minus the mean over the rows
    of ``reference`` (another model's seeds), all predictions of the same ``labels``.

    Paired: each resample draws one set of sequences and scores every run on it, so what the
    runs share (hard sequences, rare classes) cancels in the difference instead of widening it.
    """
    predicted, reference = np.asarray(predicted), np.asarray(reference)
    if predicted.ndim != 2 or reference.ndim != 2 or not len(predicted) or not len(reference):
        raise ValueError("predicted and reference must be (runs, sequences) with a run each")
    runs = np.concatenate([predicted, reference])
    scores = _resampled_scores(labels, runs, num_classes, resamples, level, seed)
    return {
        name: _percentiles(
            values[: len(predicted)].mean(axis=0) - values[len(predicted) :].mean(axis=0), level
        )
        for name, values in scores.items()
    }


def _resampled_scores(
    labels: np.ndarray,
    runs: np.ndarray,
    num_classes: int,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, np.ndarray]:
    """Accuracy and macro F1 of each of ``runs`` (``(runs, sequences)``) on each resample,
    ``(runs, resamples)``; every run is scored on the same resamples."""
    labels = np.asarray(labels)
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if runs.shape[1:] != labels.shape:
        raise ValueError(f"{runs.shape[1:]} predictions per run for {labels.shape} labels")
    scores = {"acc": [], "f1_macro": []}
    for draws in _draws(len(labels), num_classes, resamples, seed):
        for name, values in _scores(labels, runs, draws, num_classes).items():
            scores[name].append(values)
    return {name: np.concatenate(chunks, axis=1) for name, chunks in scores.items()}


def _draws(sequences: int, num_classes: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """``resamples`` draws of ``sequences`` indices with replacement, in chunks of rows; the
    chunks joined are the draws of one call (numpy's generator continues its stream)."""
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS_PER_CHUNK // max(sequences, num_classes**2, 1))
    for start in range(0, resamples, chunk):
        yield rng.integers(0, sequences, size=(min(chunk, resamples - start), sequences))


def _scores(
    labels: np.ndarray, runs: np.ndarray, draws: np.ndarray, num_classes: int
) -> dict[str, np.ndarray]:
    """``(runs, len(draws))`` accuracy and macro F1 on each draw."""
    scores = {"acc": [], "f1_macro": []}
    offsets = np.arange(len(draws))[:, None] * num_classes * num_classes
    for predicted in runs:
        # One bincount fills every draw's confusion matrix: draw r's cells are offset by r * C^2.
        cells = labels[draws] * num_classes + predicted[draws]
        confusion = np.bincount((cells + offsets).ravel(), minlength=len(draws) * num_classes**2)
        confusion = confusion.reshape(len(draws), num_classes, num_classes)
        scores["acc"].append(accuracy(confusion))
        scores["f1_macro"].append(macro_f1(confusion))
    return {name: np.stack(values) for name, values in scores.items()}


def _percentiles(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)
