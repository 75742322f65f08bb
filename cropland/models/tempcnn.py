"""TempCNN on patch statistics: the pixel-statistics baseline.

Follows C. Pelletier, G. I. Webb, F. Petitjean, "Temporal Convolutional Neural Network for the
Classification of Satellite Image Time Series", Remote Sensing 11(5):523, 2019: convolutions
over time only (each a ``kernel_size`` 1D convolution, batch norm, ReLU, dropout; the paper uses
three layers of 64 filters of size 5), a dense layer (256 units, batch norm, ReLU, dropout in
the paper) and a linear output layer. TempCNN classifies one pixel's time series; here each
step of a patch becomes its channels' spatial mean and standard deviation (over the whole patch,
or over its central ``centre`` x ``centre`` pixels), plus the sin and cos of the step's month
with ``month_encoding``, since real sequences skip months. The spatial layout of the patch is
never seen: what the other models gain over this one is what the image adds.

Differences from the paper, for padded batches of sequences of different lengths:

- The paper flattens the last convolution's output over a fixed number of dates. That makes a
  sequence's logits depend on the padding after it, so the steps are pooled instead, over each
  sequence's valid steps only: their mean (``pooling=mean``) or their mean and maximum
  (``pooling=mean_max``).
- With 'same' padding, a convolution at a sequence's last steps reaches into the padding. The
  features of padded steps are set to exactly zero before every convolution, so they match the
  zeros a sequence run alone gets from the convolution's own padding. Batch norm in eval mode is
  a per-feature affine map that would make those zeros non-zero again, so the mask follows it.
- Batch norm's training statistics count valid steps only (:class:`MaskedBatchNorm`), so the
  running statistics used at inference are not diluted by padding either.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import (
    MonthEncoding,
    check_dropout,
    check_in_eager,
    check_lengths,
    is_whole,
    valid_steps,
)

POOLINGS = ("mean", "mean_max")


class MaskedBatchNorm(nn.Module):
    """Batch norm over (batch, features, time) whose training statistics count only the
    positions where ``mask`` (batch, 1, time) is True; in eval mode, plain batch norm with the
    running statistics. Same parameters, buffers and defaults as ``nn.BatchNorm1d``.

    A single valid position (one sequence of one step) normalizes to the bias instead of
    raising, as ``nn.BatchNorm1d`` does: training batches are not dropped when they are short.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        if not self.training:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        # Statistics in the parameters' precision (float32 under bf16 autocast), as batch norm.
        values = x.to(self.running_mean.dtype)
        count = mask.sum().clamp(min=1).to(values.dtype)
        mean = values.masked_fill(~mask, 0.0).sum(dim=(0, 2)) / count
        centred = values - mean[None, :, None]
        var = centred.masked_fill(~mask, 0.0).square().sum(dim=(0, 2)) / count
        with torch.no_grad():
            unbiased = var * count / (count - 1).clamp(min=1)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(unbiased, self.momentum)
            self.num_batches_tracked.add_(1)
        scale = self.weight / torch.sqrt(var + self.eps)
        return (centred * scale[None, :, None] + self.bias[None, :, None]).to(x.dtype)


class TemporalConvBlock(nn.Module):
    """1D convolution over time ('same' padding), masked batch norm, ReLU, dropout; padded
    steps come out as exact zeros."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(in_features, out_features, kernel_size, padding=kernel_size // 2)
        self.norm = MaskedBatchNorm(out_features)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``x``: (batch, features, time), zero on padded steps; ``mask``: (batch, 1, time)."""
        x = self.dropout(torch.relu(self.norm(self.conv(x), mask)))
        return x.masked_fill(~mask, 0.0)


class TempCNNClassifier(nn.Module):
    """Per-step patch statistics, TempCNN over time, masked pooling, dense layer; returns
    logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        filters: list[int] = (32, 32, 32),
        kernel_size: int = 5,
        dense_units: int = 128,
        dropout: float = 0.2,
        centre: int = 0,
        pooling: str = "mean",
        month_encoding: bool = True,
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        filters = list(filters)
        if not filters or not all(is_whole(f) and f >= 1 for f in filters):
            raise CroplandError(
                f"model.net.filters={filters}: give at least one convolution layer, each "
                "layer's filters a whole number of at least 1, e.g. model.net.filters=[64,64,64]"
            )
        if not is_whole(kernel_size) or kernel_size < 1 or kernel_size % 2 != 1:
            raise CroplandError(
                f"model.net.kernel_size={kernel_size!r}: expected a positive odd number (1, 3, "
                "5, ...) so that each step stays at its place in time, e.g. "
                "model.net.kernel_size=5"
            )
        if not is_whole(dense_units) or dense_units < 1:
            raise CroplandError(
                f"model.net.dense_units={dense_units!r}: expected a whole number of at least 1, "
                "the dense layer's units, e.g. model.net.dense_units=256"
            )
        if not is_whole(centre) or centre < 0:
            raise CroplandError(
                f"model.net.centre={centre!r}: expected a whole number of pixels, the side of "
                "the central square the statistics are taken over, or 0 for the whole patch"
            )
        if pooling not in POOLINGS:
            raise CroplandError(
                f"model.net.pooling={pooling!r}: expected one of {', '.join(POOLINGS)} (how "
                "the valid steps are pooled), e.g. model.net.pooling=mean"
            )
        self.centre = centre
        self.pooling = pooling
        self.month_encoding = MonthEncoding() if month_encoding else None
        sizes = [2 * in_channels + (MonthEncoding.out_channels if month_encoding else 0)]
        sizes += filters
        self.blocks = nn.ModuleList(
            TemporalConvBlock(sizes[i], sizes[i + 1], kernel_size, dropout)
            for i in range(len(filters))
        )
        pooled = sizes[-1] * (2 if pooling == "mean_max" else 1)
        self.dense = nn.Linear(pooled, dense_units)
        self.dense_norm = MaskedBatchNorm(dense_units)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(dense_units, num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        """``image``: (batch, time, channels, H, W); ``lengths``: valid steps per sequence, each
        from 1 to time (ValueError otherwise, in eager PyTorch; exported graphs, which carry no
        check, read lengths below 1 as 1 and above time as time)."""
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(self._check_inputs, image, lengths)
        batch, steps = image.shape[:2]
        if lengths is not None:
            lengths = lengths.to(image.device).clamp(1, steps)
        mask = valid_steps(lengths, batch, steps, image.device)[:, None, :]

        x = self._patch_statistics(image)  # (batch, time, features)
        if self.month_encoding is not None:
            if months is None:
                raise ValueError("this model was built with month_encoding=True: pass months")
            x = self.month_encoding(x[..., None, None], months.to(image.device))[..., 0, 0]
        # Padded steps hold exact zeros before every convolution (see the module docstring).
        x = x.transpose(1, 2).masked_fill(~mask, 0.0)
        for block in self.blocks:
            x = block(x, mask)

        count = mask.sum(dim=2).to(x.dtype)  # (batch, 1), at least 1
        pooled = x.sum(dim=2) / count
        if self.pooling == "mean_max":
            largest = x.masked_fill(~mask, float("-inf")).amax(dim=2)
            pooled = torch.cat([pooled, largest], dim=1)
        every = torch.ones(batch, 1, 1, dtype=torch.bool, device=image.device)
        hidden = self.dense_norm(self.dense(pooled)[:, :, None], every)[:, :, 0]
        return self.head(self.dropout(torch.relu(hidden)))

    def _patch_statistics(self, image: Tensor) -> Tensor:
        """(batch, time, 2 x channels): each channel's mean, then each one's standard
        deviation, over the patch or its central ``centre`` x ``centre`` pixels."""
        if self.centre > 0:
            height, width = image.shape[-2], image.shape[-1]
            top, left = (height - self.centre) // 2, (width - self.centre) // 2
            image = image[..., top : top + self.centre, left : left + self.centre]
        mean = image.mean(dim=(-2, -1))
        variance = (image - mean[..., None, None]).square().mean(dim=(-2, -1))
        return torch.cat([mean, variance.sqrt()], dim=2)

    def _check_inputs(self, image: Tensor, lengths: Tensor | None) -> None:
        """:func:`check_lengths`, and the centre square must fit in the images. Checked here:
        the model takes any image size, which only its input tells (65x65 for the dataset)."""
        check_lengths(image, lengths)
        if self.centre > min(image.shape[-2:]):
            height, width = image.shape[-2:]
            raise CroplandError(
                f"model.net.centre={self.centre} is larger than the {height}x{width} images; "
                f"it must be at most {min(height, width)} (0 takes the whole patch)"
            )
