"""Classification report of one confusion matrix."""

from __future__ import annotations

import numpy as np

from cropland.training.scores import accuracy, macro_average, per_class_scores


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
