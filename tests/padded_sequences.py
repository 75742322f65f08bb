"""The padded batch the model tests share: sequences of different lengths that skip months,
padded with garbage that must not reach any result."""

from __future__ import annotations

import torch
from torch import nn

CHANNELS = 4
LENGTHS = (5, 2, 3)
MONTHS = ([6, 7, 8, 9, 10], [7, 10], [6, 8, 9])

# Lengths a batch of two 3-step sequences cannot have, and the message each one gets.
BAD_LENGTHS = [
    ([3, 0], r"lengths must be from 1 to the time axis' 3 steps, got \[0\]"),
    ([-1, 2], r"got \[-1\]"),
    ([3, 4], r"got \[4\]"),
    ([[3, 3]], r"lengths must hold one value per sequence, shape \(2,\); got \(1, 2\)"),
    ([3], r"shape \(2,\); got \(1,\)"),
    ([3.0, 2.0], "lengths must be integers"),
]


def sequences(size: int = 17, seed: int = 1) -> list[torch.Tensor]:
    """Three sequences of LENGTHS steps, CHANNELS channels, ``size`` x ``size`` pixels."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, CHANNELS, size, size, generator=generator) for n in LENGTHS]


def pad(
    images: list[torch.Tensor], months: list[list[int]] = MONTHS
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``images`` and ``months`` as a padded batch (image, lengths, months), with garbage (100.0,
    not zeros) on the padding, which must not leak into any result."""
    steps = max(len(seq) for seq in images)
    batch = torch.full((len(images), steps, *images[0].shape[1:]), 100.0)
    batch_months = torch.zeros(len(images), steps, dtype=torch.long)
    for i, (seq, m) in enumerate(zip(images, months, strict=True)):
        batch[i, : len(seq)] = seq
        batch_months[i, : len(m)] = torch.tensor(m)
    return batch, torch.tensor([len(seq) for seq in images]), batch_months


def one_by_one(
    model: nn.Module, images: list[torch.Tensor], months: list[list[int]] = MONTHS
) -> torch.Tensor:
    """Each sequence through ``model`` alone, unpadded: the logits a padded batch must give."""
    return torch.cat(
        [
            model(seq[None], torch.tensor([len(seq)]), torch.tensor([m]))
            for seq, m in zip(images, months, strict=True)
        ]
    )
