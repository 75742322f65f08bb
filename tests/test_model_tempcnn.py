"""TempCNN on patch statistics: padded steps never reach a valid step's features (through the
convolutions' reach, batch norm or pooling), only each channel's spatial mean and standard
deviation are seen, and settings it cannot use are refused with the key to change. What every
model does (and this one with its default pooling) is in tests/test_model_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from cropland.errors import CroplandError
from cropland.inference.export import EXPORTERS, check_exported
from cropland.models.tempcnn import MaskedBatchNorm, TempCNNClassifier
from tests.exported_files import assert_ignores_images_below_length_1_and_caps_lengths_at_time
from tests.extras import needs_extra
from tests.padded_sequences import CHANNELS, MONTHS, one_by_one, pad, sequences
from tests.random_norms import with_random_norms
from tests.tiny_classifier import classifier_around

FORMATS = [pytest.param("onnx", marks=[pytest.mark.slow, needs_extra("export")]), "torchscript"]


def classifier(**settings) -> TempCNNClassifier:
    torch.manual_seed(0)
    arguments = {"filters": [6, 8], "kernel_size": 5, "dense_units": 8}
    return with_random_norms(TempCNNClassifier(CHANNELS, 3, **{**arguments, **settings})).eval()


# pooling=mean, centre=0 (the defaults): the contract tests.
@pytest.mark.parametrize(("pooling", "centre"), [("mean", 5), ("mean_max", 0), ("mean_max", 5)])
def test_padded_batch_gives_each_sequence_its_own_logits(pooling: str, centre: int) -> None:
    """Kernel 5 reaches two steps past a sequence's end: into the padding of a batch, into the
    convolution's zero padding alone."""
    model, images = classifier(pooling=pooling, centre=centre), sequences()
    with torch.no_grad():
        padded = model(*pad(images, MONTHS))
        alone = one_by_one(model, images, MONTHS)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_only_each_channel_s_patch_statistics_are_seen() -> None:
    """Pixels shuffled within each patch (each channel its own way) give the same logits."""
    model, images = classifier(), sequences()
    shuffled = []
    for seq in images:
        flat = seq.flatten(-2)
        order = torch.stack([torch.randperm(flat.shape[-1]) for _ in range(flat.shape[1])])
        shuffled.append(flat.gather(-1, order.expand_as(flat)).view_as(seq))
    with torch.no_grad():
        torch.testing.assert_close(model(*pad(shuffled, MONTHS)), model(*pad(images, MONTHS)))


def test_centre_takes_the_statistics_of_the_central_square_only() -> None:
    model, image = classifier(centre=3), torch.randn(1, 2, CHANNELS, 9, 9)
    months, lengths = torch.tensor([[7, 8]]), torch.tensor([2])
    outside, inside = image.clone(), image.clone()
    outside[..., :3, :] += 5.0  # rows 0-2: outside the central rows 3-5
    inside[..., 4, 4] += 5.0
    with torch.no_grad():
        logits = model(image, lengths, months)
        torch.testing.assert_close(model(outside, lengths, months), logits)
        assert not torch.allclose(model(inside, lengths, months), logits)


def test_centre_larger_than_the_images_is_refused_at_the_first_forward() -> None:
    model, months = classifier(centre=20), torch.tensor([[6, 7]])
    with pytest.raises(CroplandError, match=r"model\.net\.centre=20 is larger than the 9x9"):
        model(torch.rand(1, 2, CHANNELS, 9, 9), months=months)
    assert model(torch.rand(1, 2, CHANNELS, 20, 24), months=months).shape == (1, 3)


# --- batch norm over valid steps -----------------------------------------------------------------


def test_masked_batch_norm_is_batch_norm_over_the_valid_steps_only() -> None:
    """In training, output and running statistics as ``nn.BatchNorm1d`` on the valid steps
    alone; in eval mode, ``nn.BatchNorm1d`` itself (same parameters and buffers)."""
    torch.manual_seed(0)
    x, lengths = torch.randn(3, 4, 5) * 3 + 1, torch.tensor([5, 2, 3])
    mask = (torch.arange(5)[None, :] < lengths[:, None])[:, None, :]
    x[~mask.expand_as(x)] = 1e3  # padding far from the valid values
    masked, plain = MaskedBatchNorm(4), nn.BatchNorm1d(4)
    with torch.no_grad():
        masked.weight.uniform_(0.5, 1.5)
        masked.bias.normal_()
    plain.load_state_dict(masked.state_dict())

    valid = x.transpose(1, 2)[mask[:, 0]]  # (valid steps, features)
    for _ in range(2):
        got = masked(x, mask).transpose(1, 2)[mask[:, 0]]
        torch.testing.assert_close(got, plain(valid))
    torch.testing.assert_close(masked.state_dict(), plain.state_dict())

    masked.eval(), plain.eval()
    torch.testing.assert_close(masked(x, mask), plain(x))


def test_a_training_batch_of_one_step_of_one_sequence_trains() -> None:
    """nn.BatchNorm1d raises on a single value per feature; a short last batch must not."""
    model = classifier().train()
    logits = model(torch.randn(1, 1, CHANNELS, 9, 9), torch.tensor([1]), torch.tensor([[7]]))
    logits.sum().backward()
    assert torch.isfinite(logits).all()


def test_trains_under_bf16_autocast() -> None:
    """trainer=gpu trains in bf16-mixed: batch-norm statistics stay in float32."""
    model = classifier().train()
    image, lengths, months = pad(sequences(), MONTHS)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(image, lengths, months)
    logits.float().sum().backward()
    assert torch.isfinite(logits).all()
    assert model.blocks[0].norm.running_mean.dtype == torch.float32


# --- settings and inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key", "advice"),
    [
        ({"filters": []}, "model.net.filters=[]", "at least one convolution layer"),
        ({"filters": [8, 0]}, "model.net.filters=[8, 0]", "at least 1"),
        ({"filters": [8, 1.5]}, "model.net.filters=[8, 1.5]", "whole number"),
        ({"kernel_size": 4}, "model.net.kernel_size=4", "positive odd number"),
        ({"kernel_size": -1}, "model.net.kernel_size=-1", "positive odd number"),
        ({"dense_units": 0}, "model.net.dense_units=0", "at least 1"),
        ({"centre": -1}, "model.net.centre=-1", "0 for the whole patch"),
        ({"centre": 2.5}, "model.net.centre=2.5", "whole number"),
        ({"pooling": "flatten"}, "model.net.pooling='flatten'", "mean, mean_max"),
        ({"dropout": -0.1}, "model.net.dropout=-0.1", "from 0"),
    ],
)
def test_unusable_settings_are_refused_naming_the_key(settings, key: str, advice: str) -> None:
    with pytest.raises(CroplandError) as error:
        classifier(**settings)
    assert key in str(error.value) and advice in str(error.value)


def test_the_allowed_edges_are_accepted() -> None:
    model = classifier(filters=[1], kernel_size=1, dense_units=1, dropout=0.0, centre=1)
    assert model(torch.rand(2, 3, CHANNELS, 1, 1), months=torch.tensor([[6, 7, 8]] * 2)).shape == (
        2,
        3,
    )


# --- exported graphs -----------------------------------------------------------------------------


NET = {
    "_target_": "cropland.models.tempcnn.TempCNNClassifier",
    "filters": [6, 8],
    "dense_units": 8,
    "month_encoding": True,
}


@pytest.mark.parametrize("format", FORMATS)
def test_mean_max_over_a_centre_exports_match_pytorch_on_every_length(
    format: str, tmp_path: Path
) -> None:
    """The exporters' own check: padded batches of 1 and 3 sequences, 1 to 5 steps. The
    default pooling (mean over the whole patch): the contract tests."""
    model = classifier_around({**NET, "pooling": "mean_max", "centre": 5})
    with_random_norms(model.net)
    path = tmp_path / f"model.{format}"
    EXPORTERS[format](model, path)
    assert check_exported(format, path, model) < 1e-4


@pytest.mark.parametrize("format", FORMATS)
def test_exported_files_ignore_images_below_length_1_and_cap_lengths_at_time(
    format: str, tmp_path: Path
) -> None:
    model = classifier_around({**NET, "pooling": "mean_max"})
    with_random_norms(model.net)
    assert_ignores_images_below_length_1_and_caps_lengths_at_time(model, format, tmp_path)
