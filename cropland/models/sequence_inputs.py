"""What every sequence model shares about its inputs: checks of ``lengths`` and settings, and
the month planes that tell a model when each image was taken.

Every model takes a batch ``image`` (batch, time, channels, H, W), ``lengths`` (valid steps per
sequence, padding after) and ``months`` (1-12 per step) and returns logits.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import Tensor, nn

from cropland.errors import CroplandError


def check_lengths(x: Tensor, lengths: Tensor | None) -> None:
    """Raise ValueError unless ``x`` is (batch, time >= 1, ...) and every ``lengths`` value is a
    step count from 1 to time: else the readout would pick no step, or one past the sequence,
    and return plausible logits computed from the wrong state.

    It reads ``lengths``'s values, so callers skip it while TorchScript compiles or
    ``torch.export`` traces the model: a check on tensor values has no place in an exported
    graph (exported files do not check ``lengths``, as their model card says).
    """
    if x.dim() != 5:
        raise ValueError(
            f"expected images of shape (batch, time, channels, H, W), got {tuple(x.shape)}"
        )
    batch, steps = x.shape[:2]
    if steps < 1:
        raise ValueError("the sequences have no time step (time axis of size 0)")
    if lengths is None:
        return
    if lengths.shape != (batch,):
        raise ValueError(
            f"lengths must hold one value per sequence, shape ({batch},); got "
            f"{tuple(lengths.shape)}"
        )
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise ValueError(
            f"lengths must be integers (valid steps per sequence), got {lengths.dtype}"
        )
    if batch and not bool(((lengths >= 1) & (lengths <= steps)).all()):
        bad = lengths[(lengths < 1) | (lengths > steps)]
        raise ValueError(
            f"lengths must be from 1 to the time axis' {steps} steps, got {bad.tolist()}; a "
            "sequence needs at least one real step, and padding comes after its last one"
        )


def check_in_eager(
    check: Callable[[Tensor, Tensor | None], None], x: Tensor, lengths: Tensor | None
) -> None:
    """Run an input check unless ``torch.export`` is tracing (as for ONNX): the checks read
    tensor values, which export cannot turn into a graph."""
    if not torch.compiler.is_exporting():
        check(x, lengths)


def is_whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class MonthEncoding(nn.Module):
    """Two constant planes, sin and cos of the month angle, appended to each time step.

    Real sequences skip months (cloud cover); without this a July-August-October sequence and
    a June-July-August one would look alike to the recurrence.
    """

    out_channels = 2

    def forward(self, x: Tensor, months: Tensor) -> Tensor:
        angle = (months.to(x.dtype) - 1) * (2 * math.pi / 12)
        planes = torch.stack([torch.sin(angle), torch.cos(angle)], dim=2)
        planes = planes[..., None, None].expand(-1, -1, -1, x.shape[-2], x.shape[-1])
        return torch.cat([x, planes], dim=2)


def check_dropout(dropout: object) -> None:
    """``model.net.dropout`` must be a share from 0 up to, not including, 1."""
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise CroplandError(
            f"model.net.dropout={dropout!r}: expected a share of features to drop, from 0 "
            "(none) up to, not including, 1; e.g. model.net.dropout=0.2"
        )


def valid_steps(lengths: Tensor | None, batch: int, steps: int, device: torch.device) -> Tensor:
    """(batch, time) bool: True at each sequence's real steps, False on padding."""
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=device)
    return torch.arange(steps, device=device)[None, :] < lengths.to(device)[:, None]


def check_downsample(downsample: object) -> None:
    """``model.net.downsample``: the factor patches are average-pooled by, a whole number >= 1."""
    if not is_whole(downsample) or downsample < 1:
        raise CroplandError(
            f"model.net.downsample={downsample!r}: expected a whole number of at least 1, "
            "the factor the patches are average-pooled by (1 keeps the full size)"
        )


def check_pooled_size(image: Tensor, downsample: int) -> None:
    """The pooling must leave at least one pixel. Checked on the input, not when the model is
    built: models take any image size, which only the input tells (65x65 for the patches)."""
    height, width = image.shape[-2:]
    if min(height, width) < downsample:
        raise CroplandError(
            f"model.net.downsample={downsample} pools the {height}x{width} images to nothing; "
            f"it must be at most {min(height, width)} (1 keeps the full size)"
        )
