"""TempCNN on patch statistics: padded steps never reach a valid step's features (through the
convolutions' reach, batch norm or pooling), only each channel's spatial mean and standard
deviation are seen, settings it cannot use are refused with the key to change, and it exports
and trains like every model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from cropland.errors import CroplandError
from cropland.inference.export import check_exported
from cropland.models.tempcnn import POOLINGS, MaskedBatchNorm, TempCNNClassifier
from tests.conftest import TINY_TRAINING, call_script
from tests.test_model_single_date import (
    CHANNELS,
    EXPORTERS,
    FORMATS,
    MONTHS,
    assert_exported_lengths_behaviour,
    one_by_one,
    padded_batch,
    sequences,
    wrapped,
)


def with_random_norms(model: nn.Module) -> nn.Module:
    """Random batch-norm scales, shifts and running statistics: with the defaults (0, 1) batch
    norm in eval mode is the identity, which would hide a missing mask after it."""
    generator = torch.Generator().manual_seed(5)
    for module in model.modules():
        if isinstance(module, MaskedBatchNorm):
            size = module.weight.shape
            with torch.no_grad():
                module.weight.copy_(torch.rand(size, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(size, generator=generator))
                module.running_mean.copy_(torch.randn(size, generator=generator))
                module.running_var.copy_(torch.rand(size, generator=generator) + 0.5)
    return model


def classifier(**settings) -> TempCNNClassifier:
    torch.manual_seed(0)
    arguments = {"filters": [6, 8], "kernel_size": 5, "dense_units": 8}
    return with_random_norms(TempCNNClassifier(CHANNELS, 3, **{**arguments, **settings})).eval()


@pytest.mark.parametrize("centre", [0, 5])
@pytest.mark.parametrize("pooling", POOLINGS)
def test_padded_batch_gives_each_sequence_its_own_logits(pooling: str, centre: int) -> None:
    """Kernel 5 reaches two steps past a sequence's end: into the padding of a batch, into the
    convolution's zero padding alone."""
    model, images = classifier(pooling=pooling, centre=centre), sequences()
    with torch.no_grad():
        padded = model(*padded_batch(images, MONTHS))
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
        torch.testing.assert_close(
            model(*padded_batch(shuffled, MONTHS)), model(*padded_batch(images, MONTHS))
        )


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


def test_months_change_the_prediction_and_are_needed_only_with_month_encoding() -> None:
    model, image, lengths = classifier(), torch.randn(1, 3, CHANNELS, 9, 9), torch.tensor([3])
    with torch.no_grad():
        early = model(image, lengths, torch.tensor([[6, 7, 8]]))
        late = model(image, lengths, torch.tensor([[8, 9, 10]]))
    assert not torch.allclose(early, late)
    with pytest.raises(ValueError, match="month_encoding=True: pass months"):
        model(image, lengths)
    assert classifier(month_encoding=False)(image, lengths).shape == (1, 3)


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
    image, lengths, months = padded_batch(sequences(), MONTHS)
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


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ([3, 0], r"lengths must be from 1 to the time axis' 3 steps, got \[0\]"),
        ([-1, 2], r"got \[-1\]"),
        ([3, 4], r"got \[4\]"),
        ([3.0, 2.0], "lengths must be integers"),
    ],
)
def test_lengths_outside_1_to_time_raise(lengths, message: str) -> None:
    image, months = torch.rand(2, 3, CHANNELS, 9, 9), torch.tensor([[6, 7, 8], [6, 7, 0]])
    with pytest.raises(ValueError, match=message):
        classifier()(image, torch.tensor(lengths), months)


def test_an_empty_batch_passes() -> None:
    image, months = torch.rand(0, 3, CHANNELS, 9, 9), torch.zeros(0, 3, dtype=torch.long)
    assert classifier()(image, torch.zeros(0, dtype=torch.long), months).shape == (0, 3)


# --- exported graphs -----------------------------------------------------------------------------


NET = {
    "_target_": "cropland.models.tempcnn.TempCNNClassifier",
    "filters": [6, 8],
    "dense_units": 8,
    "month_encoding": True,
}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(("pooling", "centre"), [("mean", 0), ("mean_max", 5)])
def test_exports_match_pytorch_on_every_length(
    format: str, pooling: str, centre: int, tmp_path: Path
) -> None:
    """The exporters' own check: padded batches of 1 and 3 sequences, 1 to 5 steps."""
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    model = wrapped({**NET, "pooling": pooling, "centre": centre})
    with_random_norms(model.net)
    path = tmp_path / f"model.{format}"
    EXPORTERS[format](model, path)
    assert check_exported(format, path, model) < 1e-4


@pytest.mark.parametrize("format", FORMATS)
def test_exported_files_ignore_images_below_length_1_and_cap_lengths_at_time(
    format: str, tmp_path: Path
) -> None:
    model = wrapped({**NET, "pooling": "mean_max"})
    with_random_norms(model.net)
    assert_exported_lengths_behaviour(model, format, tmp_path)


# --- the training script -------------------------------------------------------------------------

TINY_TEMPCNN = [
    "model=tempcnn",
    "model.net.filters=[4,4]",
    "model.net.dense_units=4",
    *(o for o in TINY_TRAINING if not o.startswith("model")),
]


def test_train_script_trains_it(prepared_file, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = call_script(
        "train.py", *TINY_TEMPCNN, f"data.path={prepared_file}", f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/f1_macro" in json.loads((run_dir / "metrics.json").read_text())
    checkpoint = torch.load(
        run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu"
    )
    assert checkpoint["hyper_parameters"]["net"]["_target_"].endswith("TempCNNClassifier")


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.net.pooling=flatten", "model.net.pooling='flatten'"),
        ("model.net.centre=100", "model.net.centre=100 is larger than the 65x65 images"),
    ],
    ids=["pooling", "centre"],
)
def test_train_script_says_which_setting_in_one_line(
    prepared_file, tmp_path: Path, override: str, key: str
) -> None:
    result = call_script(
        "train.py",
        *TINY_TEMPCNN,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        override,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and key in errors[0], result.stderr[-3000:]
