"""LRCN sequence classifier: a small CNN applied to every step, then an LSTM over time.

Follows J. Donahue et al., "Long-term Recurrent Convolutional Networks for Visual Recognition
and Description", CVPR 2015, as benchmarked on this data by A. A. Boatswain Jacques, A. B.
Diallo, E. Lord, "The Canadian Cropland Dataset", arXiv:2306.00114, 2023: one convolutional
encoder, shared by all steps, turns each image into a feature vector, and an LSTM reads the
vectors in time order.

Adapted here: the encoder is a few small convolution blocks (convolution, group norm, ReLU,
2x2 max pooling) ending in global average pooling, trained from scratch, instead of a
pretrained CaffeNet; group norm rather than batch norm because its statistics come from one
image, so padded steps of other sequences never enter them. Each step's vector can carry the
sin/cos of its month (sequences skip cloudy months). The class is read from the LSTM's hidden
state at each sequence's own last valid step, instead of Donahue et al.'s average of per-step
predictions: padding comes after a sequence's end, so a unidirectional LSTM read there gives a
padded batch the same logits as each sequence alone. The patches can be average-pooled first
for speed, as in the other models.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import (
    MonthEncoding,
    check_downsample,
    check_dropout,
    check_in_eager,
    check_lengths,
    check_pooled_size,
    is_whole,
    valid_steps,
)


def _check_settings(
    cnn_channels: list, kernel_sizes: list, hidden_size: object, lstm_layers: object
) -> None:
    if not cnn_channels or not all(is_whole(c) and c >= 1 for c in cnn_channels):
        raise CroplandError(
            f"model.net.cnn_channels={cnn_channels}: expected one whole number of at least 1 "
            "per convolution block, e.g. model.net.cnn_channels=[16,32]"
        )
    if len(kernel_sizes) != len(cnn_channels):
        raise CroplandError(
            f"model.net.cnn_channels={cnn_channels} and model.net.kernel_sizes={kernel_sizes} "
            "must have one entry per convolution block, e.g. model.net.kernel_sizes=[3,3] for "
            "two blocks"
        )
    if not all(is_whole(k) and k >= 1 and k % 2 == 1 for k in kernel_sizes):
        raise CroplandError(
            f"model.net.kernel_sizes={kernel_sizes}: each must be a positive odd number (1, 3, "
            "5, ...) to keep the image size, e.g. model.net.kernel_sizes=[3,3]"
        )
    if not is_whole(hidden_size) or hidden_size < 1:
        raise CroplandError(
            f"model.net.hidden_size={hidden_size!r}: expected the LSTM's width, a whole number "
            "of at least 1, e.g. model.net.hidden_size=32"
        )
    if not is_whole(lstm_layers) or lstm_layers < 1:
        raise CroplandError(
            f"model.net.lstm_layers={lstm_layers!r}: expected the number of stacked LSTM "
            "layers, a whole number of at least 1, e.g. model.net.lstm_layers=1"
        )


class StepEncoder(nn.Module):
    """Convolution blocks and global average pooling: one feature vector per image."""

    def __init__(self, in_channels: int, channels: list[int], kernel_sizes: list[int]) -> None:
        super().__init__()
        sizes = [in_channels, *channels]
        blocks = []
        for index, kernel in enumerate(kernel_sizes):
            out = sizes[index + 1]
            blocks += [
                nn.Conv2d(sizes[index], out, kernel, padding=kernel // 2),
                # Up to 8 groups, as many as divide the channels.
                nn.GroupNorm(math.gcd(out, 8), out),
                nn.ReLU(),
                # ceil_mode: any image size pools to at least one pixel.
                nn.MaxPool2d(2, ceil_mode=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.out_channels = sizes[-1]

    def forward(self, x: Tensor) -> Tensor:
        """(images, channels, H, W) -> (images, out_channels)."""
        return self.blocks(x).mean(dim=(-2, -1))


class LRCNClassifier(nn.Module):
    """Per-step CNN, optional month features, LSTM read at each sequence's last valid step,
    dropout, one linear layer; returns logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        cnn_channels: list[int] = (16, 32),
        kernel_sizes: list[int] = (3, 3),
        hidden_size: int = 32,
        lstm_layers: int = 1,
        dropout: float = 0.0,
        month_encoding: bool = True,
        downsample: int = 1,
    ) -> None:
        super().__init__()
        cnn_channels, kernel_sizes = list(cnn_channels), list(kernel_sizes)
        _check_settings(cnn_channels, kernel_sizes, hidden_size, lstm_layers)
        check_dropout(dropout)
        check_downsample(downsample)
        # Average pooling before the encoder trades resolution for speed (CPU runs).
        self.downsample_factor = downsample
        self.downsample = nn.AvgPool2d(downsample) if downsample > 1 else nn.Identity()
        self.encoder = StepEncoder(in_channels, cnn_channels, kernel_sizes)
        self.month_encoding = MonthEncoding() if month_encoding else None
        lstm_in = self.encoder.out_channels + (MonthEncoding.out_channels if month_encoding else 0)
        self.lstm = nn.LSTM(
            lstm_in,
            hidden_size,
            num_layers=lstm_layers,
            batch_first=True,
            # PyTorch applies it between layers only, and warns when there is none.
            dropout=dropout if lstm_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(self._check_inputs, image, lengths)
        batch, steps = image.shape[:2]
        valid = valid_steps(lengths, batch, steps, image.device)
        # Padded steps are never read, but garbage there (inf, NaN) would still reach the
        # weights' gradients through the shared encoder: zero it.
        image = torch.where(valid[:, :, None, None, None], image, torch.zeros_like(image))
        features = self.encoder(self.downsample(image.flatten(0, 1)))
        features = features.unflatten(0, (batch, steps))
        if self.month_encoding is not None:
            if months is None:
                raise ValueError("this model was built with month_encoding=True: pass months")
            # Month planes of a 1x1 "image": the sin and cos as two more features.
            features = self.month_encoding(features[..., None, None], months)[..., 0, 0]
        outputs, _ = self.lstm(features)
        if lengths is None:
            last = torch.full((batch,), steps - 1, dtype=torch.int64, device=image.device)
        else:
            last = lengths.to(image.device, torch.int64) - 1
        index = last.view(-1, 1, 1).expand(-1, 1, outputs.shape[-1])
        hidden = outputs.gather(1, index).squeeze(1)
        return self.head(self.dropout(hidden))

    def _check_inputs(self, image: Tensor, lengths: Tensor | None) -> None:
        """:func:`check_lengths`, and the pooling must leave at least one pixel. Checked here,
        not when the model is built: the model takes any image size, which only its input
        tells (65x65 for the dataset's patches)."""
        check_lengths(image, lengths)
        check_pooled_size(image, self.downsample_factor)
