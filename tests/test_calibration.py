"""Temperature scaling and the expected calibration error."""

import pytest
import torch

from cropland.training.calibration import (
    TEMPERATURE_RANGE,
    expected_calibration_error,
    fit_temperature,
)


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
