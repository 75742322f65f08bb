"""The single-date CNN reads one image per sequence, the one its ``date`` setting names, picked
per sequence from ``lengths``: padding is never read, settings it cannot use are refused with
the key to change, and it exports and trains like every model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cropland.errors import CroplandError
from cropland.inference.export import check_exported, export_onnx, export_torchscript
from cropland.models.single_date import DATES, SingleDateClassifier
from cropland.training.module import CropSequenceClassifier
from tests.conftest import TINY_TRAINING, call_script
from tests.test_export_lengths import STEPS, batch, exported

CHANNELS = 4
LENGTHS = [5, 2, 3]
MONTHS = [[6, 7, 8, 9, 10], [7, 10], [6, 8, 9]]


def classifier(**settings) -> SingleDateClassifier:
    torch.manual_seed(0)
    arguments = {"hidden_channels": [4, 6], "month_encoding": True}
    return SingleDateClassifier(CHANNELS, 3, **{**arguments, **settings}).eval()


def sequences(size: int = 17, seed: int = 1) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, CHANNELS, size, size, generator=generator) for n in LENGTHS]


def padded_batch(
    images: list[torch.Tensor], months: list[list[int]]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``images`` and ``months`` as a padded batch, with garbage (not zeros) on the padding,
    which must not leak into any result."""
    steps = max(len(seq) for seq in images)
    batch = torch.full((len(images), steps, *images[0].shape[1:]), 100.0)
    batch_months = torch.zeros(len(images), steps, dtype=torch.long)
    for i, (seq, m) in enumerate(zip(images, months, strict=True)):
        batch[i, : len(seq)] = seq
        batch_months[i, : len(m)] = torch.tensor(m)
    return batch, torch.tensor([len(seq) for seq in images]), batch_months


def one_by_one(model, images: list[torch.Tensor], months: list[list[int]]) -> torch.Tensor:
    return torch.cat(
        [
            model(seq[None], torch.tensor([len(seq)]), torch.tensor([m]))
            for seq, m in zip(images, months, strict=True)
        ]
    )


@pytest.mark.parametrize("date", DATES)
def test_padded_batch_gives_each_sequence_its_own_logits(date: str) -> None:
    model, images = classifier(date=date), sequences()
    with torch.no_grad():
        padded = model(*padded_batch(images, MONTHS))
        alone = one_by_one(model, images, MONTHS)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("date", "chosen"), [("last", [4, 1, 2]), ("first", [0, 0, 0]), ("middle", [2, 0, 1])]
)
def test_only_the_chosen_step_of_each_sequence_is_read(date: str, chosen: list[int]) -> None:
    model, images = classifier(date=date), sequences()
    others, changed = sequences(seed=2), sequences(seed=2)
    for i, step in enumerate(chosen):
        others[i][step] = images[i][step]  # every other step differs
        changed[i] = images[i].clone()
        changed[i][step] += 1.0  # the chosen step differs
    with torch.no_grad():
        logits = model(*padded_batch(images, MONTHS))
        torch.testing.assert_close(model(*padded_batch(others, MONTHS)), logits)
        moved = model(*padded_batch(changed, MONTHS))
    assert all(not torch.allclose(moved[i], logits[i]) for i in range(len(LENGTHS)))


def test_without_lengths_every_step_is_valid() -> None:
    model, images = classifier(), sequences()
    full, months = images[0][None], torch.tensor([MONTHS[0]])
    with torch.no_grad():
        torch.testing.assert_close(
            model(full, months=months), model(full, torch.tensor([5]), months)
        )


def test_the_chosen_image_s_month_changes_the_prediction() -> None:
    model, image = classifier(), torch.randn(1, 3, CHANNELS, 9, 9)
    with torch.no_grad():
        august = model(image, torch.tensor([3]), torch.tensor([[6, 7, 8]]))
        october = model(image, torch.tensor([3]), torch.tensor([[6, 7, 10]]))
        # Months of steps it does not read change nothing.
        torch.testing.assert_close(
            model(image, torch.tensor([3]), torch.tensor([[7, 9, 8]])), august
        )
    assert not torch.allclose(august, october)


def test_months_are_needed_only_with_month_encoding() -> None:
    image = torch.randn(2, 3, CHANNELS, 9, 9)
    assert classifier(month_encoding=False)(image).shape == (2, 3)
    with pytest.raises(ValueError, match="month_encoding=True: pass months"):
        classifier()(image)


@pytest.mark.parametrize("size", [1, 2, 9, 65])
def test_any_image_size_works(size: int) -> None:
    months = torch.tensor([[6, 7, 8]] * 2)
    assert classifier()(torch.randn(2, 3, CHANNELS, size, size), months=months).shape == (2, 3)


# --- settings and inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "key", "advice"),
    [
        ({"date": "latest"}, "model.net.date='latest'", "last, first, middle"),
        ({"hidden_channels": []}, "model.net.hidden_channels=[]", "at least one convolution block"),
        ({"hidden_channels": [4, 0]}, "model.net.hidden_channels=[4, 0]", "at least 1"),
        ({"hidden_channels": [4, 2.5]}, "model.net.hidden_channels=[4, 2.5]", "whole number"),
        ({"kernel_size": 4}, "model.net.kernel_size=4", "positive odd number"),
        ({"kernel_size": 0}, "model.net.kernel_size=0", "positive odd number"),
        ({"kernel_size": 3.0}, "model.net.kernel_size=3.0", "positive odd number"),
        ({"dropout": 1.0}, "model.net.dropout=1.0", "up to, not including, 1"),
    ],
)
def test_unusable_settings_are_refused_naming_the_key(settings, key: str, advice: str) -> None:
    with pytest.raises(CroplandError) as error:
        classifier(**settings)
    assert key in str(error.value) and advice in str(error.value)


@pytest.mark.parametrize(
    ("lengths", "message"),
    [
        ([3, 0], r"lengths must be from 1 to the time axis' 3 steps, got \[0\]"),
        ([3, 4], r"got \[4\]"),
        ([3], r"shape \(2,\); got \(1,\)"),
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


def wrapped(net: dict) -> CropSequenceClassifier:
    """The network inside the LightningModule, as the exporters take it."""
    torch.manual_seed(0)
    return CropSequenceClassifier(
        net=net,
        optimizer={},
        classes=["BARLEY", "CANOLA", "CORN"],
        channels=["red", "green", "blue", "ndvi45"],
        channel_mean=[0.2, 0.3, 0.25, 0.4],
        channel_std=[0.05, 0.1, 0.07, 0.2],
    ).eval()


NET = {
    "_target_": "cropland.models.single_date.SingleDateClassifier",
    "hidden_channels": [4, 6],
    "month_encoding": True,
}
FORMATS = [pytest.param("onnx", marks=pytest.mark.slow), "torchscript"]
EXPORTERS = {"onnx": export_onnx, "torchscript": export_torchscript}


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("date", DATES)
def test_exports_match_pytorch_on_every_length(format: str, date: str, tmp_path: Path) -> None:
    """The exporters' own check: padded batches of 1 and 3 sequences, 1 to 5 steps."""
    if format == "onnx":
        pytest.importorskip("onnxruntime")
    model, path = wrapped({**NET, "date": date}), tmp_path / f"model.{format}"
    EXPORTERS[format](model, path)
    assert check_exported(format, path, model) < 1e-4


def assert_exported_lengths_behaviour(
    model: CropSequenceClassifier, format: str, tmp_path: Path
) -> None:
    """What an exported file, which checks nothing, does with ``lengths`` outside 1..time, for
    the model card: below 1 every step is padding (zeroed before the network, which reads one
    step of them), so that sequence's images are ignored; above time counts as time."""
    run = exported(format, model, tmp_path)
    for bad in (0, -1):
        first, second = run(*batch(bad, image_seed=1)), run(*batch(bad, image_seed=2))
        torch.testing.assert_close(first[0], second[0], atol=1e-5, rtol=1e-5)
        # The other sequences of the batch get their usual logits.
        torch.testing.assert_close(first[1], run(*batch(STEPS))[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(run(*batch(STEPS + 1)), run(*batch(STEPS)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("format", FORMATS)
def test_exported_files_ignore_images_below_length_1_and_cap_lengths_at_time(
    format: str, tmp_path: Path
) -> None:
    for date in DATES:
        (tmp_path / date).mkdir()
        assert_exported_lengths_behaviour(wrapped({**NET, "date": date}), format, tmp_path / date)


# --- the training script -------------------------------------------------------------------------

TINY_SINGLE_DATE = [
    "model=single_date",
    "model.net.hidden_channels=[4,4]",
    *(o for o in TINY_TRAINING if not o.startswith("model")),
]


def test_train_script_trains_it(prepared_file, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = call_script(
        "train.py", *TINY_SINGLE_DATE, f"data.path={prepared_file}", f"hydra.run.dir={run_dir}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test/f1_macro" in json.loads((run_dir / "metrics.json").read_text())
    checkpoint = torch.load(
        run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu"
    )
    assert checkpoint["hyper_parameters"]["net"]["_target_"].endswith("SingleDateClassifier")


def test_train_script_says_which_setting_in_one_line(prepared_file, tmp_path: Path) -> None:
    result = call_script(
        "train.py",
        *TINY_SINGLE_DATE,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "model.net.date=latest",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model.net.date='latest'" in errors[0], result.stderr[-3000:]
