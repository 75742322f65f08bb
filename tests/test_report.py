"""The report's macro average is the macro F1 that evaluation scores (tests/test_scores.py)."""

import numpy as np
import pytest

from cropland.training.scores import classification_report, confusion_matrix, macro_f1


def test_report_macro_average_is_the_same_macro_f1():
    labels = np.array([0, 0, 1, 1, 2])
    predictions = np.array([0, 1, 1, 3, 2])
    confusion = confusion_matrix(labels, predictions, 5)
    report = classification_report(confusion, ["a", "b", "c", "d", "e"])
    macro_line = next(line for line in report.splitlines() if "macro avg" in line)
    assert float(macro_line.split()[-2]) == pytest.approx(float(macro_f1(confusion)), abs=5e-4)
    assert float(macro_f1(confusion)) == pytest.approx(0.5417, abs=1e-4)
