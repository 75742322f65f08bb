"""The padded batch the model tests share: sequences of different lengths that skip months,
padded with garbage that must not reach any result."""

from __future__ import annotations

import torch


def padded_batch() -> tuple[list, list, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three sequences of 5, 2 and 3 steps (4 channels, 17x17) that skip months, and their
    batch padded to 5 steps with 100.0: (sequences, months, batch, lengths, batch months)."""
    torch.manual_seed(1)
    lengths = [5, 2, 3]
    sequences = [torch.randn(n, 4, 17, 17) for n in lengths]
    months = [torch.tensor([6, 7, 8, 9, 10]), torch.tensor([7, 10]), torch.tensor([6, 8, 9])]
    batch = torch.full((3, 5, 4, 17, 17), 100.0)
    batch_months = torch.zeros(3, 5, dtype=torch.long)
    for i, (seq, m) in enumerate(zip(sequences, months, strict=True)):
        batch[i, : len(seq)] = seq
        batch_months[i, : len(m)] = m
    return sequences, months, batch, torch.tensor(lengths), batch_months
