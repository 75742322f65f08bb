from types import SimpleNamespace

import pytest
import torch

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.sequence_dataset import pad_sequences
from cropland.data.temporal_augment import TemporalAugmentation
from cropland.errors import CroplandError
from tests.script_runs import TINY_TRAINING, call_script


def _batch(lengths: list[int]) -> dict:
    """Sequences whose every pixel of step t holds its month, so any step moved out of its
    place or mixed with another sequence's shows up in the image."""
    samples = []
    for index, length in enumerate(lengths):
        months = torch.arange(1, length + 1) + index % 3
        image = months.float().view(length, 1, 1, 1).expand(length, 2, 5, 5).clone()
        samples.append(
            {
                "image": image,
                "months": months,
                "label": torch.tensor(index % 4),
                "index": torch.tensor(index),
            }
        )
    return pad_sequences(samples)


def test_kept_steps_move_to_the_front_in_order_with_their_months_and_zero_padding():
    before = _batch([7, 3, 1, 5] * 16)
    after = TemporalAugmentation(month_dropout=0.4)(before, torch.Generator().manual_seed(0))
    assert torch.equal(after["label"], before["label"])
    assert (after["lengths"] >= 1).all() and (after["lengths"] <= before["lengths"]).all()
    assert (after["lengths"] < before["lengths"]).any()
    steps = after["image"].shape[1]
    assert steps == int(after["lengths"].max())
    for row in range(len(before["label"])):
        length = int(after["lengths"][row])
        months = after["months"][row]
        assert torch.equal(after["mask"][row], torch.arange(steps) < length)
        kept = months[:length]
        assert (kept[1:] > kept[:-1]).all()  # time order kept
        # Each kept step is one of this sequence's months, with its own image.
        assert set(kept.tolist()) <= set(before["months"][row, : before["lengths"][row]].tolist())
        assert torch.equal(
            after["image"][row, :length, :, 0, 0], kept.float()[:, None].expand(-1, 2)
        )
        assert (after["image"][row, length:] == 0).all() and (months[length:] == 0).all()


def test_drops_about_the_asked_share_of_months():
    before = _batch([12] * 500)
    after = TemporalAugmentation(month_dropout=0.3)(before, torch.Generator().manual_seed(1))
    dropped = 1 - after["lengths"].sum().item() / before["lengths"].sum().item()
    assert dropped == pytest.approx(0.3, abs=0.02)


def test_a_sequence_that_would_lose_every_month_keeps_one_of_its_own():
    before = _batch([4, 1, 2] * 50)
    after = TemporalAugmentation(month_dropout=0.95)(before, torch.Generator().manual_seed(2))
    assert (after["lengths"] == 1).sum() > 100
    assert (after["lengths"] >= 1).all()
    first = after["months"][:, 0]
    assert all(
        int(first[row]) in before["months"][row, : before["lengths"][row]].tolist()
        for row in range(len(first))
    )


def test_zero_leaves_the_batch_untouched():
    before = _batch([3, 2])
    assert TemporalAugmentation(month_dropout=0.0)(before) is before


@pytest.mark.parametrize("value", [1.0, -0.1, "half", True])
def test_a_probability_outside_zero_to_one_names_the_setting(value):
    with pytest.raises(CroplandError, match="data.augmentation.month_dropout"):
        TemporalAugmentation(month_dropout=value)


@pytest.mark.parametrize("value", [1.5, -0.1, "half", True])
def test_a_truncation_outside_zero_to_one_names_the_setting(value):
    with pytest.raises(CroplandError, match="data.augmentation.truncate"):
        TemporalAugmentation(truncate=value)


def test_truncation_keeps_the_season_up_to_a_random_month_of_each_sequence():
    before = _batch([5, 3, 1, 4] * 400)
    after = TemporalAugmentation(truncate=1.0)(before, torch.Generator().manual_seed(3))
    assert torch.equal(after["label"], before["label"])
    assert after["image"].shape[1] == int(after["lengths"].max())
    for row in range(len(before["label"])):
        length = int(after["lengths"][row])
        assert 1 <= length <= int(before["lengths"][row])
        # A beginning of the sequence: its first months, their images, zero padding after.
        assert torch.equal(after["months"][row, :length], before["months"][row, :length])
        assert torch.equal(after["image"][row, :length], before["image"][row, :length])
        assert (after["image"][row, length:] == 0).all()
        assert (after["months"][row, length:] == 0).all()
    # Every cut point is as likely: of a 5-month sequence, each of 1..5 months kept ~1/5.
    fives = after["lengths"][before["lengths"] == 5]
    shares = torch.bincount(fives, minlength=6)[1:].float() / len(fives)
    assert torch.allclose(shares, torch.full((5,), 0.2), atol=0.06), shares


def test_truncation_cuts_about_the_asked_share_of_sequences():
    before = _batch([6] * 2000)
    after = TemporalAugmentation(truncate=0.5)(before, torch.Generator().manual_seed(4))
    # A cut sequence keeps all 6 months one time in 6.
    cut = (after["lengths"] < 6).float().mean().item()
    assert cut == pytest.approx(0.5 * 5 / 6, abs=0.03)


@pytest.mark.parametrize("setting", ["month_dropout", "truncate"])
def test_the_datamodule_drops_months_of_training_batches_only(prepared_file, setting):
    dm = CropSequenceDataModule(path=str(prepared_file), batch_size=32, augmentation={setting: 0.5})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    full = int(batch["lengths"].sum())
    torch.manual_seed(0)
    dm.trainer = SimpleNamespace(training=True)
    trained = dm.on_after_batch_transfer(dict(batch), 0)
    assert int(trained["lengths"].sum()) < full
    dm.trainer = SimpleNamespace(training=False)
    validated = dm.on_after_batch_transfer(dict(batch), 0)
    assert int(validated["lengths"].sum()) == full


def test_a_run_trains_with_truncation_from_the_command_line(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "data.augmentation.truncate=0.5",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    assert "truncate: 0.5" in (run / "config.yaml").read_text()
