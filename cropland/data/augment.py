"""Geometric augmentation of image sequences, run on the batch after it reaches the device.

A field does not rotate between two satellite passes: every time step and channel of one
sequence gets the same transform (the published project drew a new one per step, which
breaks the pixel-wise correspondence the ConvLSTM relies on). Sequences in a batch differ.
``per_step=True`` brings the published behaviour back, only to reproduce its results.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropland.errors import CroplandError

# grid_sample's padding modes that make sense for satellite patches.
_FILLS = ("reflection", "zeros")


class SequenceAugmentation(nn.Module):
    """Random dihedral transforms (flips, 90-degree rotations) and optional small affine moves.

    Input and output: (batch, time, channels, H, W) float images with H == W. ``fill`` is
    what the affine move brings in at the borders: ``reflection`` of the patch, or ``zeros``
    (torchvision's default, which the published project used).
    """

    def __init__(
        self,
        flip: bool = True,
        rotate90: bool = True,
        rotation_degrees: float = 0.0,
        translate_fraction: float = 0.0,
        fill: str = "reflection",
        per_step: bool = False,
    ) -> None:
        super().__init__()
        if fill not in _FILLS:
            raise CroplandError(
                f"data.augmentation.fill={fill!r}: expected one of {', '.join(_FILLS)}"
            )
        self.flip = flip
        self.rotate90 = rotate90
        self.rotation_degrees = rotation_degrees
        self.translate_fraction = translate_fraction
        self.fill = fill
        self.per_step = per_step

    def forward(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.per_step:
            # Every step is its own "sequence" of length one: a new draw per step.
            batch, steps = image.shape[:2]
            moved = self._transform(image.flatten(0, 1).unsqueeze(1), generator)
            return moved.view(batch, steps, *image.shape[2:])
        return self._transform(image, generator)

    def _transform(self, image: Tensor, generator: torch.Generator | None) -> Tensor:
        batch = image.shape[0]
        device = image.device
        # Each transform touches only the sequences drawn for it: transforming the whole batch
        # and selecting afterwards did the work of four batches.
        if self.flip or self.rotate90:
            image = image.clone()  # the caller's batch stays as it was
        if self.flip:
            flipped = torch.rand(batch, generator=generator, device=device) < 0.5
            _apply_in_place(image, flipped, lambda chosen: chosen.flip(-1))
        if self.rotate90:
            turns = torch.randint(0, 4, (batch,), generator=generator, device=device)
            for k in range(1, 4):
                _apply_in_place(image, turns == k, lambda chosen, k=k: chosen.rot90(k, (-2, -1)))
        if self.rotation_degrees > 0 or self.translate_fraction > 0:
            image = self._affine(image, generator)
        return image

    def _affine(self, image: Tensor, generator: torch.Generator | None) -> Tensor:
        batch, steps = image.shape[:2]
        device = image.device

        def uniform(limit: float) -> Tensor:
            return (torch.rand(batch, generator=generator, device=device) * 2 - 1) * limit

        angle = uniform(math.radians(self.rotation_degrees))
        # affine_grid works in [-1, 1] coordinates, so a shift of f * width is 2f.
        shift_x = uniform(2 * self.translate_fraction)
        shift_y = uniform(2 * self.translate_fraction)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, shift_x], -1), torch.stack([sin, cos, shift_y], -1)], dim=1
        ).to(image.dtype)
        # One matrix per sequence, repeated over its time steps.
        theta = theta.repeat_interleave(steps, dim=0)
        frames = image.flatten(0, 1)
        grid = F.affine_grid(theta, list(frames.shape), align_corners=False)
        moved = F.grid_sample(frames, grid, padding_mode=self.fill, align_corners=False)
        return moved.view_as(image)


def _apply_in_place(image: Tensor, chosen: Tensor, transform) -> None:
    """Replace the sequences of ``image`` where ``chosen`` is True by their ``transform``."""
    index = chosen.nonzero().squeeze(1)
    if len(index):
        image[index] = transform(image[index])
