"""The ConvLSTM encoder with its time loop written as ``torch.scan``, for ``torch.export``.

``torch.export`` (behind the ONNX exporter) runs Python code once on example inputs, so the
encoder's ``for t in range(steps)`` is unrolled to the example's length and the exported graph
only accepts that many steps. ``scan`` is a loop operator that export keeps as one node, which
the ONNX exporter turns into an ONNX ``Scan``: the graph then takes any number of steps.

The computation is that of :class:`~cropland.models.convlstm.ConvLSTMEncoder`, on its own cells
(shared weights); ``tests/test_export.py`` checks that the two agree.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# scan is a prototype operator; this is the import path its documentation gives. Exported
# graphs are checked against the eager model before they are written (cropland.inference.export).
from torch._higher_order_ops import scan

from cropland.models.convlstm import ConvLSTMEncoder


class ScanConvLSTMEncoder(nn.Module):
    """Same inputs, outputs and readout as the :class:`ConvLSTMEncoder` it wraps."""

    def __init__(self, encoder: ConvLSTMEncoder) -> None:
        super().__init__()
        self.cells = encoder.cells
        self.readout = encoder.readout
        self.out_channels = encoder.out_channels

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        steps = x.shape[1]
        if lengths is None or self.readout == "last_step":
            lengths = torch.full((x.shape[0],), steps, device=x.device)
        last_step = (lengths.to(x.device) - 1).view(-1, 1, 1, 1)
        # scan rejects carries that alias each other, and initial_state returns one zero tensor
        # for both h and c: give each its own.
        states = [(h, c.clone()) for h, c in (cell.initial_state(x[:, 0]) for cell in self.cells)]
        final = states[-1][0].clone()

        def step(
            carry: tuple[list[tuple[Tensor, Tensor]], Tensor], inputs: tuple[Tensor, Tensor]
        ) -> tuple[tuple[list[tuple[Tensor, Tensor]], Tensor], Tensor]:
            states, final = carry
            x_t, t = inputs
            layer_input = x_t
            next_states = []
            for cell, state in zip(self.cells, states, strict=True):
                h, c = cell(layer_input, state)
                next_states.append((h, c))
                layer_input = h
            # Keep the state of each sequence's own last step, as ConvLSTMEncoder does.
            final = torch.where(last_step == t, layer_input, final)
            # scan also stacks a per-step output; the step index is the cheapest one to give.
            return (next_states, final), t.clone()

        time_major = x.transpose(0, 1)
        step_index = torch.arange(steps, device=x.device)
        (_, final), _ = scan(step, (states, final), (time_major, step_index))
        return final
