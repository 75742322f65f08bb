"""Pure PyTorch models: each takes (batch, time, channels, H, W) and returns logits."""

from cropland.models.convlstm import ConvLSTMClassifier, ConvLSTMEncoder

__all__ = ["ConvLSTMClassifier", "ConvLSTMEncoder"]
