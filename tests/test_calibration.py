"""Temperature scaling and the expected calibration error, and the temperature training stores
in the best checkpoint."""

import json

import pytest
import torch

from cropland.errors import CroplandError
from cropland.training.calibration import (
    TEMPERATURE_RANGE,
    expected_calibration_error,
    fit_temperature,
)
from tests.script_runs import TINY_TRAINING, call_script


def _overconfident(n=4000, classes=5, true_temperature=2.5, seed=0):
    """Labels drawn from softmax(logits / true_temperature), and those logits: a model whose
    probabilities are too sharp by exactly that temperature."""
    generator = torch.Generator().manual_seed(seed)
    logits = 3 * torch.randn(n, classes, generator=generator)
    labels = torch.multinomial(torch.softmax(logits / true_temperature, 1), 1, generator=generator)
    return logits, labels.squeeze(1)


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    logits, labels = _overconfident(true_temperature=2.5)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.1)
    # Log-probabilities give the same temperature as logits.
    log_probabilities = torch.log_softmax(logits, 1)
    assert fit_temperature(log_probabilities, labels) == pytest.approx(
        fit_temperature(logits, labels), rel=1e-4
    )


def test_scaling_lowers_the_calibration_error_and_keeps_every_answer():
    logits, labels = _overconfident(true_temperature=3.0, seed=1)
    temperature = fit_temperature(logits, labels)
    raw, scaled = torch.softmax(logits, 1), torch.softmax(logits / temperature, 1)
    assert expected_calibration_error(scaled, labels) < 0.03
    assert expected_calibration_error(raw, labels) > 3 * expected_calibration_error(scaled, labels)
    assert torch.equal(raw.argmax(1), scaled.argmax(1))


def test_a_calibrated_model_keeps_a_temperature_near_one():
    logits, labels = _overconfident(true_temperature=1.0, seed=2)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


def test_degenerate_data_gives_a_temperature_in_range_or_a_clear_error():
    logits = torch.tensor([[50.0, -50.0]] * 20)
    labels = torch.tensor([1] * 20)  # always confidently wrong
    low, high = TEMPERATURE_RANGE
    assert low <= fit_temperature(logits, labels) <= high
    with pytest.raises(ValueError, match="no held-out sequence"):
        fit_temperature(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))


@pytest.mark.parametrize("calibration", [True, False])
def test_training_stores_the_temperature_in_the_best_checkpoint(
    prepared_file, tmp_path, calibration
):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        f"calibration={str(calibration).lower()}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    (best,) = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    stored = torch.load(best, map_location="cpu", weights_only=True)["hyper_parameters"]
    if calibration:
        assert stored["temperature"] == metrics["calibration/temperature"]
        low, high = TEMPERATURE_RANGE
        assert low <= stored["temperature"] <= high
        assert 0 <= metrics["test/ece"] <= 1 and 0 <= metrics["test/ece_raw"] <= 1
    else:
        assert stored["temperature"] == 1.0
        assert "test/ece" not in metrics and "calibration/temperature" not in metrics


def test_the_model_divides_its_logits_by_the_temperature(trained_run, tmp_path):
    from cropland.inference.model_loading import load_model

    checkpoint = trained_run.best_checkpoint
    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)
    stored["hyper_parameters"]["temperature"] = 2.0
    hot = tmp_path / "hot.ckpt"
    torch.save(stored, hot)
    plain, scaled = load_model(checkpoint).classifier, load_model(hot).classifier
    images = torch.rand(3, 2, len(plain.hparams.channels), 65, 65)
    lengths, months = torch.tensor([2, 1, 2]), torch.tensor([[6, 7], [6, 0], [8, 9]])
    with torch.no_grad():
        expected = plain(images, lengths, months) / (2.0 / plain.temperature)
        torch.testing.assert_close(scaled(images, lengths, months), expected)


@pytest.mark.parametrize("temperature", [-1.0, float("nan"), "x", 1e6])
def test_a_checkpoint_with_a_bad_temperature_is_refused(trained_run, tmp_path, temperature):
    from cropland.inference.model_loading import load_model

    stored = torch.load(trained_run.best_checkpoint, map_location="cpu", weights_only=True)
    stored["hyper_parameters"]["temperature"] = temperature
    bad = tmp_path / "bad.ckpt"
    torch.save(stored, bad)
    with pytest.raises(CroplandError, match="temperature"):
        load_model(bad)
