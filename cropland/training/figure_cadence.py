"""How often the TensorBoard figure callbacks draw: drawing costs more than a default-run
epoch's training steps, so they draw on the first epoch and every n-th after it."""

from __future__ import annotations

import lightning as L

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import is_whole


def check_every_n_epochs(value: object, key: str) -> int:
    """``value`` as a whole number >= 1, or one line naming ``key``."""
    if not is_whole(value) or value < 1:
        raise CroplandError(
            f"{key}={value!r}: expected a whole number of epochs >= 1 (1 draws every epoch), "
            f"e.g. {key}=5"
        )
    return value


def is_figure_epoch(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """Epochs 0, n, 2n, ...: the first shows the untrained start, the rest the progress."""
    return trainer.current_epoch % every_n_epochs == 0
