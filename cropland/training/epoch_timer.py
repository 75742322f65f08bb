"""Seconds per training epoch, for comparing the cost of models (the benchmark table).

Timed from the start of each training epoch to its end, which in Lightning comes after that
epoch's validation: the cost of one epoch as a user waits for it. The mean over the run's
epochs leaves out what happens once (data loading, the sanity check, testing).
"""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
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
