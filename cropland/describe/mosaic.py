"""Image mosaics per class: a few sequences' RGB and NDVI images laid out by month."""

from __future__ import annotations

import calendar
from dataclasses import dataclass

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import MONTHS
from cropland.display_stretch import RgbStretch, rgb_for_display
from cropland.plotting import plt

# What a mosaic shows, in this channel order: red, green, blue, ndvi.
MOSAIC_SENSORS = ("RGB", "NDVI")
NDVI_COLORMAP = "RdYlGn"
_GAP = 4  # pixels between images
_SEQUENCE_GAP = 14  # pixels between sequences
_BLANK_GREY = 0.92


@dataclass
class MosaicSequence:
    """One sequence of a mosaic: its images (time, [r, g, b, ndvi], H, W) and where from."""

    index: int
    images: np.ndarray
    months: np.ndarray
    caption: str


def choose_sequences(
    labels: np.ndarray, num_classes: int, per_class: int, seed: int
) -> dict[int, list[int]]:
    """Up to ``per_class`` sequences of each class, drawn with a seeded generator, sorted."""
    rng = np.random.default_rng(seed)
    chosen = {}
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        picked = rng.choice(members, size=min(per_class, len(members)), replace=False)
        chosen[label] = sorted(int(i) for i in picked)
    return chosen


def read_mosaic_sequences(
    datamodule: CropSequenceDataModule, indices: list[int], split_names: list[str]
) -> list[MosaicSequence]:
    """The RGB and NDVI images of sequences ``indices``; ``split_names`` name each one's split."""
    sequences = datamodule.prepared_file.sequences
    samples = datamodule.read_sequences(indices, list(MOSAIC_SENSORS))
    read = []
    for index, split, sample in zip(indices, split_names, samples, strict=True):
        caption = (
            f"point {sequences.point[index]}\n"
            f"{sequences.province[index]} {sequences.year[index]}, {split}"
        )
        read.append(
            MosaicSequence(index, sample["image"].numpy(), sample["months"].numpy(), caption)
        )
    return read


def mosaic_figure(
    class_name: str, sequences: list[MosaicSequence], class_size: int, stretch: RgbStretch
) -> Figure:
    """Two rows per sequence (RGB, NDVI), one column per month; blank where a month is missing.

    The images are laid out in one array and shown by one axes: a grid of axes per image
    takes seconds to lay out. ``sequences`` must not be empty; ``class_size`` is how many
    sequences the class has; ``stretch`` is the RGB stretch every class's mosaic shares.
    """
    months = sorted(set(MONTHS).union(*(s.months.tolist() for s in sequences)))
    height, width = sequences[0].images.shape[-2:]
    rows = 2 * len(sequences)
    # A narrow gap inside a sequence's RGB/NDVI pair, a wider one between sequences.
    row_tops = [
        number * (2 * height + _GAP + _SEQUENCE_GAP) + row * (height + _GAP)
        for number in range(len(sequences))
        for row in range(2)
    ]
    column_lefts = [column * (width + _GAP) for column in range(len(months))]
    canvas = np.ones((row_tops[-1] + height, column_lefts[-1] + width, 3))
    ndvi_colors = plt.get_cmap(NDVI_COLORMAP)
    blanks = []
    for number, sequence in enumerate(sequences):
        for column, month in enumerate(months):
            steps = np.flatnonzero(sequence.months == month)
            for row, top in enumerate(row_tops[2 * number : 2 * number + 2]):
                cell = np.s_[
                    top : top + height, column_lefts[column] : column_lefts[column] + width
                ]
                if len(steps) == 0:
                    canvas[cell] = _BLANK_GREY
                    blanks.append((column_lefts[column] + width / 2, top + height / 2))
                    continue
                image = sequence.images[steps[0]]
                if row == 0:
                    canvas[cell] = rgb_for_display(image[:3], stretch.gain)
                else:
                    canvas[cell] = ndvi_colors(image[3].astype(np.float64) / 255.0)[..., :3]

    figure, axes = plt.subplots(
        figsize=(1.3 * len(months) + 3.2, 1.3 * rows + 1.2), layout="constrained"
    )
    axes.imshow(canvas, interpolation="nearest")
    for x, y in blanks:
        axes.text(x, y, "no image", ha="center", va="center", fontsize=7, color="0.45")
    axes.set_xticks(
        [left + width / 2 for left in column_lefts], [calendar.month_name[m] for m in months]
    )
    axes.xaxis.tick_top()
    labels = []
    for sequence in sequences:
        labels += [f"sequence {sequence.index}\n{sequence.caption}\nRGB", "NDVI"]
    axes.set_yticks([top + height / 2 for top in row_tops], labels, fontsize=8)
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    # Pixel value v encodes the index as v / 255 (the dataset's uint8(index x 255)).
    scale = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=NDVI_COLORMAP)
    bar = figure.colorbar(scale, ax=axes, shrink=0.4)
    bar.set_label("NDVI")
    axes.set_title(
        f"{class_name}: {len(sequences)} of {class_size} sequences by month\n"
        f"RGB stretch shared by all classes: {stretch.describe()}"
    )
    return figure
