"""Loading a checkpoint written by ``scripts/train.py`` for use outside training.

Shared by the scripts that use a trained model (export, eval, predict): each gets the same
checks and the same one-line errors for a wrong file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cropland.errors import CroplandError, short_reason
from cropland.training.checkpoint_file import TRAINING_ONLY_HPARAMS, read_checkpoint

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier


def classifier_from_checkpoint(
    checkpoint: dict[str, Any], ckpt_path: str | os.PathLike
) -> CropSequenceClassifier:
    """The classifier described by a checkpoint from :func:`read_checkpoint`, in eval mode."""
    # Imported here: Lightning takes seconds to import, and a script that only reports a wrong
    # path (read_checkpoint) should not wait for it.
    from cropland.training.module import CropSequenceClassifier

    # The optimizer and scheduler are left out: a model in use never builds them.
    hparams = {
        key: value
        for key, value in checkpoint["hyper_parameters"].items()
        if key not in TRAINING_ONLY_HPARAMS
    }
    try:
        model = CropSequenceClassifier(optimizer={}, **hparams)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError) as error:
        raise CroplandError(
            f"ckpt_path={ckpt_path} does not fit this version of cropland's "
            f"CropSequenceClassifier ({short_reason(error)}); use the cropland version that "
            "wrote it"
        ) from error
    return model.eval()


def load_classifier(ckpt_path: str | os.PathLike) -> CropSequenceClassifier:
    """A :class:`CropSequenceClassifier` from a checkpoint of ``scripts/train.py``: on the CPU,
    in eval mode, with its classes, channel order and normalization statistics.

    Raises :class:`CroplandError` for a missing file, a file that is not such a checkpoint, or
    the published project's ``best_model.pth`` (use
    :func:`cropland.models.load_published_checkpoint` for that one).
    """
    return classifier_from_checkpoint(read_checkpoint(ckpt_path), ckpt_path)


def run_folder_of(ckpt_path: str | os.PathLike) -> Path | None:
    """The training run folder (absolute) whose ``checkpoints/`` holds ``ckpt_path``: the one
    with the run's ``config.yaml`` and ``metrics.json``. None for a checkpoint kept elsewhere."""
    folder = Path(ckpt_path).resolve().parent
    if folder.name == "checkpoints" and (folder.parent / "config.yaml").is_file():
        return folder.parent
    return None
