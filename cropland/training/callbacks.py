"""The Lightning callbacks that keep a run reproducible and comparable: a checkpoint that carries
on across a resume, epochs seeded from the run seed, and the time each epoch takes. The
TensorBoard figure callbacks are in :mod:`cropland.training.figures`."""

from __future__ import annotations

import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from cropland.data.sampling import epoch_seed


class ResumableModelCheckpoint(ModelCheckpoint):
    """A ModelCheckpoint that restores its whole state when a run resumes.

    Every run has its own folder, so a resumed run saves into another folder than the run it
    resumes. Lightning's ModelCheckpoint then forgets the best score so far, and the first epoch
    after the resume becomes "best" even when an earlier one scored higher: the run would no
    longer test the checkpoint an uninterrupted run tests. Checkpoints of the earlier folder
    stay where they are (Lightning never deletes files outside its own folder).
    """

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key in ("best_model_score", "kth_best_model_path", "kth_value", "best_k_models"):
            if key in state_dict:
                setattr(self, key, state_dict[key])
        self.last_model_path = state_dict.get("last_model_path", self.last_model_path)
        self.best_model_path = state_dict["best_model_path"]

    @property
    def state_key(self) -> str:
        # Stored under ModelCheckpoint's own key: checkpoints stay readable by tools that look
        # for it (the model card), and runs saved before this class resume into it.
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)


class BestScoreCurve(Callback):
    """``<monitored metric>_best`` in TensorBoard (``val/f1_macro_best``) after every epoch: the
    best score so far of the checkpoint that follows the optimized metric. A curve of its own,
    so that the HParams view compares runs on the score their sweep optimizes."""

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Lightning runs an epoch's validation, and so the checkpoint's update, before this.
        checkpoint = next((c for c in trainer.checkpoint_callbacks if c.monitor), None)
        if checkpoint is None or checkpoint.best_model_score is None:
            return
        best = {f"{checkpoint.monitor}_best": float(checkpoint.best_model_score)}
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.log_metrics(best, step=trainer.global_step)


class EpochSeeding(Callback):
    """Seeds torch, NumPy and Python from ``(seed, epoch, process rank)`` at each epoch start,
    for the random draws of the epoch (augmentation, dropout).

    Reseeding at every epoch start makes an epoch's draws independent of what ran before it in
    the process (a resumed run has not run the earlier epochs), so resuming at an epoch boundary
    gives exactly the run that was never interrupted.
    """

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(seed)
        np.random.seed(seed % 2**32)
        random.seed(seed)


class EpochTimer(Callback):
    """Seconds per training epoch, for comparing the cost of models (the benchmark table).

    Timed from the start of each training epoch to its end, which in Lightning comes after that
    epoch's validation: the cost of one epoch as a user waits for it. The mean over the run's
    epochs leaves out what happens once (data loading, the sanity check, testing).
    """

    def __init__(self) -> None:
        self._started: float | None = None
        self.durations: list[float] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._started is not None:
            self.durations.append(time.perf_counter() - self._started)
            self._started = None

    @property
    def seconds_per_epoch(self) -> float | None:
        return sum(self.durations) / len(self.durations) if self.durations else None
