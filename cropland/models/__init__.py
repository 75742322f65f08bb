"""Pure PyTorch models: each takes (batch, time, channels, H, W) and returns logits."""

from cropland.models.convlstm import ConvLSTMClassifier, ConvLSTMEncoder
from cropland.models.published import load_published_checkpoint

__all__ = ["ConvLSTMClassifier", "ConvLSTMEncoder", "load_published_checkpoint"]
