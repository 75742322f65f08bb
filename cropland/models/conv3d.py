"""3D CNN sequence classifier: convolutions over time, height and width at once.

Follows S. Ji, W. Xu, M. Yang, K. Yu, "3D Convolutional Neural Networks for Human Action
Recognition", IEEE TPAMI 35(1), 2013, as applied to crops by S. Ji et al., "3D Convolutional
Neural Networks for Crop Classification with Multi-Temporal Remote Sensing Images", Remote
Sensing 10(1):75, 2018, and benchmarked on this data by A. A. Boatswain Jacques, A. B. Diallo,
E. Lord, "The Canadian Cropland Dataset", arXiv:2306.00114, 2023: stacked 3x3x3 convolutions
with ReLU and spatial pooling, then a classifier.

Adapted here for short, variable-length sequences: the time axis is never pooled, and every
convolution pads it with zeros ("same"), so each step keeps its place. Padded steps are set to
zero before every convolution (the input included), so a step next to a sequence's end sees
exactly the zeros it would see if the sequence were alone; the features are then averaged over
valid steps and pixels only. Normalization is a group norm whose statistics are taken over a
sequence's valid steps only: batch norm would mix the padded steps and the other sequences of
the batch into them, and a plain group norm over time would count the padding, so a sequence
would normalize differently alone and in a padded batch. The month's sin/cos can be appended
as two input planes (sequences skip cloudy months), and the patches can be average-pooled
first for speed.
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


class MaskedGroupNorm(nn.Module):
    """Group norm of (batch, channels, time, H, W) features with statistics over each
    sequence's valid steps only (up to 8 groups, as many as divide the channels)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.groups = math.gcd(channels, 8)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        """``valid``: (batch, 1, time, 1, 1) bool, True on real steps."""
        batch, channels, steps, height, width = x.shape
        grouped = x.reshape(batch, self.groups, channels // self.groups, steps, height, width)
        weight = valid.unsqueeze(1).to(x.dtype)
        dims = (2, 3, 4, 5)
        count = weight.sum(dim=dims, keepdim=True) * (channels // self.groups * height * width)
        mean = (grouped * weight).sum(dim=dims, keepdim=True) / count
        variance = ((grouped - mean) * weight).square().sum(dim=dims, keepdim=True) / count
        normalized = ((grouped - mean) * torch.rsqrt(variance + self.eps)).reshape(x.shape)
        return normalized * self.weight.view(1, -1, 1, 1, 1) + self.bias.view(1, -1, 1, 1, 1)


class Conv3DBlock(nn.Module):
    """Zero the padded steps, 3x3x3 convolution, masked group norm, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(in_channels, out_channels, 3, padding=1)
        self.norm = MaskedGroupNorm(out_channels)
        self.activation = nn.ReLU()

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        # torch.where, not a product: garbage such as NaN in the padding times 0 stays NaN.
        x = torch.where(valid, x, torch.zeros_like(x))
        return self.activation(self.norm(self.conv(x), valid))


class Conv3DClassifier(nn.Module):
    """3D convolution blocks (2x2 spatial max pooling between them), average over valid steps
    and pixels, dropout, one linear layer; returns logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        channels: list[int] = (16, 32),
        dropout: float = 0.0,
        month_encoding: bool = True,
        downsample: int = 1,
    ) -> None:
        super().__init__()
        channels = list(channels)
        if not channels or not all(is_whole(c) and c >= 1 for c in channels):
            raise CroplandError(
                f"model.net.channels={channels}: expected one whole number of at least 1 per "
                "3D convolution block, e.g. model.net.channels=[16,32]"
            )
        check_dropout(dropout)
        check_downsample(downsample)
        self.month_encoding = MonthEncoding() if month_encoding else None
        sizes = [in_channels + (MonthEncoding.out_channels if month_encoding else 0), *channels]
        # Average pooling before the convolutions trades resolution for speed (CPU runs).
        self.downsample_factor = downsample
        # None, not nn.Identity: flattening and unflattening for nothing would make
        # torch.export fix the time axis.
        self.downsample = nn.AvgPool2d(downsample) if downsample > 1 else None
        self.blocks = nn.ModuleList(
            Conv3DBlock(sizes[i], sizes[i + 1]) for i in range(len(channels))
        )
        # Space only, never time; ceil_mode: any image size keeps at least one pixel.
        self.pool = nn.MaxPool3d((1, 2, 2), ceil_mode=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(sizes[-1], num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(self._check_inputs, image, lengths)
        batch, steps = image.shape[:2]
        x = image
        if self.downsample is not None:
            x = self.downsample(x.flatten(0, 1)).unflatten(0, (batch, steps))
        if self.month_encoding is not None:
            if months is None:
                raise ValueError("this model was built with month_encoding=True: pass months")
            x = self.month_encoding(x, months)
        valid = valid_steps(lengths, batch, steps, image.device)[:, None, :, None, None]
        x = x.transpose(1, 2)  # (batch, channels, time, H, W)
        for index, block in enumerate(self.blocks):
            if index > 0:
                x = self.pool(x)
            x = block(x, valid)
        x = torch.where(valid, x, torch.zeros_like(x))
        pixels = x.shape[-2] * x.shape[-1]
        pooled = x.sum(dim=(2, 3, 4)) / (valid.sum(dim=(2, 3, 4)) * pixels)
        return self.head(self.dropout(pooled))

    def _check_inputs(self, image: Tensor, lengths: Tensor | None) -> None:
        """:func:`check_lengths`, and the pooling must leave at least one pixel. Checked here,
        not when the model is built: the model takes any image size, which only its input
        tells (65x65 for the dataset's patches)."""
        check_lengths(image, lengths)
        check_pooled_size(image, self.downsample_factor)
