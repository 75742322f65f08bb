"""Classification report and confusion-matrix figure, both derived from one confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from cropland.io import save_figure_atomic
from cropland.plotting import plt
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


def confusion_matrix_figure(
    confusion: np.ndarray, classes: list[str], normalize: bool = False
) -> Figure:
    """Heat map with the count (or row share) in each cell; rows are true classes."""
    confusion = np.asarray(confusion, dtype=np.float64)
    values = confusion
    if normalize:
        rows = confusion.sum(axis=1, keepdims=True)
        values = np.divide(confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    figure, axes = plt.subplots(
        figsize=(1 + 0.6 * len(classes), 0.6 * len(classes)), layout="constrained"
    )
    image = axes.imshow(values, cmap="Blues", vmin=0)
    figure.colorbar(image, ax=axes, shrink=0.8)
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=45, ha="right")
    axes.set_yticks(ticks, classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    threshold = values.max() / 2 if values.size else 0
    for (row, column), value in np.ndenumerate(values):
        text = f"{value:.2f}" if normalize else f"{int(value)}"
        color = "white" if value > threshold else "black"
        axes.text(column, row, text, ha="center", va="center", fontsize=7, color=color)
    return figure


def save_confusion_figures(
    confusion: np.ndarray, classes: list[str], folder: Path, overwrite: bool = False
) -> None:
    """``confusion_matrix.png`` (counts) and ``confusion_matrix_norm.png`` (row shares); ones
    already there are replaced only with ``overwrite``."""
    for normalize, name in ((False, "confusion_matrix.png"), (True, "confusion_matrix_norm.png")):
        figure = confusion_matrix_figure(confusion, classes, normalize=normalize)
        save_figure_atomic(figure, Path(folder) / name, overwrite=overwrite, dpi=120)
        plt.close(figure)
