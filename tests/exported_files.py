"""Exported files run as a user runs them (onnxruntime, ``torch.jit.load``), and the batches that
show what they do with ``lengths`` outside 1..time, which they do not check."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from cropland.data.layout import IMAGE_SIZE
from cropland.inference.export import export_onnx, export_torchscript
from cropland.inference.graph import example_inputs
from cropland.training.module import CropSequenceClassifier
from tests.tiny_classifier import CHANNELS

# Time steps of the batches of :func:`batch`.
STEPS = 3


def onnx_runner(path: Path):
    import onnxruntime  # the export extra: callers carry tests.extras.needs_extra("export")

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def run(image, lengths, months):
        feed = {"image": image.numpy(), "lengths": lengths.numpy(), "months": months.numpy()}
        return torch.from_numpy(session.run(["logits"], feed)[0])

    return run


def torchscript_runner(path: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))

    def run(image, lengths, months):
        with torch.no_grad():
            return module(image, lengths, months)

    return run


def export_and_load(format: str, model: CropSequenceClassifier, tmp_path: Path):
    """``model`` exported to ``tmp_path`` in ``format`` and loaded back, as a function of
    (image, lengths, months). ONNX needs the export extra (tests.extras.needs_extra)."""
    path = tmp_path / f"model.{format}"
    if format == "onnx":
        export_onnx(model, path)
        return onnx_runner(path)
    export_torchscript(model, path)
    return torchscript_runner(path)


def batch(first_length: int, image_seed: int = 1):
    """Two sequences of STEPS steps, the same months whatever ``image_seed``; the first gets
    ``first_length``, the second is valid."""
    _, _, months = example_inputs(len(CHANNELS), 2, STEPS, IMAGE_SIZE, seed=0)
    image, _, _ = example_inputs(len(CHANNELS), 2, STEPS, IMAGE_SIZE, seed=image_seed)
    return image, torch.tensor([first_length, STEPS]), months


def assert_ignores_images_below_length_1_and_caps_lengths_at_time(
    model: CropSequenceClassifier, format: str, tmp_path: Path
) -> None:
    """What an exported file, which checks nothing, does with ``lengths`` outside 1..time, for
    the model card: below 1 every step is padding (zeroed before the network, which reads one
    step of them), so that sequence's images are ignored; above time counts as time."""
    run = export_and_load(format, model, tmp_path)
    for bad in (0, -1):
        first, second = run(*batch(bad, image_seed=1)), run(*batch(bad, image_seed=2))
        torch.testing.assert_close(first[0], second[0], atol=1e-5, rtol=1e-5)
        # The other sequences of the batch get their usual logits.
        torch.testing.assert_close(first[1], run(*batch(STEPS))[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(*batch(STEPS + 1)), run(*batch(STEPS)), atol=1e-5, rtol=1e-5)
