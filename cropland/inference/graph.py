"""What gets exported: a plain module with the classifier's forward and a fixed signature.

The LightningModule itself carries metrics, the optimizer config and Lightning state, none of
which TorchScript or ``torch.export`` should see. :class:`InferenceGraph` keeps only what a
prediction needs: the normalization statistics and the network.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from cropland.data.layout import MONTHS
from cropland.inference.scan_encoder import ScanConvLSTMEncoder
from cropland.models.convlstm import ConvLSTMEncoder
from cropland.models.normalization import standardize_valid_steps

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier

INPUT_NAMES = ("image", "lengths", "months")
OUTPUT_NAMES = ("logits",)


class InferenceGraph(nn.Module):
    """``forward(image, lengths, months) -> logits``, as :class:`CropSequenceClassifier`.

    All three inputs are always required, so every exported model is called the same way:
    ``months`` is ignored by a model trained without month encoding.
    """

    def __init__(
        self, net: nn.Module, channel_mean: Tensor, channel_std: Tensor, temperature: float = 1.0
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("channel_mean", channel_mean.detach().clone())
        self.register_buffer("channel_std", channel_std.detach().clone())
        # The calibration temperature, so that exported probabilities are the classifier's.
        self.register_buffer("temperature", torch.tensor(float(temperature)))

    def forward(self, image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
        image = standardize_valid_steps(image, lengths, self.channel_mean, self.channel_std)
        return self.net(image, lengths=lengths, months=months) / self.temperature


class EmptyInputGraph(nn.Module):
    """An :class:`InferenceGraph` that an input without sequences or without steps bypasses,
    for ONNX: ``If`` batch x time > 0, the graph's logits, else ``(batch, classes)`` of NaN.

    Given an empty axis, onnxruntime's ``Einsum`` kernel dies of SIGFPE (an integer division by
    zero), taking the caller's process with it; the L-TAE's patch pooling and attention are
    einsums. Other kernels refuse such inputs with errors, where PyTorch and TorchScript return
    ``(0, classes)`` for an empty batch. ONNX has no operator that raises, so an input with no
    time step (which PyTorch refuses) gets NaN logits, one row per sequence: no score at all.
    """

    def __init__(self, graph: InferenceGraph, num_classes: int) -> None:
        super().__init__()
        # Not "graph": torch.export's modules have an attribute of that name.
        self.inference = graph
        self.num_classes = num_classes

    def forward(self, image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
        has_steps = image.shape[0] * image.shape[1] > 0
        return torch.cond(has_steps, self.inference, self._no_logits, (image, lengths, months))

    def _no_logits(self, image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
        return image.new_full((image.shape[0], self.num_classes), float("nan"))


def inference_graph(classifier: CropSequenceClassifier, scan_loop: bool = False) -> InferenceGraph:
    """An eval-mode copy of ``classifier`` as an :class:`InferenceGraph`, without gradients.

    ``scan_loop=True`` replaces every ConvLSTM encoder's Python time loop with ``scan``, which
    ``torch.export`` keeps as a loop instead of unrolling it (see ``scan_encoder``).
    """
    net = copy.deepcopy(classifier.net).eval()
    if scan_loop:
        for parent in list(net.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, ConvLSTMEncoder):
                    setattr(parent, name, ScanConvLSTMEncoder(child))
    graph = InferenceGraph(
        net, classifier.channel_mean, classifier.channel_std, classifier.temperature
    ).eval()
    # Parameters that need no gradient keep torch.export from tracing scan's backward, which
    # fails on the integer step index it carries (and inference needs no backward anyway).
    return graph.requires_grad_(False)


def example_inputs(
    num_channels: int, batch: int, steps: int, image_size: int, seed: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """A padded batch in the exported models' input format: ``image`` in [0, 1] with zeros after
    each sequence's length, ``lengths`` from 1 to ``steps`` (the first sequence full), and
    ``months``: each sequence's increasing months from :data:`MONTHS`, 0 on padding."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    image = torch.rand(batch, steps, num_channels, image_size, image_size, generator=generator)
    months = torch.zeros(batch, steps, dtype=torch.long)
    for i, length in enumerate(lengths.tolist()):
        image[i, length:] = 0
        choice = torch.randperm(len(MONTHS), generator=generator)[:length].sort().values
        months[i, :length] = torch.tensor(MONTHS)[choice]
    return image, lengths, months
