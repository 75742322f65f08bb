"""How well a model does early in the season: only the images taken up to each month."""

from __future__ import annotations

import calendar
from collections.abc import Callable, Iterable

import numpy as np
from matplotlib.figure import Figure
from torch import nn

from cropland.data.layout import MONTHS
from cropland.inference.batch_prediction import Predictions, predict
from cropland.plotting import plt
from cropland.training.scores import accuracy_and_macro_f1, confusion_matrix

# June to September; the full season (every image) is the last row.
CUTOFFS: tuple[int, ...] = tuple(MONTHS[:-1])


def early_season_table(
    model: nn.Module,
    batches: Callable[[int], Iterable[dict]],
    to_model_input: Callable[[dict], dict],
    full_season: Predictions,
    num_classes: int,
) -> list[dict]:
    """One row per cut-off month, then the full season: sequences scored, accuracy, macro F1.

    ``batches(month)`` gives the test batches for that cut-off (a fresh iterator each time).
    Sequences whose first image comes after the cut-off cannot be classified yet; they are
    left out of that row and counted in ``without_images``, so ``sequences`` says what the
    scores cover.
    """
    rows = []
    for month in CUTOFFS:
        found = predict(model, batches(month), to_model_input, last_month=month)
        rows.append(_row(f"up to {calendar.month_name[month]}", month, found, num_classes))
    rows.append(_row("full season", None, full_season, num_classes))
    return rows


def _row(name: str, month: int | None, found: Predictions, num_classes: int) -> dict:
    confusion = confusion_matrix(found.label, found.predicted, num_classes)
    accuracy, macro_f1 = accuracy_and_macro_f1(confusion)
    return {
        "months_seen": name,
        "last_month": month,
        "sequences": int(len(found.label)),
        "without_images": int(found.dropped),
        "mean_images": float(np.mean(found.steps)) if len(found.steps) else 0.0,
        "acc": accuracy,
        "f1_macro": macro_f1,
    }


def early_season_text(rows: list[dict]) -> str:
    """The table as aligned text, for report.txt and the console."""
    header = f"{'months seen':<18}{'sequences':>10}{'no image':>10}{'images':>8}{'acc':>8}{'F1':>8}"
    lines = [header]
    for row in rows:
        lines.append(
            f"{row['months_seen']:<18}{row['sequences']:>10}{row['without_images']:>10}"
            f"{row['mean_images']:>8.2f}{row['acc']:>8.3f}{row['f1_macro']:>8.3f}"
        )
    return "\n".join(lines)


def early_season_figure(rows: list[dict]) -> Figure:
    """Accuracy and macro F1 against the last month seen, with the share of sequences scored."""
    names = [row["months_seen"].removeprefix("up to ") for row in rows]
    figure, axes = plt.subplots(figsize=(6, 3.5), layout="constrained")
    axes.plot(names, [row["acc"] for row in rows], marker="o", label="accuracy")
    axes.plot(names, [row["f1_macro"] for row in rows], marker="s", label="macro F1")
    for x, row in enumerate(rows):
        total = row["sequences"] + row["without_images"]
        axes.annotate(
            f"{row['sequences']}/{total}",
            (x, max(row["acc"], row["f1_macro"])),
            textcoords="offset points",
            xytext=(0, 8),
            ha="center",
            fontsize=7,
        )
    axes.set_ylim(0, 1.05)
    axes.set_xlabel("images up to (sequences scored / all)")
    axes.set_ylabel("score on the test split")
    axes.set_title("Early-season classification")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    return figure
