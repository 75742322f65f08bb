"""The features of the non-deep baselines: one row of numbers per sequence.

Per month of the season (``MONTHS``) and channel: the mean over the patch's centre square, the
mean over the whole patch and the standard deviation over the whole patch, all on the [0, 1]
scale; per month a presence flag (1 when the sequence has an image that month, else 0). A
month without an image has NaN for its pixel features: scikit-learn's forests and gradient
boosting split on missing values, so an absent month is not read as a black image.

Columns, for the kinds in the order given: ``centre_mean`` (months x channels, month-major),
``patch_mean`` and ``patch_std`` (the same), ``presence`` (months). Pixels come from the
DataModule's datasets: the in-memory array when the DataModule read the file at once, else
one sequence at a time through the dataset.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from cropland.data.layout import MONTHS
from cropland.data.sequence_dataset import CropSequenceDataset
from cropland.errors import CroplandError

FEATURE_KINDS = ("centre_mean", "patch_mean", "patch_std", "presence")
# Records whose pixels are gathered from the in-memory array at once: a few tens of MB of
# uint8 and of their int64 squares, whatever the size of the file.
_CHUNK = 512
# Month number (1-12) -> its column in the season, -1 for a month outside it.
_MONTH_COLUMN = np.full(13, -1, dtype=np.int64)
_MONTH_COLUMN[list(MONTHS)] = np.arange(len(MONTHS))


def check_feature_settings(kinds: object, centre: object) -> tuple[list[str], int]:
    """``features.kinds`` and ``features.centre`` as a list of kinds and a side in pixels, or
    one line naming the key that cannot work."""
    names = list(kinds) if isinstance(kinds, Sequence) and not isinstance(kinds, str) else None
    if (
        not names
        or any(name not in FEATURE_KINDS for name in names)
        or len(set(names)) < len(names)
    ):
        raise CroplandError(
            f"features.kinds={kinds!r}: expected a list of distinct kinds out of "
            f"{', '.join(FEATURE_KINDS)}, e.g. 'features.kinds=[centre_mean,presence]'"
        )
    if not isinstance(centre, int) or isinstance(centre, bool) or centre < 1:
        raise CroplandError(
            f"features.centre={centre!r}: expected the side of the centre square in pixels, "
            "a whole number of at least 1, e.g. 17"
        )
    return [str(name) for name in names], centre


def sequence_features(
    dataset: CropSequenceDataset, kinds: Sequence[str], centre: int
) -> np.ndarray:
    """(sequences, columns) float32 features of ``dataset`` (see the module's docstring)."""
    kinds, centre = check_feature_settings(kinds, centre)
    channels = len(dataset.channel_indices)
    lengths = dataset.lengths.astype(np.int64)
    sequence_of_record = np.repeat(np.arange(len(dataset)), lengths)
    # Each record's number in the file: sequence i holds records starts[i]:starts[i] + lengths[i].
    first = np.repeat(dataset.starts.astype(np.int64) - (np.cumsum(lengths) - lengths), lengths)
    records = first + np.arange(len(sequence_of_record))
    column = _MONTH_COLUMN[dataset.months[records]]
    # Only months of the season have a column; a record of another month adds nothing.
    kept = column >= 0

    pixel_kinds = [kind for kind in kinds if kind != "presence"]
    per_record = {kind: np.empty((len(records), channels)) for kind in pixel_kinds}
    for rows, block in _pixel_blocks(dataset, records):
        stats = _record_statistics(block, centre, pixel_kinds)
        for kind in pixel_kinds:
            per_record[kind][rows] = stats[kind]

    blocks = []
    for kind in kinds:
        if kind == "presence":
            presence = np.zeros((len(dataset), len(MONTHS)))
            presence[sequence_of_record[kept], column[kept]] = 1
            blocks.append(presence)
            continue
        # A sequence has at most one image per month (one record per point and date), so no
        # two records fill the same cell.
        values = np.full((len(dataset), len(MONTHS), channels), np.nan)
        values[sequence_of_record[kept], column[kept]] = per_record[kind][kept]
        blocks.append(values.reshape(len(dataset), -1))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def _pixel_blocks(
    dataset: CropSequenceDataset, records: np.ndarray
) -> Iterator[tuple[slice, np.ndarray]]:
    """uint8 (records, channels, H, W) blocks of ``records`` in order, with the rows they fill."""
    if dataset.pixels is not None:
        for low in range(0, len(records), _CHUNK):
            rows = slice(low, low + _CHUNK)
            yield rows, dataset.pixels[records[rows]]
        return
    low = 0
    for item in range(len(dataset)):
        image = dataset[item]["image"].numpy()
        yield slice(low, low + len(image)), image
        low += len(image)


def _record_statistics(
    block: np.ndarray, centre: int, kinds: Sequence[str]
) -> dict[str, np.ndarray]:
    """(records, channels) statistics of a uint8 block on the [0, 1] scale, from exact integer
    sums (a float32 sum of a 65 x 65 patch loses digits the tests compare)."""
    size = block.shape[-1]
    if centre > size:
        raise CroplandError(
            f"features.centre={centre}: larger than the patches ({size} x {size} pixels); "
            f"expected at most {size}"
        )
    stats = {}
    if "centre_mean" in kinds:
        low = (size - centre) // 2
        square = block[..., low : low + centre, low : low + centre]
        stats["centre_mean"] = square.sum(axis=(-2, -1), dtype=np.int64) / (255 * centre**2)
    if "patch_mean" in kinds or "patch_std" in kinds:
        count = block.shape[-2] * block.shape[-1]
        total = block.sum(axis=(-2, -1), dtype=np.int64)
        stats["patch_mean"] = total / (255 * count)
        if "patch_std" in kinds:
            squares = np.square(block, dtype=np.int64).sum(axis=(-2, -1))
            # count^2 * variance, exact in integers.
            spread = count * squares - np.square(total)
            stats["patch_std"] = np.sqrt(spread) / (255 * count)
    return stats
