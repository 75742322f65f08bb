"""Augmentation in time: training sequences lose some of their months, as clouds would take them.

A real season misses months at random (clouds, haze, a satellite's gap), and a model that has
only seen the months a training sequence happened to have leans on those. Dropping months at
random while training makes it use what the rest of the season says. The kept steps move to
the front, in their order, so the batch keeps the layout every model takes: valid steps first,
zero padding after ``lengths``, ``months`` 0 on padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cropland.errors import CroplandError


class TemporalAugmentation:
    """Drops each valid step of a training batch with probability ``month_dropout``; every
    sequence keeps at least one step. ``month_dropout=0`` leaves batches untouched."""

    def __init__(self, month_dropout: float = 0.0) -> None:
        if isinstance(month_dropout, bool) or not isinstance(month_dropout, (int, float)):
            raise CroplandError(
                f"data.augmentation.month_dropout={month_dropout!r}: expected a probability "
                "in [0, 1), e.g. 0.2"
            )
        if not 0 <= month_dropout < 1:
            raise CroplandError(
                f"data.augmentation.month_dropout={month_dropout}: expected a probability in "
                "[0, 1) (0 turns it off)"
            )
        self.month_dropout = float(month_dropout)

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        if self.month_dropout == 0:
            return batch
        image, months = batch["image"], batch["months"]
        device = image.device
        lengths = batch["lengths"].to(device)
        size, steps = months.shape
        position = torch.arange(steps, device=device)
        valid = position[None, :] < lengths[:, None]
        draw = torch.rand(size, steps, generator=generator, device=device)
        keep = valid & (draw >= self.month_dropout)
        # A sequence that lost every step keeps one of its own, drawn uniformly.
        rescue = torch.rand(size, generator=generator, device=device)
        chosen = (rescue * lengths).long().clamp(max=steps - 1)
        keep |= (~keep.any(1))[:, None] & (position[None, :] == chosen[:, None])
        return compact_steps(batch, keep)


def compact_steps(batch: dict, keep: Tensor) -> dict:
    """``batch`` with only the steps where ``keep`` (batch, time) is True, moved to the front
    in their order; padding zeroed, time trimmed to the longest sequence left."""
    image, months = batch["image"], batch["months"]
    device = image.device
    keep = keep.to(device)
    size, steps = keep.shape
    # A stable sort of "dropped" puts the kept steps first, in time order.
    order = torch.sort((~keep).to(torch.uint8), dim=1, stable=True).indices
    lengths = keep.sum(1)
    longest = max(int(lengths.max()), 1)
    order = order[:, :longest]
    rows = torch.arange(size, device=device)[:, None]
    valid = torch.arange(longest, device=device)[None, :] < lengths[:, None]
    image = image[rows, order]
    image = image * valid.view(size, longest, *([1] * (image.dim() - 2))).to(image.dtype)
    months = months.to(device)[rows, order].masked_fill(~valid, 0)
    return {
        **batch,
        "image": image,
        "months": months,
        "lengths": lengths.to(batch["lengths"].device),
        "mask": valid.to(batch["mask"].device) if "mask" in batch else valid,
    }
