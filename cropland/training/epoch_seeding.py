"""Random draws of each training epoch (augmentation, dropout) from the run seed and the epoch.

Reseeding at every epoch start makes an epoch's draws independent of what ran before it in the
process (a resumed run has not run the earlier epochs), so resuming at an epoch boundary gives
exactly the run that was never interrupted.
"""

from __future__ import annotations

import random

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from cropland.data.sampling import epoch_seed


class EpochSeeding(Callback):
    """Seeds torch, NumPy and Python from ``(seed, epoch, process rank)`` at each epoch start."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)
