"""The ConvLSTM refuses settings and inputs it cannot use, with what to change, instead of a
traceback from inside torch or plausible logits from the wrong state; exported graphs carry
none of these checks. What every model refuses is in tests/test_model_contract.py."""

from __future__ import annotations

import warnings

import pytest
import torch

from cropland.errors import CroplandError
from cropland.models import ConvLSTMClassifier, ConvLSTMEncoder
from tests.padded_sequences import BAD_LENGTHS


def classifier(**settings) -> ConvLSTMClassifier:
    torch.manual_seed(0)
    arguments = {"hidden_channels": [4, 6], "kernel_sizes": [3, 3], "month_encoding": True}
    return ConvLSTMClassifier(in_channels=3, num_classes=2, **{**arguments, **settings}).eval()


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key", "advice"),
    [
        ({"hidden_channels": [], "kernel_sizes": []}, "model.net.hidden_channels=[]", "one layer"),
        ({"hidden_channels": [4, 0]}, "model.net.hidden_channels=[4, 0]", "at least 1"),
        ({"hidden_channels": [4, -2]}, "model.net.hidden_channels=[4, -2]", "at least 1"),
        ({"hidden_channels": [4, 2.5]}, "model.net.hidden_channels=[4, 2.5]", "whole number"),
        ({"kernel_sizes": [3]}, "model.net.kernel_sizes=[3]", "one entry per layer"),
        ({"kernel_sizes": [3, 3, 3]}, "model.net.kernel_sizes=[3, 3, 3]", "one entry per layer"),
        ({"kernel_sizes": [3, 0]}, "model.net.kernel_sizes", "positive odd number"),
        ({"kernel_sizes": [3, -1]}, "model.net.kernel_sizes", "positive odd number"),
        ({"kernel_sizes": [3, 4]}, "model.net.kernel_sizes", "positive odd number"),
        ({"dropout": 1.0}, "model.net.dropout=1.0", "up to, not including, 1"),
        ({"dropout": -0.1}, "model.net.dropout=-0.1", "from 0"),
        ({"dropout": "0.2"}, "model.net.dropout='0.2'", "from 0"),
        ({"downsample": 0}, "model.net.downsample=0", "at least 1"),
        ({"downsample": 2.5}, "model.net.downsample=2.5", "whole number"),
        ({"readout": "mean"}, "model.net.readout='mean'", "last_valid"),
    ],
)
def test_unusable_settings_are_refused_naming_the_key(settings, key, advice) -> None:
    with pytest.raises(CroplandError) as error:
        classifier(**settings)
    assert key in str(error.value) and advice in str(error.value)


def test_the_allowed_edges_are_accepted() -> None:
    classifier(hidden_channels=[1], kernel_sizes=[1], dropout=0.0, downsample=1)
    classifier(dropout=0.99, downsample=65)


# --- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lengths", "message"),
    BAD_LENGTHS,
)
def test_lengths_outside_1_to_time_raise_with_last_step_readout_and_in_the_encoder(
    lengths, message
) -> None:
    """readout=last_valid (the default): the contract tests."""
    image, months = torch.rand(2, 3, 3, 9, 9), torch.tensor([[6, 7, 8], [6, 7, 0]])
    with pytest.raises(ValueError, match=message):
        classifier(readout="last_step")(image, torch.tensor(lengths), months)
    with pytest.raises(ValueError, match=message):
        ConvLSTMEncoder(3, [4], [3])(image, torch.tensor(lengths))


# --- exported graphs -----------------------------------------------------------------------------


def test_the_scripted_model_runs_lengths_outside_1_to_time_unchecked() -> None:
    """As exported files do (their model card says what they return); the contract tests check
    that the scripted graph holds no check and matches eager."""
    model = classifier()
    image, months = torch.rand(2, 3, 3, 65, 65), torch.tensor([[6, 7, 8], [6, 7, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        scripted = torch.jit.script(model)
    with torch.no_grad():
        assert scripted(image, torch.tensor([0, 9]), months).shape == (2, 2)
