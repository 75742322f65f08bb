"""Per-channel pixel statistics of a prepared file, per sequence group, in bounded memory.

Pixels are read block by block and only their value counts are kept (a 0-255 histogram per
group and channel), so memory holds one block whatever the file's size, and mean, std, min
and max come out exact.
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cropland.data.prepared_file import PreparedFile

VALUES = 256  # uint8 pixels


class ChannelHistograms:
    """How many pixels of each group and channel take each value 0-255."""

    def __init__(self, groups: int, channels: int) -> None:
        self.counts = np.zeros((groups, channels, VALUES), dtype=np.int64)

    def add(self, pixels: np.ndarray, groups: np.ndarray) -> None:
        """Count ``pixels`` (records, channels, H, W) uint8; ``groups`` gives each record's."""
        num_groups = self.counts.shape[0]
        # One bincount per channel over keys group * 256 + value counts every group at once.
        offsets = (groups.astype(np.int64) * VALUES)[:, None]
        for channel in range(pixels.shape[1]):
            keys = offsets + pixels[:, channel].reshape(len(pixels), -1)
            counts = np.bincount(keys.ravel(), minlength=num_groups * VALUES)
            self.counts[:, channel] += counts.reshape(num_groups, VALUES)

    def statistics(self, group_names: tuple[str, ...], channel_names: list[str]) -> dict:
        """``{group: {channel: {mean, std, min, max, pixels}}}`` on the 0-255 scale, plus
        ``all`` over every group; an empty group's values are ``None``."""
        per_group = dict(zip(group_names, self.counts, strict=True))
        per_group["all"] = self.counts.sum(axis=0)
        return {
            group: {
                channel: _summarize(histogram)
                for channel, histogram in zip(channel_names, histograms, strict=True)
            }
            for group, histograms in per_group.items()
        }


def _summarize(histogram: np.ndarray) -> dict:
    pixels = int(histogram.sum())
    if pixels == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "pixels": 0}
    values = np.arange(VALUES, dtype=np.float64)
    mean = float(histogram @ values / pixels)
    # Population std (ddof 0), as the datamodule's normalization uses.
    std = float(np.sqrt(histogram @ (values - mean) ** 2 / pixels))
    present = np.flatnonzero(histogram)
    return {
        "mean": mean,
        "std": std,
        "min": int(present[0]),
        "max": int(present[-1]),
        "pixels": pixels,
    }


def record_groups(source: PreparedFile, sequence_groups: np.ndarray) -> np.ndarray:
    """The group of each record: the group of the sequence it belongs to."""
    groups = np.zeros(len(source.records), dtype=np.int64)
    sequences = source.sequences
    for start, length, group in zip(
        sequences.start, sequences.length, sequence_groups, strict=True
    ):
        groups[start : start + length] = group
    return groups


def channel_histograms(
    source: PreparedFile,
    sequence_groups: np.ndarray,
    num_groups: int,
    block: int = 256,
    progress: bool = True,
) -> ChannelHistograms:
    """Count every pixel of ``source`` by group (``sequence_groups``: one per sequence)."""
    groups = record_groups(source, sequence_groups)
    histograms = ChannelHistograms(num_groups, source.pixel_shape[1])
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("records"),
        TimeElapsedColumn(),
        console=Console(stderr=True),  # stdout carries only the summary
        disable=not progress,
        transient=True,
    )
    with bar:
        task = bar.add_task("channel statistics", total=len(groups))
        start = 0
        for pixels in source.iter_pixels(block=block):
            histograms.add(pixels, groups[start : start + len(pixels)])
            start += len(pixels)
            bar.advance(task, len(pixels))
    return histograms
