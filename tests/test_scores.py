"""The numpy scores of confusion matrices give torchmetrics' numbers, which training logs."""

import numpy as np
import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassF1Score,
    MulticlassPrecision,
    MulticlassRecall,
)

from cropland.training.scores import accuracy, accuracy_and_macro_f1, macro_f1, per_class_scores

NUM_CLASSES = 6
# The classes the awkward cases need: one only in the predictions, one only in the truth, one
# in neither. torchmetrics averages over classes in the truth or the predictions.
PREDICTED_ONLY, TRUE_ONLY, NEVER = 4, 3, 5


def confusion_of(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return confusion


def _labels_and_predictions(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, TRUE_ONLY + 1, size=size)
    predictions = np.where(rng.random(size) < 0.6, labels, rng.integers(0, 3, size=size))
    predictions[labels == TRUE_ONLY] = PREDICTED_ONLY
    return labels, predictions


def _torchmetrics(labels: np.ndarray, predictions: np.ndarray) -> dict[str, np.ndarray]:
    target, preds = torch.from_numpy(labels), torch.from_numpy(predictions)
    metrics = {
        "acc": MulticlassAccuracy(NUM_CLASSES, average="micro"),
        "f1_macro": MulticlassF1Score(NUM_CLASSES, average="macro"),
        "precision": MulticlassPrecision(NUM_CLASSES, average=None),
        "recall": MulticlassRecall(NUM_CLASSES, average=None),
        "f1": MulticlassF1Score(NUM_CLASSES, average=None),
    }
    return {name: metric(preds, target).numpy() for name, metric in metrics.items()}


@pytest.mark.parametrize("seed", range(5))
def test_one_confusion_matrix_scores_like_torchmetrics(seed):
    labels, predictions = _labels_and_predictions(seed, size=60)
    assert PREDICTED_ONLY in predictions and PREDICTED_ONLY not in labels
    assert TRUE_ONLY in labels and TRUE_ONLY not in predictions
    assert NEVER not in labels and NEVER not in predictions
    expected = _torchmetrics(labels, predictions)
    confusion = confusion_of(labels, predictions, NUM_CLASSES)

    acc, f1_macro = accuracy_and_macro_f1(confusion)
    assert acc == pytest.approx(float(expected["acc"]))
    assert f1_macro == pytest.approx(float(expected["f1_macro"]))
    scores = per_class_scores(confusion)
    for name in ("precision", "recall", "f1"):
        np.testing.assert_allclose(scores[name], expected[name], rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(scores["support"], np.bincount(labels, minlength=NUM_CLASSES))


def test_a_stack_of_bootstrap_resamples_scores_each_like_torchmetrics():
    labels, predictions = _labels_and_predictions(seed=0, size=12)
    # Small draws leave different classes out of each resample's truth and predictions.
    draws = np.random.default_rng(1).integers(0, len(labels), size=(40, len(labels)))
    stack = np.stack([confusion_of(labels[d], predictions[d], NUM_CLASSES) for d in draws])
    assert len({tuple(c.sum(axis=0) > 0) for c in stack}) > 1

    scored = {"acc": accuracy(stack), "f1_macro": macro_f1(stack)}
    assert scored["acc"].shape == scored["f1_macro"].shape == (len(draws),)
    for name, values in scored.items():
        expected = [float(_torchmetrics(labels[d], predictions[d])[name]) for d in draws]
        np.testing.assert_allclose(values, expected, rtol=1e-6, err_msg=name)


def test_an_empty_confusion_matrix_scores_zero():
    assert accuracy_and_macro_f1(np.zeros((3, 3), dtype=np.int64)) == (0.0, 0.0)
