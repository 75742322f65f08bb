"""Numbers derived from a confusion matrix agree with torchmetrics, which logs them in training."""

import numpy as np
import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from cropland.training.report import accuracy_and_macro_f1, classification_report


def _confusion(labels, predictions, num_classes):
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return confusion


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_and_macro_f1_match_torchmetrics(seed):
    rng = np.random.default_rng(seed)
    # Class 4 never occurs in the truth but is sometimes predicted; class 5 never appears.
    labels = rng.integers(0, 4, size=60)
    predictions = np.where(rng.random(60) < 0.6, labels, rng.integers(0, 5, size=60))
    accuracy, macro_f1 = accuracy_and_macro_f1(_confusion(labels, predictions, 6))
    target, preds = torch.from_numpy(labels), torch.from_numpy(predictions)
    assert accuracy == pytest.approx(float(MulticlassAccuracy(6, average="micro")(preds, target)))
    assert macro_f1 == pytest.approx(float(MulticlassF1Score(6, average="macro")(preds, target)))


def test_report_macro_average_is_the_same_macro_f1():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array([0, 1, 1, 3, 2])
    confusion = _confusion(labels, predictions, 5)
    report = classification_report(confusion, ["a", "b", "c", "d", "e"])
    macro_line = next(line for line in report.splitlines() if "macro avg" in line)
    _, macro_f1 = accuracy_and_macro_f1(confusion)
    assert float(macro_line.split()[-2]) == pytest.approx(macro_f1, abs=5e-4)
    assert macro_f1 == pytest.approx(0.5417, abs=1e-4)
