"""What the exported files do with ``lengths`` outside 1..time, as their model card says.

Neither file checks ``lengths``: these tests pin down what they return instead, so that the
card's sentence stays true. If one of them starts raising (a check that survived export), the
card must say so.
"""

import pytest
import torch

from cropland.data.layout import IMAGE_SIZE
from cropland.inference.export import export_onnx, export_torchscript
from cropland.inference.graph import example_inputs
from cropland.inference.model_card import _inputs
from cropland.training.module import CropSequenceClassifier
from tests.test_export import CHANNELS, CLASSES, onnx_runner, torchscript_runner

STEPS = 3
BAD_LENGTHS = (0, -1, STEPS + 1)


CONVLSTM = "cropland.models.convlstm.ConvLSTMClassifier"


def classifier(readout: str) -> CropSequenceClassifier:
    torch.manual_seed(0)
    return CropSequenceClassifier(
        net={
            "_target_": "cropland.models.convlstm.ConvLSTMClassifier",
            "hidden_channels": [4],
            "kernel_sizes": [3],
            "month_encoding": True,
            "downsample": 5,
            "readout": readout,
        },
        optimizer={},
        classes=CLASSES,
        channels=CHANNELS,
        channel_mean=[0.2, 0.3, 0.25, 0.4],
        channel_std=[0.05, 0.1, 0.07, 0.2],
    ).eval()


def exported(format: str, model, tmp_path):
    path = tmp_path / f"model.{format}"
    if format == "onnx":
        pytest.importorskip("onnxruntime")
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


FORMATS = [pytest.param("onnx", marks=pytest.mark.slow), "torchscript"]


@pytest.mark.parametrize("format", FORMATS)
def test_last_valid_readout_gives_the_output_bias_for_lengths_out_of_range(format, tmp_path):
    model = classifier("last_valid")
    run = exported(format, model, tmp_path)
    bias = model.net.head.bias.detach()
    valid = run(*batch(STEPS))
    for bad in BAD_LENGTHS:
        for seed in (1, 2):  # whatever the images
            torch.testing.assert_close(run(*batch(bad, seed))[0], bias, atol=1e-5, rtol=1e-5)
        # The other sequences of the batch get their usual logits.
        torch.testing.assert_close(run(*batch(bad))[1], valid[1], atol=1e-5, rtol=1e-5)
    description = {
        entry["name"]: entry
        for entry in _inputs(4, True, {"_target_": CONVLSTM, "readout": "last_valid"})
    }
    assert "does not check" in description["lengths"]["description"]
    assert "output layer's bias" in description["lengths"]["description"]


@pytest.mark.parametrize("format", FORMATS)
def test_last_step_readout_ignores_images_below_1_and_caps_lengths_at_time(format, tmp_path):
    run = exported(format, classifier("last_step"), tmp_path)
    for bad in (0, -1):
        first, second = run(*batch(bad, 1)), run(*batch(bad, 2))
        torch.testing.assert_close(first[0], second[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(*batch(STEPS + 1)), run(*batch(STEPS)), atol=1e-5, rtol=1e-5)
    description = {
        entry["name"]: entry
        for entry in _inputs(4, True, {"_target_": CONVLSTM, "readout": "last_step"})
    }
    assert "images are ignored" in description["lengths"]["description"]
    assert "more than time counts as time" in description["lengths"]["description"]
