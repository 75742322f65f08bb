"""The ConvLSTM's fast path (the zero first state's convolution skipped) computes the textbook
cell: same logits and gradients, same parameters, in either memory format; and its benchmark
runs."""

from __future__ import annotations

import subprocess
import sys

import torch
from torch import Tensor
from torch.nn import functional as F

from cropland.models import ConvLSTMClassifier
from tests.script_runs import PROJECT_ROOT

LENGTHS = torch.tensor([4, 1, 3])


def padded_batch() -> tuple[Tensor, Tensor]:
    """Three 4-step sequences of 5 x 11 x 11 with garbage after each one's length."""
    image = torch.randn(3, 4, 5, 11, 11, generator=torch.Generator().manual_seed(3))
    for i, length in enumerate(LENGTHS.tolist()):
        image[i, length:] = 100.0
    return image, LENGTHS


def model(**settings) -> ConvLSTMClassifier:
    torch.manual_seed(0)
    return ConvLSTMClassifier(5, 7, [6, 8], [3, 5], downsample=1, **settings)


def textbook_logits(net: ConvLSTMClassifier, image: Tensor, lengths: Tensor) -> Tensor:
    """``net``'s weights run as in Shi et al.: every step, one convolution over concat(x, h),
    the four gates one by one; the top hidden state read at each sequence's last step."""
    batch, steps, _, height, width = image.shape
    states = [
        (image.new_zeros(batch, cell.hidden_channels, height, width),) * 2
        for cell in net.encoder.cells
    ]
    top = []
    for t in range(steps):
        layer_input = image[:, t]
        for index, cell in enumerate(net.encoder.cells):
            h, c = states[index]
            i, f, o, g = cell.conv(torch.cat([layer_input, h], dim=1)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            states[index] = (h, c)
            layer_input = h
        top.append(layer_input)
    final = torch.stack(top, dim=1)[torch.arange(batch), lengths - 1]
    return net.head(final.mean(dim=(-2, -1)))


def logits_and_gradients(
    net: ConvLSTMClassifier, forward
) -> tuple[Tensor, dict[str, Tensor], Tensor]:
    """Logits, parameter gradients and input gradient of a fixed random loss on them."""
    image, lengths = padded_batch()
    image.requires_grad_(True)
    logits = forward(image, lengths)
    weights = torch.randn(logits.shape, generator=torch.Generator().manual_seed(4))
    (logits * weights).sum().backward()
    return logits, {n: p.grad for n, p in net.named_parameters()}, image.grad


def assert_close_relative(actual: Tensor, expected: Tensor) -> None:
    """Equal within 1e-5 of the expected tensor's largest value: fp32 rounding, no more."""
    scale = expected.abs().max().item()
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * scale)


def test_logits_and_gradients_match_the_textbook_cell_with_padding():
    fast, textbook = model(), model()
    logits, gradients, image_gradient = logits_and_gradients(fast, fast)
    expected, expected_gradients, expected_image_gradient = logits_and_gradients(
        textbook, lambda image, lengths: textbook_logits(textbook, image, lengths)
    )
    assert_close_relative(logits, expected)
    for name, gradient in gradients.items():
        assert_close_relative(gradient, expected_gradients[name])
    assert_close_relative(image_gradient, expected_image_gradient)
    assert not image_gradient[0, 4:].any() and not image_gradient[1, 1:].any()  # padding


def test_the_parameters_are_the_textbook_cells():
    """One convolution over concat(input, hidden) per layer: the published weights load by
    name."""
    shapes = {n: tuple(p.shape) for n, p in model().state_dict().items()}
    assert shapes == {
        "encoder.cells.0.conv.weight": (24, 11, 3, 3),
        "encoder.cells.0.conv.bias": (24,),
        "encoder.cells.1.conv.weight": (32, 14, 5, 5),
        "encoder.cells.1.conv.bias": (32,),
        "head.weight": (7, 8),
        "head.bias": (7,),
    }


def test_channels_last_gives_the_same_logits_and_trains():
    image, lengths = padded_batch()
    net = model().eval()
    with torch.no_grad():
        expected = net(image, lengths)
        channels_last = net.to(memory_format=torch.channels_last)
        actual = channels_last(image, lengths)
    assert_close_relative(actual, expected)
    loss = F.cross_entropy(channels_last.train()(image, lengths), torch.tensor([0, 1, 2]))
    loss.backward()
    assert all(p.grad is not None for p in channels_last.parameters())


def test_the_benchmark_runs_quickly_and_prints_its_tables():
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.convlstm", "--quick"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for expected in (
        "ConvLSTM: train step (Adam) and inference",
        "textbook cell (reference)",
        "cropland (default)",
        "conv peak",
        "ConvLSTM at the default model's shapes",
        "x the reference",
        "every model at its default size",
        "tempcnn fp32",
    ):
        assert expected in result.stdout
