"""A model wrapper that records what it is sent, to check what callers feed a model."""

from __future__ import annotations

from torch import nn


class RecordingModel(nn.Module):
    """Passes calls on to ``model``, keeping each call's lengths and time steps."""

    def __init__(self, model: nn.Module, calls: list[tuple[list[int], int]]) -> None:
        super().__init__()
        self.model = model
        self.calls = calls

    def forward(self, image, lengths, months):
        self.calls.append((lengths.tolist(), image.shape[1]))
        return self.model(image, lengths, months)
