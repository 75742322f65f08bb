"""TensorBoard confusion matrices: validation every few epochs, test once.

Drawing a 10-class matrix with matplotlib took 0.23 s, an eighth of a default-run epoch
(Lightning's simple profiler): hence ``every_n_epochs``. The matrices themselves are
computed every epoch by the LightningModule (``pl_module.confusion``); only the drawing waits.
"""

from __future__ import annotations

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger

from cropland.plotting import plt
from cropland.training.figure_cadence import check_every_n_epochs, is_figure_epoch
from cropland.training.report import confusion_matrix_figure


class ConfusionMatrixFigures(L.Callback):
    """Logs ``val/confusion_matrix`` on the first epoch and every ``every_n_epochs``-th after
    it, and ``test/confusion_matrix`` after testing."""

    def __init__(self, every_n_epochs: int = 5) -> None:
        self.every_n_epochs = check_every_n_epochs(
            every_n_epochs, "callbacks.confusion_figures.every_n_epochs"
        )

    # on_*_end, not on_*_epoch_end: Lightning calls callbacks' epoch-end hooks before the
    # LightningModule's, which computes the matrix.
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and is_figure_epoch(trainer, self.every_n_epochs):
            self._log(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "test")

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        confusion = pl_module.confusion.get(stage)
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if confusion is None or not loggers:
            return
        figure = confusion_matrix_figure(confusion.numpy(), list(pl_module.classes))
        for logger in loggers:
            logger.experiment.add_figure(
                f"{stage}/confusion_matrix", figure, global_step=trainer.global_step
            )
        plt.close(figure)
