"""Loading a trained model for use outside training: the one place that decides whether a
file is a checkpoint of ``scripts/train.py`` or the published project's ``best_model.pth``.

Shared by the scripts that use a trained model (export, eval, predict): each gets the same
checks and the same one-line errors for a wrong file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cropland.data.channels import sensors_of_channels
from cropland.data.layout import CLASSES
from cropland.models.convlstm import ConvLSTMClassifier
from cropland.models.published import (
    PUBLISHED_ARCHITECTURE,
    PUBLISHED_CHANNELS,
    is_published_state_dict,
    published_from_state_dict,
)
from cropland.training.checkpoint_reading import (
    check_checkpoint,
    classifier_arguments,
    load_weights_only,
)

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier


@dataclass
class LoadedModel:
    """Either a ready classifier (ours) or the published network, which still needs the
    normalization statistics of the data it is scored on (:func:`wrap_published`)."""

    path: Path
    classifier: CropSequenceClassifier | None
    published_net: ConvLSTMClassifier | None
    run_folder: Path | None

    @property
    def is_published(self) -> bool:
        return self.published_net is not None

    @property
    def channels(self) -> list[str]:
        if self.classifier is not None:
            return list(self.classifier.hparams.channels)
        return list(PUBLISHED_CHANNELS)

    def data_settings(self) -> dict:
        """What a DataModule must load for this model: its channels, and normalization
        statistics over every sequence for the published weights (their recipe), over the
        training split otherwise."""
        return {
            "channels": sensors_of_channels(self.channels),
            "statistics": "all" if self.is_published else "train",
        }


def load_model(ckpt_path: str | os.PathLike) -> LoadedModel:
    """A checkpoint of ours or the published weights, told apart by content (the file is read
    once, with ``weights_only=True``). Anything else raises our checkpoint's one-line error,
    which says what was expected."""
    path = Path(ckpt_path)
    contents = load_weights_only(path)
    if isinstance(contents, dict) and is_published_state_dict(contents):
        return LoadedModel(path, None, published_from_state_dict(contents, path), None)
    classifier = classifier_from_checkpoint(contents, path)
    return LoadedModel(path, classifier, None, run_folder_of(path))


def wrap_published(
    net: ConvLSTMClassifier, channel_mean: list[float], channel_std: list[float]
) -> CropSequenceClassifier:
    """The published network with normalization in front, like our own classifiers."""
    from cropland.training.module import CropSequenceClassifier  # see classifier_from_checkpoint

    module = CropSequenceClassifier(
        net={
            "_target_": "cropland.models.convlstm.ConvLSTMClassifier",
            **PUBLISHED_ARCHITECTURE,
            "readout": net.encoder.readout,
        },
        optimizer={},
        classes=list(CLASSES),
        channels=list(PUBLISHED_CHANNELS),
        channel_mean=channel_mean,
        channel_std=channel_std,
    )
    module.net.load_state_dict(net.state_dict())
    return module.eval()


def classifier_from_checkpoint(
    checkpoint: dict[str, Any], ckpt_path: str | os.PathLike
) -> CropSequenceClassifier:
    """The classifier described by a checkpoint loaded from ``ckpt_path``
    (:func:`load_weights_only`), in eval mode. Checked first (:func:`check_checkpoint`): its
    weights fit the network its hyperparameters build, so building it costs no more memory
    than they take."""
    # Imported here: Lightning takes seconds to import, and a script that only reports a wrong
    # path (load_weights_only) should not wait for it.
    from cropland.training.module import CropSequenceClassifier

    check_checkpoint(checkpoint, ckpt_path)
    model = CropSequenceClassifier(**classifier_arguments(checkpoint["hyper_parameters"]))
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def load_classifier(ckpt_path: str | os.PathLike) -> CropSequenceClassifier:
    """A :class:`CropSequenceClassifier` from a checkpoint of ``scripts/train.py``: on the CPU,
    in eval mode, with its classes, channel order and normalization statistics.

    Raises :class:`CroplandError` for a missing file, a file that is not such a checkpoint, or
    the published project's ``best_model.pth`` (use
    :func:`cropland.models.load_published_checkpoint` for that one).
    """
    return classifier_from_checkpoint(load_weights_only(ckpt_path), ckpt_path)


def run_folder_of(ckpt_path: str | os.PathLike) -> Path | None:
    """The training run folder (absolute) whose ``checkpoints/`` holds ``ckpt_path``: the one
    with the run's ``config.yaml`` and ``metrics.json``. None for a checkpoint kept elsewhere."""
    folder = Path(ckpt_path).resolve().parent
    if folder.name == "checkpoints" and (folder.parent / "config.yaml").is_file():
        return folder.parent
    return None
