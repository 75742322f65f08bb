"""Batch norm made to matter: with its initial scales, shifts and running statistics (1, 0, 0, 1)
batch norm in eval mode is the identity, which would hide a missing mask after it."""

from __future__ import annotations

import torch
from torch import nn


def with_random_norms(model: nn.Module) -> nn.Module:
    """``model`` with random scales, shifts and running statistics in every batch norm (every
    module with running statistics: ``nn.BatchNorm*`` and TempCNN's masked one)."""
    generator = torch.Generator().manual_seed(5)
    for module in model.modules():
        if isinstance(getattr(module, "running_mean", None), torch.Tensor):
            size = module.weight.shape
            with torch.no_grad():
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator))
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
    return model
