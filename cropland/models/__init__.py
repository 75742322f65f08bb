"""Pure PyTorch models: each takes (batch, time, channels, H, W) and returns logits."""

from cropland.models.convlstm import ConvLSTMClassifier, ConvLSTMEncoder
from cropland.models.networks import NETWORKS, build_network
from cropland.models.published import load_published_checkpoint

__all__ = [
    "NETWORKS",
    "ConvLSTMClassifier",
    "ConvLSTMEncoder",
    "build_network",
    "load_published_checkpoint",
]
