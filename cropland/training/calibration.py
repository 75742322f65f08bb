"""Temperature scaling: one number that makes a classifier's probabilities mean what they say.

A network trained with cross-entropy is often over-confident: of its answers given with 0.9,
fewer than 90% are right. Dividing the logits by one temperature T > 1 (fitted on held-out
data by the negative log-likelihood, Guo et al., ICML 2017) softens every answer alike: the
argmax, hence accuracy, is unchanged. Expected calibration error (ECE, torchmetrics' binned
``MulticlassCalibrationError``) measures what is left: the gap between confidence and
accuracy, weighted over confidence bins.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor
from torchmetrics.functional.classification import multiclass_calibration_error

from cropland.io import atomic_output

# A temperature outside this range says the held-out data or the model is broken, not that
# the probabilities need it; checkpoints holding one are refused.
TEMPERATURE_RANGE = (0.05, 20.0)
ECE_BINS = 15


def fit_temperature(log_probabilities: Tensor, labels: Tensor, iterations: int = 100) -> float:
    """The temperature minimizing the mean negative log-likelihood of ``labels`` under
    ``softmax(log_probabilities / T)``. Logits or log-probabilities both do: a constant per row
    does not change a softmax. Searched over log T, so T stays positive."""
    if len(labels) == 0:
        raise ValueError("no held-out sequence to fit a temperature on")
    scores = log_probabilities.detach().double()
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=iterations)

    def loss() -> Tensor:
        optimizer.zero_grad()
        value = torch.nn.functional.cross_entropy(scores / log_t.exp(), labels)
        value.backward()
        return value

    optimizer.step(loss)
    low, high = TEMPERATURE_RANGE
    return float(min(max(math.exp(log_t.item()), low), high))


def expected_calibration_error(probabilities: Tensor, labels: Tensor) -> float:
    """ECE over :data:`ECE_BINS` equal-width confidence bins (0 = calibrated)."""
    return float(
        multiclass_calibration_error(
            probabilities, labels, num_classes=probabilities.shape[1], n_bins=ECE_BINS
        )
    )


@torch.no_grad()
def logits_and_labels(model: torch.nn.Module, loader, to_model_input) -> tuple[Tensor, Tensor]:
    """The model's logits and the labels of every sequence of ``loader``, in full precision."""
    model.eval()
    device = next(model.parameters()).device
    logits, labels = [], []
    for batch in loader:
        batch = to_model_input(batch)
        inputs = (batch[key].to(device) for key in ("image", "lengths", "months"))
        logits.append(model(*inputs).float().cpu())
        labels.append(batch["label"].cpu())
    if not logits:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
    return torch.cat(logits), torch.cat(labels)


def calibrate_checkpoint(model, datamodule, checkpoint: Path, with_test: bool) -> dict[str, float]:
    """Fit the temperature of ``checkpoint``'s weights on the validation split, store it in the
    checkpoint (a plain float among its hyperparameters, so it loads with ``weights_only``) and
    in ``model``; with ``with_test``, the test split's ECE before and after."""
    stored = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model.load_state_dict(stored["state_dict"])
    model.temperature = 1.0
    logits, labels = logits_and_labels(
        model, datamodule.val_dataloader(), datamodule.to_model_input
    )
    temperature = fit_temperature(logits, labels)
    scores = {"calibration/temperature": temperature}
    if with_test:
        logits, labels = logits_and_labels(
            model, datamodule.test_dataloader(), datamodule.to_model_input
        )
        if len(labels):
            scores["test/ece_raw"] = expected_calibration_error(logits.softmax(1), labels)
            scores["test/ece"] = expected_calibration_error(
                (logits / temperature).softmax(1), labels
            )
    stored["hyper_parameters"]["temperature"] = temperature
    with atomic_output(checkpoint, overwrite=True) as temporary:
        torch.save(stored, temporary)
    model.temperature = temperature
    return scores
