"""The model to score: a checkpoint of ours, or the published project's ``best_model.pth``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cropland.data.layout import CLASSES
from cropland.errors import CroplandError
from cropland.inference.checkpoint import load_classifier, run_folder_of
from cropland.models.convlstm import ConvLSTMClassifier
from cropland.models.published import (
    PUBLISHED_ARCHITECTURE,
    PUBLISHED_CHANNELS,
    load_published_checkpoint,
)
from cropland.training.module import CropSequenceClassifier


@dataclass
class LoadedModel:
    """Either a ready classifier (ours) or the published network, which still needs the
    normalization statistics of the data it is scored on."""

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


def load_model(path: str | Path) -> LoadedModel:
    path = Path(path)
    try:
        classifier = load_classifier(path)
    except CroplandError as ours:
        try:
            net = load_published_checkpoint(path)
        except CroplandError:
            raise ours from None  # neither: our loader's message says what was expected
        return LoadedModel(path, None, net, None)
    return LoadedModel(path, classifier, None, run_folder_of(path))


def wrap_published(
    net: ConvLSTMClassifier, channel_mean: list[float], channel_std: list[float]
) -> CropSequenceClassifier:
    """The published network with normalization in front, like our own classifiers."""
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
