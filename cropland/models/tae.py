"""Lightweight Temporal Attention Encoder (L-TAE) classifier.

Follows V. Sainte Fare Garnot, L. Landrieu, "Lightweight Temporal Self-Attention for
Classifying Satellite Images Time Series", AALTD (ECML-PKDD workshop) 2020, itself after
V. Sainte Fare Garnot et al., "Satellite Image Time Series Classification with Pixel-Set
Encoders and Temporal Self-Attention", CVPR 2020: each step's image is encoded on its own, then
the L-TAE attends over the steps. Its temporal part is the paper's: a LayerNorm and a linear
projection to ``d_model`` (then a LayerNorm), a sinusoidal positional encoding with
``T = 1000``, one learned master query per head, keys from a linear layer, values the input
split in one channel group per head, scores scaled by ``sqrt(d_k)``, softmax over steps, heads
concatenated, an MLP, dropout, a LayerNorm and a linear classifier.

Adapted to our patches and to sequences that skip months:

- The per-step encoder is a small CNN on the whole patch (3x3 convolutions and ReLU, shared by
  all steps, optionally after a ``downsample`` average pooling), where the papers use a
  pixel-set encoder on a random sample of a parcel's pixels. Its map is pooled by the mean over
  the patch (``pooling="mean"``) or by attention with a prior on the patch centre, where the
  labelled field is (``"centre_attention"``); ``statistics_centre`` adds each channel's centre
  and patch statistics (:mod:`cropland.models.patch_pooling`). It has no BatchNorm: padded
  steps would enter the batch statistics in training.
- The position is each step's acquisition month, as the day of the year of its 15th, not the
  step index: a June-August-September sequence is not a June-July-August one.
  As in the authors' code, the ``d_model // n_head`` dimensional sinusoid is repeated once per
  head, so every head's channel group sees all frequencies.
- Padded steps are masked: their scores are set to a large negative value before the softmax
  and their values to zero, so a padded batch gives each sequence the logits it gets alone.
  The LayerNorm after the projection is per step (the authors' code normalizes over the time
  axis too, which would mix in the padding), and the MLP uses LayerNorm where the paper uses
  BatchNorm, which fails on a last training batch of one sequence.
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import Tensor, nn

from cropland.errors import CroplandError
from cropland.models.patch_pooling import CentreAttentionPool, PatchStatistics, check_pooling
from cropland.models.sequence_inputs import (
    check_downsample,
    check_dropout,
    check_in_eager,
    check_lengths,
    check_pooled_size,
    is_whole,
    valid_steps,
)

# The papers' sinusoid period: position p, dimension 2i -> sin(p / T ** (2i / d)).
PERIOD = 1000.0
# Day of the year (non-leap) of the 15th of each month, January to December.
MID_MONTH_DAY = (15, 46, 74, 105, 135, 166, 196, 227, 258, 288, 319, 349)


def month_position_table(d_model: int, n_head: int) -> Tensor:
    """(13, d_model): row ``m`` encodes month ``m`` (row 0, for padding, encodes day 0); the
    ``d_model // n_head`` sinusoid of the mid-month day, repeated ``n_head`` times."""
    d_head = d_model // n_head
    days = torch.tensor((0, *MID_MONTH_DAY), dtype=torch.float64)[:, None]
    exponents = 2 * (torch.arange(d_head) // 2) / d_head
    angles = days / PERIOD**exponents
    table = torch.where(torch.arange(d_head) % 2 == 0, torch.sin(angles), torch.cos(angles))
    return table.repeat(1, n_head).float()


def check_months(months: Tensor, image: Tensor, lengths: Tensor | None) -> None:
    """ValueError unless ``months`` is (batch, time), integer, from 1 to 12 on the real steps
    (padding may hold anything)."""
    if months.shape != image.shape[:2]:
        raise ValueError(
            f"months must hold one month per step, shape {tuple(image.shape[:2])}; got "
            f"{tuple(months.shape)}"
        )
    if months.is_floating_point() or months.is_complex() or months.dtype == torch.bool:
        raise ValueError(f"months must be integers from 1 to 12, got {months.dtype}")
    real = valid_steps(lengths, months.shape[0], months.shape[1], months.device)
    bad = real & ((months < 1) | (months > 12))
    if bool(bad.any()):
        raise ValueError(
            f"months must be from 1 to 12 on every real step, got {months[bad].tolist()}"
        )


def _positive_whole(value: object) -> bool:
    return is_whole(value) and value >= 1


class SpatialEncoder(nn.Module):
    """Per-step CNN: 3x3 convolutions with ReLU, then the mean over the patch or attention
    pooling with a prior on its centre (:mod:`cropland.models.patch_pooling`)."""

    def __init__(
        self,
        in_channels: int,
        widths: list[int],
        pooling: str = "mean",
        pooling_heads: int = 2,
        prior_width: float = 0.35,
    ) -> None:
        super().__init__()
        if not widths or not all(_positive_whole(w) for w in widths):
            raise CroplandError(
                f"model.net.encoder_widths={widths}: give the channels of each convolution of "
                "the per-step encoder, at least one whole number of at least 1, e.g. "
                "model.net.encoder_widths=[16,32]"
            )
        sizes = [in_channels, *widths]
        layers: list[nn.Module] = []
        for i in range(len(widths)):
            layers.extend([nn.Conv2d(sizes[i], sizes[i + 1], 3, padding=1), nn.ReLU()])
        self.layers = nn.Sequential(*layers)
        self.pool = (
            CentreAttentionPool(sizes[-1], pooling_heads, prior_width)
            if check_pooling(pooling) == "centre_attention"
            else None
        )
        self.out_channels = sizes[-1] if self.pool is None else self.pool.out_channels

    def forward(self, x: Tensor) -> Tensor:
        """(n, channels, H, W) -> (n, out_channels)."""
        features = self.layers(x)
        if self.pool is None:
            return features.mean(dim=(-2, -1))
        return self.pool(features)


class LTAE(nn.Module):
    """The L-TAE over a (batch, time, in_channels) sequence; returns (batch, mlp[-1])."""

    def __init__(
        self,
        in_channels: int,
        d_model: int,
        n_head: int,
        d_k: int,
        mlp: list[int],
        dropout: float,
    ) -> None:
        super().__init__()
        for key, value in (("d_model", d_model), ("n_head", n_head), ("d_k", d_k)):
            if not _positive_whole(value):
                raise CroplandError(
                    f"model.net.{key}={value!r}: expected a whole number of at least 1"
                )
        if d_model % n_head != 0:
            raise CroplandError(
                f"model.net.d_model={d_model} must be divisible by model.net.n_head={n_head}: "
                "each head takes d_model / n_head channels as its values; e.g. "
                "model.net.d_model=64 model.net.n_head=4"
            )
        if not mlp or not all(_positive_whole(m) for m in mlp):
            raise CroplandError(
                f"model.net.mlp={mlp}: expected the MLP's sizes, whole numbers of at least 1, "
                f"starting with d_model, e.g. model.net.mlp=[{d_model},{max(d_model // 2, 1)}]"
            )
        if mlp[0] != d_model:
            raise CroplandError(
                f"model.net.mlp={mlp} must start with model.net.d_model={d_model}, the size of "
                f"the concatenated heads; e.g. model.net.mlp=[{d_model},{mlp[-1]}]"
            )
        check_dropout(dropout)
        self.n_head, self.d_k = n_head, d_k
        self.in_norm = nn.LayerNorm(in_channels)
        self.projection = nn.Linear(in_channels, d_model)
        self.projection_norm = nn.LayerNorm(d_model)
        self.register_buffer("positions", month_position_table(d_model, n_head), persistent=False)
        # One master query per head; the authors' initialisation.
        self.query = nn.Parameter(torch.empty(n_head, d_k))
        self.keys = nn.Linear(d_model, n_head * d_k)
        nn.init.normal_(self.query, std=math.sqrt(2.0 / d_k))
        nn.init.normal_(self.keys.weight, std=math.sqrt(2.0 / d_k))
        layers: list[nn.Module] = []
        for i in range(len(mlp) - 1):
            layers.extend([nn.Linear(mlp[i], mlp[i + 1]), nn.LayerNorm(mlp[i + 1]), nn.ReLU()])
        self.mlp = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.out_norm = nn.LayerNorm(mlp[-1])
        self.out_channels = mlp[-1]

    def forward(self, x: Tensor, months: Tensor, valid: Tensor) -> Tensor:
        """``x`` (batch, time, in_channels), ``months`` (batch, time), ``valid`` (batch, time)
        True on real steps."""
        batch, steps = x.shape[:2]
        x = self.projection_norm(self.projection(self.in_norm(x)))
        x = x + self.positions[months.clamp(0, 12)]
        keys = self.keys(x).view(batch, steps, self.n_head, self.d_k)
        scores = torch.einsum("hd,bthd->bht", self.query, keys) / math.sqrt(self.d_k)
        # In float32, where the masked score fits whatever precision the rest runs in.
        scores = scores.float().masked_fill(~valid[:, None, :], -1e9)
        attention = torch.softmax(scores, dim=-1).to(x.dtype)
        # Zero values on padding: a masked step's weight is 0, but 0 * inf would be NaN.
        values = torch.where(valid[..., None], x, torch.zeros_like(x))
        # Split by the head count, not by -1 beside the batch: an empty batch has no size to infer.
        values = values.unflatten(-1, (self.n_head, -1))
        heads = torch.einsum("bht,bthd->bhd", attention, values).flatten(1)
        return self.out_norm(self.dropout(self.mlp(heads)))


class LTAEClassifier(nn.Module):
    """Per-step CNN encoder, L-TAE over the steps at their months, one linear layer; logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        encoder_widths: list[int] = (16, 32),
        d_model: int = 64,
        n_head: int = 4,
        d_k: int = 8,
        mlp: list[int] = (64, 32),
        dropout: float = 0.2,
        downsample: int = 3,
        pooling: str = "mean",
        pooling_heads: int = 2,
        prior_width: float = 0.35,
        statistics_centre: int | None = None,
    ) -> None:
        super().__init__()
        check_downsample(downsample)
        self.downsample_factor = downsample
        # Average pooling before the encoder trades resolution for speed (CPU runs).
        self.downsample = nn.AvgPool2d(downsample) if downsample > 1 else nn.Identity()
        self.encoder = SpatialEncoder(
            in_channels, list(encoder_widths), pooling, pooling_heads, prior_width
        )
        # At full resolution, before the downsampling: the centre square is a few pixels.
        self.statistics = None if statistics_centre is None else PatchStatistics(statistics_centre)
        features = self.encoder.out_channels + (0 if self.statistics is None else 3 * in_channels)
        self.temporal = LTAE(features, d_model, n_head, d_k, list(mlp), dropout)
        self.head = nn.Linear(self.temporal.out_channels, num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(self._check_inputs, image, lengths)
        if months is None:
            raise ValueError("the L-TAE needs each step's month: pass months (batch, time)")
        if not torch.jit.is_scripting():
            check_in_eager(partial(check_months, months), image, lengths)
        batch, steps = image.shape[:2]
        images = image.flatten(0, 1)
        features = self.encoder(self.downsample(images))
        if self.statistics is not None:
            features = torch.cat([features, self.statistics(images)], dim=-1)
        valid = valid_steps(lengths, batch, steps, image.device)
        hidden = self.temporal(features.unflatten(0, (batch, steps)), months, valid)
        return self.head(hidden)

    def _check_inputs(self, image: Tensor, lengths: Tensor | None) -> None:
        """:func:`check_lengths`, and the pooling must leave at least one pixel. Checked here,
        not when the model is built: the model takes any image size, which only its input
        tells (65x65 for the dataset's patches)."""
        check_lengths(image, lengths)
        check_pooled_size(image, self.downsample_factor)
