"""Shuffling that depends only on the run's seed and the epoch, so a resumed run sees the same
order as an uninterrupted one."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
import torch
from torch.utils.data import RandomSampler


def epoch_seed(seed: int, epoch: int, *more: int) -> int:
    """A 63-bit seed for one epoch of one run (and, in ``more``, e.g. one process of DDP)."""
    state = np.random.SeedSequence([int(seed), int(epoch), *map(int, more)]).generate_state(2)
    return int((int(state[0]) << 32 | int(state[1])) & (2**63 - 1))


class EpochShuffleSampler(RandomSampler):
    """A random permutation per epoch, drawn from ``epoch_seed(seed, epoch)`` alone.

    Lightning calls :meth:`set_epoch` before each training epoch. A RandomSampler subclass, so
    that under DDP Lightning replaces it with its DistributedSampler, which shuffles by seed and
    epoch as well.
    """

    def __init__(self, data_source: Sized, seed: int, epoch: int = 0) -> None:
        super().__init__(data_source)
        self.seed = seed
        self.epoch = epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()
