"""What the exported files do with ``lengths`` outside 1..time, as their model card says.

Neither file checks ``lengths``: these tests pin down what they return instead, so that the
card's sentence stays true. If one of them starts raising (a check that survived export), the
card must say so.
"""

import pytest
import torch

from cropland.inference.model_card import _inputs
from cropland.training.module import CropSequenceClassifier
from tests.exported_files import STEPS, batch, export_and_load
from tests.extras import needs_extra
from tests.tiny_classifier import classifier_around

BAD_LENGTHS = (0, -1, STEPS + 1)


CONVLSTM = "cropland.models.convlstm.ConvLSTMClassifier"


def classifier(readout: str) -> CropSequenceClassifier:
    return classifier_around(
        {
            "_target_": "cropland.models.convlstm.ConvLSTMClassifier",
            "hidden_channels": [4],
            "kernel_sizes": [3],
            "month_encoding": True,
            "downsample": 5,
            "readout": readout,
        }
    )


FORMATS = [pytest.param("onnx", marks=[pytest.mark.slow, needs_extra("export")]), "torchscript"]


@pytest.mark.parametrize("format", FORMATS)
def test_last_valid_readout_gives_the_output_bias_for_lengths_out_of_range(format, tmp_path):
    model = classifier("last_valid")
    run = export_and_load(format, model, tmp_path)
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
    run = export_and_load(format, classifier("last_step"), tmp_path)
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
