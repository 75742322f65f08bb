"""What an exported model needs of its inputs, checked before it runs, since the file cannot.

ONNX has no operator that raises, so an exported ONNX model takes any ``lengths``, ``months``
and time axis without a word and returns logits that mean nothing (the model card says what
each does); the TorchScript file does not check months either. :func:`check_exported_inputs`
refuses such inputs in one line; the exporter's own runs of the files go through it.

An empty batch is fine: the files return ``(0, classes)``, as PyTorch does.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from cropland.errors import CroplandError

_EXPECTED = (
    "expected image (batch, time >= 1, channels, 65, 65), lengths (batch,) with "
    "1 <= lengths[i] <= time, months (batch, time) with calendar months 1-12 on real steps"
)


def check_exported_inputs(
    image: ArrayLike, lengths: ArrayLike, months: ArrayLike, uses_months: bool = True
) -> None:
    """Raise :class:`CroplandError` unless the three inputs are what an exported model takes:
    ``image`` (batch, time >= 1, channels, H, W); ``lengths`` (batch,) whole numbers from 1 to
    time; ``months`` (batch, time) whole numbers, from 1 to 12 on each sequence's real steps
    (padding may hold anything) unless the model ignores them (``uses_months=False``, as its
    card's ``months.uses_month_encoding`` says). Looks at shapes before values.
    """
    shape = tuple(np.shape(image))
    if len(shape) != 5:
        raise CroplandError(f"image has shape {shape}; {_EXPECTED}")
    batch, steps = shape[:2]
    if steps < 1:
        raise CroplandError(
            f"image has no time step (shape {shape}); every sequence needs at least one real "
            "step: leave out sequences without images"
        )
    lengths = _whole_numbers("lengths", lengths, (batch,))
    months = _whole_numbers("months", months, (batch, steps))
    bad = np.flatnonzero((lengths < 1) | (lengths > steps))
    if bad.size:
        i = int(bad[0])
        raise CroplandError(
            f"lengths[{i}] is {int(lengths[i])} ({bad.size} of {batch} sequences out of range); "
            f"expected the real steps of each sequence, from 1 to the time axis' {steps}"
        )
    if not uses_months:
        return
    real = np.arange(steps)[None, :] < lengths[:, None]
    bad_months = np.argwhere(real & ((months < 1) | (months > 12)))
    if len(bad_months):
        i, t = (int(v) for v in bad_months[0])
        raise CroplandError(
            f"months[{i}, {t}] is {int(months[i, t])} on a real step (lengths[{i}] is "
            f"{int(lengths[i])}; {len(bad_months)} such steps); expected calendar months 1 to "
            "12 (padding steps may hold any value)"
        )


def _whole_numbers(name: str, values: ArrayLike, shape: tuple[int, ...]) -> np.ndarray:
    found = tuple(np.shape(values))
    if found != shape:
        raise CroplandError(f"{name} has shape {found}, expected {shape}; {_EXPECTED}")
    values = np.asarray(values)
    if values.dtype.kind not in "iu":
        raise CroplandError(f"{name} holds {values.dtype}, expected integers (int64); {_EXPECTED}")
    return values.astype(np.int64, copy=False)
