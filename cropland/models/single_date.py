"""Single-date CNN: the baseline without time, one image per sequence.

The dataset paper (A. A. Boatswain Jacques, A. B. Diallo, E. Lord, "The Canadian Cropland
Dataset: A New Land Cover Dataset for Multitemporal Deep Learning Classification in
Agriculture", arXiv:2306.00114, 2023) reports single-image baselines (ResNet-50, DenseNet,
EfficientNet) beside its sequence models. This model plays that role with a small plain CNN
(convolution, batch norm, ReLU and 2x2 max pooling per block, global average pooling, one
linear layer) instead of an ImageNet architecture: what a sequence model gains over it is what
time adds.

Which image each sequence is classified from is a setting, ``date``: ``last`` (the sequence's
own last valid step), ``first``, or ``middle`` (the valid step at index ``(length - 1) // 2``).
The step is gathered per sequence from ``lengths``, so padding is never read and a padded batch
gives each sequence the logits it gets alone. With ``month_encoding`` the chosen image's month
is appended as sin/cos planes: the last date of a sequence may be August or October.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import (
    MonthEncoding,
    check_dropout,
    check_in_eager,
    check_lengths,
    is_whole,
)

DATES = ("last", "first", "middle")


def date_index(lengths: Tensor, date: str) -> Tensor:
    """(batch,) index of the step each sequence is read at, from ``lengths`` in 1..time."""
    if date == "first":
        return torch.zeros_like(lengths)
    if date == "middle":
        return torch.div(lengths - 1, 2, rounding_mode="floor")
    return lengths - 1


class SingleDateClassifier(nn.Module):
    """A small CNN on one image of each sequence (``date``); returns logits.

    ``hidden_channels``: one convolution block per entry (``kernel_size`` convolution, batch
    norm, ReLU, 2x2 max pooling that rounds up, so any image size of at least one pixel works).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_channels: list[int] = (16, 32, 64),
        kernel_size: int = 3,
        dropout: float = 0.0,
        date: str = "last",
        month_encoding: bool = False,
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        if date not in DATES:
            raise CroplandError(
                f"model.net.date={date!r}: expected one of {', '.join(DATES)} (the image each "
                "sequence is classified from), e.g. model.net.date=last"
            )
        hidden_channels = list(hidden_channels)
        if not hidden_channels or not all(is_whole(c) and c >= 1 for c in hidden_channels):
            raise CroplandError(
                f"model.net.hidden_channels={hidden_channels}: give at least one convolution "
                "block, each block's channels a whole number of at least 1, e.g. "
                "model.net.hidden_channels=[16,32,64]"
            )
        if not is_whole(kernel_size) or kernel_size < 1 or kernel_size % 2 != 1:
            raise CroplandError(
                f"model.net.kernel_size={kernel_size!r}: expected a positive odd number (1, 3, "
                "5, ...) to keep the image size, e.g. model.net.kernel_size=3"
            )
        self.date = date
        self.month_encoding = MonthEncoding() if month_encoding else None
        sizes = [in_channels + (MonthEncoding.out_channels if month_encoding else 0)]
        sizes += hidden_channels
        self.blocks = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Conv2d(sizes[i], sizes[i + 1], kernel_size, padding=kernel_size // 2),
                    nn.BatchNorm2d(sizes[i + 1]),
                    nn.ReLU(),
                    nn.MaxPool2d(2, ceil_mode=True),
                )
                for i in range(len(hidden_channels))
            )
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(sizes[-1], num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        """``image``: (batch, time, channels, H, W); ``lengths``: valid steps per sequence, each
        from 1 to time (ValueError otherwise, in eager PyTorch; exported graphs, which carry no
        check, read lengths below 1 as 1 and above time as time)."""
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(check_lengths, image, lengths)
        batch, steps = image.shape[:2]
        if lengths is None:
            lengths = torch.full((batch,), steps, dtype=torch.long, device=image.device)
        lengths = lengths.to(image.device).long().clamp(1, steps)
        index = date_index(lengths, self.date)
        rows = torch.arange(batch, device=image.device)
        x = image[rows, index]
        if self.month_encoding is not None:
            if months is None:
                raise ValueError("this model was built with month_encoding=True: pass months")
            month = months.to(image.device)[rows, index]
            x = self.month_encoding(x[:, None], month[:, None])[:, 0]
        x = self.blocks(x)
        return self.head(self.dropout(x.mean(dim=(-2, -1))))
