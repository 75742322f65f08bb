"""A CropSequenceClassifier around any network, with four channels, three classes and made-up
normalization: the LightningModule the exporters and the model loader take, without training."""

from __future__ import annotations

import torch

from cropland.training.module import CropSequenceClassifier

CHANNELS = ["red", "green", "blue", "ndvi45"]
CLASSES = ["BARLEY", "CANOLA", "CORN"]

# The default network, centre attention and statistics included, small enough for a CPU test.
SMALL_TAE = {
    "_target_": "cropland.models.tae.LTAEClassifier",
    "encoder_widths": [6, 8],
    "d_model": 12,
    "n_head": 3,
    "d_k": 4,
    "mlp": [12, 8],
    "downsample": 2,
    "pooling": "centre_attention",
    "pooling_heads": 2,
    "statistics_centre": 5,
}


def classifier_around(net: dict, **run_options: bool) -> CropSequenceClassifier:
    """The network ``net`` describes (``_target_`` and settings) inside the LightningModule, in
    eval mode, its weights drawn from seed 0; ``run_options``: channels_last, compile."""
    torch.manual_seed(0)
    return CropSequenceClassifier(
        net=net,
        optimizer={},
        classes=CLASSES,
        channels=CHANNELS,
        channel_mean=[0.2, 0.3, 0.25, 0.4],
        channel_std=[0.05, 0.1, 0.07, 0.2],
        **run_options,
    ).eval()
