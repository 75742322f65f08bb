"""ConvLSTM sequence classifier.

Follows X. Shi et al., "Convolutional LSTM Network: A Machine Learning Approach for
Precipitation Nowcasting", NeurIPS 2015, in the variant of the published cropland ConvLSTM:
all four gates come from one convolution over ``concat(input, hidden)``, split in the order
input, forget, output, cell (``i, f, o, g``); ``c' = f*c + i*tanh(g)``, ``h' = o*tanh(c')``;
no peephole connections; zero initial state.

Unlike the published model, the classifier reads the final state at each sequence's own last
valid step (``readout="last_valid"``), so a padded batch gives the same logits as each
sequence run alone. ``readout="last_step"`` keeps the published behaviour, the state after the
batch's last step, padding included, for reproducing its results.

Speed: at the first step the state is zero, so the hidden part of the gate convolution and
``f * c`` are zero: the first step convolves the input alone (with the input's share of the
weight) and skips them, which saves part of the first step's work. Every
later step is the textbook one convolution over ``concat(input, hidden)``: splitting it into
an input convolution hoisted out of the loop and a hidden one costs an extra pass over the
gates per step, and measured slower (``benchmarks/convlstm.py``). Same parameters, same
names (published weights load unchanged), same logits within fp32 rounding
(``tests/test_convlstm_fast_path.py``). The loop keeps the input's memory format: the trainer
runs a model in channels_last where it pays (``model.channels_last``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from cropland.errors import CroplandError
from cropland.models.sequence_inputs import (
    MonthEncoding,
    check_downsample,
    check_dropout,
    check_in_eager,
    check_lengths,
    check_pooled_size,
    is_whole,
)


class ConvLSTMCell(nn.Module):
    """One ConvLSTM cell: a single convolution over ``concat(input, hidden)`` produces the four
    gates."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        if not is_whole(kernel_size) or kernel_size < 1 or kernel_size % 2 != 1:
            raise CroplandError(
                f"model.net.kernel_sizes: each must be a positive odd number (1, 3, 5, ...) to "
                f"keep the image size, got {kernel_size!r}; e.g. model.net.kernel_sizes=[3,3]"
            )
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.padding = kernel_size // 2
        self.conv = nn.Conv2d(
            in_channels + hidden_channels,
            4 * hidden_channels,
            kernel_size,
            padding=self.padding,
        )

    def forward(
        self, x: Tensor, state: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """One step; a state of None is the zero initial state, whose share of the convolution
        and ``f * c`` are zero: skipped."""
        if state is None:
            weight = self.conv.weight[:, : self.in_channels]
            return self.update(F.conv2d(x, weight, self.conv.bias, padding=self.padding), None)
        h, c = state
        return self.update(self.conv(torch.cat([x, h], dim=1)), c)

    def update(self, gates: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        """The LSTM state update from the gates; ``c`` None stands for zeros."""
        # i, f, o lie next to each other: one sigmoid call for the three. split, not slicing:
        # a slice's backward fills a zero tensor the size of all gates, split's joins the parts.
        sigmoid_gates, g = gates.split([3 * self.hidden_channels, self.hidden_channels], dim=1)
        i, f, o = torch.sigmoid(sigmoid_gates).chunk(3, dim=1)
        c_next = i * torch.tanh(g)
        if c is not None:
            c_next = c_next + f * c
        return o * torch.tanh(c_next), c_next

    def initial_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Zero state sized from the input, so any image size works."""
        batch, _, height, width = x.shape
        zeros = x.new_zeros(batch, self.hidden_channels, height, width)
        return zeros, zeros


READOUTS = ("last_valid", "last_step")


class ConvLSTMEncoder(nn.Module):
    """Stacked ConvLSTM cells; returns the top layer's hidden state at each sequence's last step.

    ``readout``: ``last_valid`` (each sequence's own last step) or ``last_step`` (the batch's
    last step, after any padding: the published model's behaviour).
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: list[int],
        kernel_sizes: list[int],
        readout: str = "last_valid",
    ) -> None:
        super().__init__()
        if readout not in READOUTS:
            raise CroplandError(
                f"model.net.readout={readout!r}: expected one of {', '.join(READOUTS)}"
            )
        self.readout = readout
        hidden_channels, kernel_sizes = list(hidden_channels), list(kernel_sizes)
        if not hidden_channels:
            raise CroplandError(
                "model.net.hidden_channels=[]: the ConvLSTM needs at least one layer; give the "
                "channels of each, e.g. model.net.hidden_channels=[24,32] "
                "model.net.kernel_sizes=[3,3]"
            )
        if not all(is_whole(c) and c >= 1 for c in hidden_channels):
            raise CroplandError(
                f"model.net.hidden_channels={hidden_channels}: each layer's channels must be a "
                "whole number of at least 1, e.g. model.net.hidden_channels=[24,32]"
            )
        if len(hidden_channels) != len(kernel_sizes):
            raise CroplandError(
                f"model.net.hidden_channels={hidden_channels} and model.net.kernel_sizes="
                f"{kernel_sizes} must have one entry per layer; give as many kernel sizes as "
                "layers, e.g. model.net.kernel_sizes=[3,3] for two layers"
            )
        sizes = [in_channels, *hidden_channels]
        self.cells = nn.ModuleList(
            ConvLSTMCell(sizes[i], sizes[i + 1], kernel_sizes[i]) for i in range(len(kernel_sizes))
        )
        self.out_channels = sizes[-1]

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        """``x``: (batch, time, channels, H, W); ``lengths``: valid steps per sequence, each
        from 1 to time (ValueError otherwise, in eager PyTorch)."""
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(check_lengths, x, lengths)
        steps = x.shape[1]
        if lengths is None or self.readout == "last_step":
            lengths = torch.full((x.shape[0],), steps, device=x.device)
        last_step = (lengths.to(x.device) - 1).view(-1, 1, 1, 1)
        top_states = self.top_states(x)
        # Zero for a length out of range (exported files do not check lengths; their model card
        # says such a sequence gets the output layer's bias).
        final = torch.zeros_like(top_states[0])
        for t, top_state in enumerate(top_states):
            # Steps after a sequence's end only see padding: keep the state of its last real step.
            final = torch.where(last_step == t, top_state, final)
        return final

    def top_states(self, x: Tensor) -> list[Tensor]:
        """The top layer's hidden state at each step, every layer advanced one step at a time;
        the first step starts from the zero state (``None``: its convolution is skipped)."""
        layer_input = x[:, 0]
        states: list[tuple[Tensor, Tensor]] = []
        # (TorchScript wants each loop its own variable name.)
        for first_step_cell in self.cells:
            states.append(first_step_cell(layer_input, None))
            layer_input = states[-1][0]
        top_states = [layer_input]
        for t in range(1, x.shape[1]):
            layer_input = x[:, t]
            for index, cell in enumerate(self.cells):
                states[index] = cell(layer_input, states[index])
                layer_input = states[index][0]
            top_states.append(layer_input)
        return top_states


class ConvLSTMClassifier(nn.Module):
    """ConvLSTM encoder, global average pooling, dropout, one linear layer; returns logits."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        hidden_channels: list[int] = (64, 128),
        kernel_sizes: list[int] = (3, 3),
        dropout: float = 0.0,
        month_encoding: bool = False,
        downsample: int = 1,
        readout: str = "last_valid",
    ) -> None:
        super().__init__()
        check_dropout(dropout)
        check_downsample(downsample)
        self.month_encoding = MonthEncoding() if month_encoding else None
        encoder_in = in_channels + (MonthEncoding.out_channels if month_encoding else 0)
        # Average pooling before the recurrence trades resolution for speed (CPU runs).
        self.downsample_factor = downsample
        self.downsample = nn.AvgPool2d(downsample) if downsample > 1 else nn.Identity()
        self.encoder = ConvLSTMEncoder(
            encoder_in, list(hidden_channels), list(kernel_sizes), readout
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.encoder.out_channels, num_classes)

    def forward(
        self, image: Tensor, lengths: Tensor | None = None, months: Tensor | None = None
    ) -> Tensor:
        if not torch.jit.is_scripting():  # TorchScript compiles nothing under this
            check_in_eager(self._check_inputs, image, lengths)
        batch, steps = image.shape[:2]
        x = self.downsample(image.flatten(0, 1))
        x = x.unflatten(0, (batch, steps))
        if self.month_encoding is not None:
            if months is None:
                raise ValueError("this model was built with month_encoding=True: pass months")
            x = self.month_encoding(x, months)
        hidden = self.encoder(x, lengths)
        return self.head(self.dropout(hidden.mean(dim=(-2, -1))))

    def _check_inputs(self, image: Tensor, lengths: Tensor | None) -> None:
        """:func:`check_lengths`, and the pooling must leave at least one pixel. Checked here,
        not when the model is built: the model takes any image size, which only its input
        tells (65x65 for the dataset's patches)."""
        check_lengths(image, lengths)
        check_pooled_size(image, self.downsample_factor)
