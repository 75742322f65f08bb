"""Input standardization shared by the LightningModule and exported models."""

from __future__ import annotations

import torch
from torch import Tensor


def standardize_valid_steps(image: Tensor, lengths: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """Standardize (batch, time, channels, H, W) images with per-channel ``mean`` and ``std``
    (shaped to broadcast), then zero the padded steps after each sequence's ``lengths``:
    padding holds zeros before standardization and must stay zero after it."""
    image = (image - mean) / std
    steps = torch.arange(image.shape[1], device=image.device)
    valid = steps[None, :] < lengths.to(image.device)[:, None]
    return image * valid[:, :, None, None, None]
