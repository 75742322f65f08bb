"""The ConvLSTM refuses settings and inputs it cannot use, with what to change, instead of a
traceback from inside torch or plausible logits from the wrong state; exported graphs carry
none of these checks."""

from __future__ import annotations

import warnings

import pytest
import torch

from cropland.errors import CroplandError
from cropland.models import ConvLSTMClassifier, ConvLSTMEncoder
from tests.conftest import TINY_TRAINING, call_script


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


def test_downsampling_past_the_image_size_is_refused_at_the_first_forward() -> None:
    """The model takes any image size, so the size is checked against the input."""
    model = classifier(downsample=100)
    months = torch.tensor([[6, 7]])
    with pytest.raises(CroplandError, match=r"model\.net\.downsample=100 pools the 65x65 images"):
        model(torch.rand(1, 2, 3, 65, 65), months=months)
    assert model(torch.rand(1, 2, 3, 100, 120), months=months).shape == (1, 2)


# --- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ([3, 0], r"lengths must be from 1 to the time axis' 3 steps, got \[0\]"),
        ([-1, 2], r"got \[-1\]"),
        ([3, 4], r"got \[4\]"),
        ([[3, 3]], r"lengths must hold one value per sequence, shape \(2,\); got \(1, 2\)"),
        ([3], r"shape \(2,\); got \(1,\)"),
        ([3.0, 2.0], "lengths must be integers"),
    ],
)
def test_lengths_outside_1_to_time_raise(lengths, message) -> None:
    image, months = torch.rand(2, 3, 3, 9, 9), torch.tensor([[6, 7, 8], [6, 7, 0]])
    for model in (classifier(), classifier(readout="last_step")):
        with pytest.raises(ValueError, match=message):
            model(image, torch.tensor(lengths), months)
    with pytest.raises(ValueError, match=message):
        ConvLSTMEncoder(3, [4], [3])(image, torch.tensor(lengths))


def test_images_without_a_time_axis_or_steps_raise() -> None:
    model = classifier(month_encoding=False)
    with pytest.raises(ValueError, match=r"\(batch, time, channels, H, W\), got \(2, 3, 9, 9\)"):
        model(torch.rand(2, 3, 9, 9))
    with pytest.raises(ValueError, match="no time step"):
        model(torch.rand(2, 0, 3, 9, 9), torch.tensor([1, 1]))


def test_valid_lengths_and_an_empty_batch_pass() -> None:
    model = classifier()
    image, months = torch.rand(2, 3, 3, 9, 9), torch.tensor([[6, 7, 8], [6, 7, 0]])
    assert model(image, torch.tensor([3, 1]), months).shape == (2, 2)
    assert model(image[:0], torch.zeros(0, dtype=torch.long), months[:0]).shape == (0, 2)


# --- exported graphs -----------------------------------------------------------------------------


def test_scripted_and_exported_models_carry_no_check() -> None:
    """The checks read tensor values: they must not enter TorchScript or torch.export graphs
    (the export tests check the full exports; this one the bare network)."""
    model = classifier()
    image, months = torch.rand(2, 3, 3, 65, 65), torch.tensor([[6, 7, 8], [6, 7, 0]])
    lengths = torch.tensor([3, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        scripted = torch.jit.script(model)
    exported = torch.export.export(model, (image, lengths, months)).module()

    with torch.no_grad():
        expected = model(image, lengths, months)
        torch.testing.assert_close(scripted(image, lengths, months), expected)
        torch.testing.assert_close(exported(image, lengths, months), expected)
        scripted(image, torch.tensor([0, 9]), months)  # unchecked, as exported files are
    assert "lengths must" not in str(scripted.graph)


# --- the training script -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["model.net.hidden_channels=[]", "model.net.kernel_sizes=[]"], "hidden_channels=[]"),
        (["model.net.kernel_sizes=[3]"], "model.net.kernel_sizes=[3]"),
        (["model.net.dropout=1.5"], "model.net.dropout=1.5"),
        (["model.net.downsample=100"], "model.net.downsample=100 pools the 65x65 images"),
    ],
    ids=["no_layers", "kernel_sizes_mismatch", "dropout", "downsample"],
)
def test_train_script_says_which_setting_in_one_line(
    prepared_file, tmp_path, overrides: list[str], key: str
) -> None:
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        *overrides,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and key in errors[0], result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == errors[0]
