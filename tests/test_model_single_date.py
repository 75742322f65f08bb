"""The single-date CNN reads one image per sequence, the one its ``date`` setting names, picked
per sequence from ``lengths``: padding is never read, settings it cannot use are refused with
the key to change. What every model does (and this one with ``date=last``) is in
tests/test_model_contract.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cropland.errors import CroplandError
from cropland.inference.export import EXPORTERS, check_exported
from cropland.models.single_date import DATES, SingleDateClassifier
from tests.exported_files import assert_ignores_images_below_length_1_and_caps_lengths_at_time
from tests.extras import needs_extra
from tests.padded_sequences import CHANNELS, LENGTHS, MONTHS, one_by_one, pad, sequences
from tests.tiny_classifier import classifier_around

# The dates other than the default (last), which the contract tests cover.
OTHER_DATES = [date for date in DATES if date != "last"]


def classifier(**settings) -> SingleDateClassifier:
    torch.manual_seed(0)
    arguments = {"hidden_channels": [4, 6], "month_encoding": True}
    return SingleDateClassifier(CHANNELS, 3, **{**arguments, **settings}).eval()


@pytest.mark.parametrize("date", OTHER_DATES)
def test_padded_batch_gives_each_sequence_its_own_logits(date: str) -> None:
    model, images = classifier(date=date), sequences()
    with torch.no_grad():
        padded = model(*pad(images, MONTHS))
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
        logits = model(*pad(images, MONTHS))
        torch.testing.assert_close(model(*pad(others, MONTHS)), logits)
        moved = model(*pad(changed, MONTHS))
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


@pytest.mark.parametrize("size", [1, 2])
def test_even_the_smallest_images_work(size: int) -> None:
    months = torch.tensor([[6, 7, 8]] * 2)
    assert classifier()(torch.randn(2, 3, CHANNELS, size, size), months=months).shape == (2, 3)


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


# --- exported graphs -----------------------------------------------------------------------------

NET = {
    "_target_": "cropland.models.single_date.SingleDateClassifier",
    "hidden_channels": [4, 6],
    "month_encoding": True,
}
FORMATS = [pytest.param("onnx", marks=[pytest.mark.slow, needs_extra("export")]), "torchscript"]


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize("date", OTHER_DATES)
def test_exports_match_pytorch_on_every_length(format: str, date: str, tmp_path: Path) -> None:
    """The exporters' own check: padded batches of 1 and 3 sequences, 1 to 5 steps."""
    model, path = classifier_around({**NET, "date": date}), tmp_path / f"model.{format}"
    EXPORTERS[format](model, path)
    assert check_exported(format, path, model) < 1e-4


@pytest.mark.parametrize("format", FORMATS)
def test_exported_files_ignore_images_below_length_1_and_cap_lengths_at_time(
    format: str, tmp_path: Path
) -> None:
    for date in DATES:
        (tmp_path / date).mkdir()
        assert_ignores_images_below_length_1_and_caps_lengths_at_time(
            classifier_around({**NET, "date": date}), format, tmp_path / date
        )
