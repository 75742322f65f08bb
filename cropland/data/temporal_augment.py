"""Augmentation in time: training sequences lose some of their months, as clouds would take them,
and end early, as a season in progress does.

A real season misses months at random (clouds, haze, a satellite's gap), and a model that has
only seen the months a training sequence happened to have leans on those. Dropping months at
random while training makes it use what the rest of the season says. A model asked in July has
seen the season up to July only: cutting training sequences at a random last month teaches it
to answer from any beginning of the season. The kept steps move to the front, in their order,
so the batch keeps the layout every model takes: valid steps first, zero padding after
``lengths``, ``months`` 0 on padding.
"""

from __future__ import annotations

import torch
from torch import Tensor

from cropland.errors import CroplandError


class TemporalAugmentation:
    """With probability ``truncate``, cuts a training sequence after a random one of its steps
    (its first at least: the season up to a random month); then drops each valid step with
    probability ``month_dropout``. Every sequence keeps at least one step; both at 0 leave
    batches untouched."""

    def __init__(self, month_dropout: float = 0.0, truncate: float = 0.0) -> None:
        self.month_dropout = _probability(month_dropout, "month_dropout", "0.2", below_one=True)
        self.truncate = _probability(truncate, "truncate", "0.5", below_one=False)

    def __call__(self, batch: dict, generator: torch.Generator | None = None) -> dict:
        if self.truncate > 0:
            batch = self._truncate(batch, generator)
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

    def _truncate(self, batch: dict, generator: torch.Generator | None) -> dict:
        months = batch["months"]
        device = batch["image"].device
        lengths = batch["lengths"].to(device)
        size, steps = months.shape
        cut = torch.rand(size, generator=generator, device=device) < self.truncate
        # The number of steps kept, uniform from 1 to the sequence's length.
        kept = (torch.rand(size, generator=generator, device=device) * lengths).long() + 1
        kept = torch.where(cut, torch.minimum(kept, lengths), lengths)
        position = torch.arange(steps, device=device)
        return compact_steps(batch, position[None, :] < kept[:, None])


def _probability(value, name: str, example: str, below_one: bool) -> float:
    upper = "1)" if below_one else "1]"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CroplandError(
            f"data.augmentation.{name}={value!r}: expected a probability in [0, {upper}, "
            f"e.g. {example}"
        )
    if not (0 <= value < 1 if below_one else 0 <= value <= 1):
        raise CroplandError(
            f"data.augmentation.{name}={value}: expected a probability in [0, {upper} "
            "(0 turns it off)"
        )
    return float(value)


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
