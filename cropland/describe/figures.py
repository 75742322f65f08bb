"""Figures of a dataset description: class counts, sequence lengths, months, pixel values.

Each function takes plain numbers (as in describe.json) and returns a matplotlib Figure; the
caller saves and closes it.
"""

from __future__ import annotations

import calendar

import numpy as np
from matplotlib.figure import Figure

from cropland.data.splits import SPLIT_NAMES
from cropland.plotting import plt

# One colour per sequence group, the same in every figure.
GROUP_COLORS = {
    "train": "tab:blue",
    "val": "tab:orange",
    "test": "tab:green",
    "unknown_label": "tab:gray",
}
_VALUE_BIN = 8  # pixel values per bin of the channel distributions


def month_label(month: int) -> str:
    return calendar.month_abbr[month]


def class_counts_figure(
    counts: dict[str, dict[str, int]], classes: list[str], unknown: int, split_title: str
) -> Figure:
    """Horizontal bars: sequences of each class in train, val and test, the count at each end."""
    height = 0.8 / len(SPLIT_NAMES)
    positions = np.arange(len(classes))
    figure, axes = plt.subplots(figsize=(8, 1.2 + 0.55 * len(classes)), layout="constrained")
    for offset, split in enumerate(SPLIT_NAMES):
        values = [counts[split][c] for c in classes]
        bars = axes.barh(
            positions + (offset - 1) * height,
            values,
            height=height,
            color=GROUP_COLORS[split],
            label=f"{split} ({sum(values)})",
        )
        axes.bar_label(bars, padding=2, fontsize=7)
    axes.set_yticks(positions, classes)
    axes.invert_yaxis()  # first class on top, as in the tables
    axes.set_xlabel("sequences")
    axes.margins(x=0.08)
    title = f"Sequences per class and split ({split_title})"
    if unknown:
        title += f"\n{unknown} sequences with an unknown crop label are in no split"
    axes.set_title(title)
    axes.legend(loc="lower right")
    return figure


def sequence_length_figure(lengths: dict[str, dict[int, int]]) -> Figure:
    """Bars of sequences per length (dates per sequence), stacked by split."""
    all_lengths = sorted(lengths["all"])
    figure, axes = plt.subplots(figsize=(7, 4.5), layout="constrained")
    bottom = np.zeros(len(all_lengths))
    for group, color in GROUP_COLORS.items():
        values = np.array([lengths[group].get(n, 0) for n in all_lengths])
        if values.any():
            axes.bar(all_lengths, values, bottom=bottom, color=color, label=group)
            bottom += values
    total = bottom.sum()
    for length, count in zip(all_lengths, bottom, strict=True):
        axes.annotate(
            f"{int(count)} ({count / total:.0%})",
            (length, count),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    axes.set_xticks(all_lengths)
    axes.set_xlabel("images (dates) per sequence")
    axes.set_ylabel("sequences")
    axes.margins(y=0.1)
    axes.set_title(f"Sequence lengths ({int(total)} sequences)")
    axes.legend()
    return figure


def months_figure(presence: dict[int, int], month_sets: list[dict], sequences: int) -> Figure:
    """Left: sequences with an image in each month. Right: the most common month sets."""
    figure, (by_month, by_set) = plt.subplots(
        1, 2, figsize=(12, 4.8), layout="constrained", width_ratios=[1, 1.3]
    )
    months = list(presence)
    # Positions, not month names, on the axis: matplotlib would parse "Jun" as a date.
    bars = by_month.bar(range(len(months)), list(presence.values()))
    by_month.set_xticks(range(len(months)), [month_label(m) for m in months])
    by_month.bar_label(
        bars, labels=[f"{n} ({n / max(sequences, 1):.0%})" for n in presence.values()], fontsize=8
    )
    by_month.set_xlabel("month")
    by_month.set_ylabel("sequences")
    by_month.margins(y=0.1)
    by_month.set_title(f"Sequences with an image in each month (of {sequences})")

    names = [" ".join(month_label(m) for m in entry["months"]) for entry in month_sets]
    bars = by_set.barh(
        range(len(names)), [entry["sequences"] for entry in month_sets], color="tab:purple"
    )
    by_set.set_yticks(range(len(names)), names)
    by_set.bar_label(
        bars,
        labels=[f"{e['sequences']} ({e['share']:.0%})" for e in month_sets],
        padding=2,
        fontsize=8,
    )
    by_set.invert_yaxis()  # most common on top
    by_set.set_xlabel("sequences")
    by_set.margins(x=0.15)
    by_set.set_title(f"The {len(month_sets)} most common month sets")
    return figure


def channel_distribution_figure(
    histograms: np.ndarray, groups: tuple[str, ...], channels: list[str], statistics: dict
) -> Figure:
    """One panel per channel: share of pixels in each bin of 0-255 values, one line per split.

    ``histograms`` is (groups, channels, 256) pixel counts. Values are binned because the
    dataset's RGB contrast stretch leaves every other value empty, which would draw a comb.
    Titles give the training split's mean and std, the numbers a model is normalized with.
    """
    columns = 4
    rows = -(-len(channels) // columns)
    figure, axes = plt.subplots(
        rows, columns, figsize=(4 * columns, 3 * rows), layout="constrained", squeeze=False
    )
    binned = histograms.reshape(*histograms.shape[:-1], -1, _VALUE_BIN).sum(axis=-1)
    centers = np.arange(binned.shape[-1]) * _VALUE_BIN + (_VALUE_BIN - 1) / 2
    for index, channel in enumerate(channels):
        panel = axes.flat[index]
        for group_index, group in enumerate(groups):
            counts = binned[group_index, index]
            if counts.sum():
                panel.plot(
                    centers, counts / counts.sum(), color=GROUP_COLORS[group], lw=1, label=group
                )
        train = statistics["train"][channel]
        title = channel
        if train["mean"] is not None:
            title += (
                f": train mean {train['mean']:.1f}, std {train['std']:.1f}\n"
                f"range {train['min']}-{train['max']}"
            )
        panel.set_title(title, fontsize=10)
        panel.set_xlim(0, histograms.shape[-1] - 1)
        panel.set_xlabel("pixel value (0-255)")
        if index % columns == 0:
            panel.set_ylabel(f"share of pixels per {_VALUE_BIN} values")
    for panel in axes.flat[len(channels) :]:
        panel.set_visible(False)
    axes.flat[0].legend()
    figure.suptitle("Pixel values per channel and split")
    return figure
