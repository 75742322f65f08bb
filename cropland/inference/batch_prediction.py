"""Run a classifier over batches and keep what scoring and prediction files need, optionally cut
at a month."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn


@dataclass
class Predictions:
    """One row per sequence that had at least one image by the month cut-off."""

    index: np.ndarray  # sequence number in the prepared file
    label: np.ndarray  # true class, UNKNOWN_CLASS (-1) when unknown
    probabilities: np.ndarray  # (sequences, classes), rows sum to 1
    steps: np.ndarray  # images the model saw
    dropped: int  # sequences with no image by the cut-off

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)


@torch.no_grad()
def predict(
    model: nn.Module,
    batches: Iterable[dict],
    to_model_input: Callable[[dict], dict],
    last_month: int | torch.Tensor | None = None,
) -> Predictions:
    """Class probabilities of every sequence in ``batches``.

    ``to_model_input`` turns a loader batch into float images (the datamodule's
    ``on_after_batch_transfer``). With ``last_month`` the model sees only the images taken
    up to that month, as it would early in the season; images are sorted by date, so those
    are the first steps of each sequence. A tensor gives each sequence its own last month, by
    the sequence's index (0: no image yet).
    """
    model.eval()
    columns: dict[str, list] = {"index": [], "label": [], "probabilities": [], "steps": []}
    dropped = 0
    for batch in batches:
        batch = to_model_input(batch)
        lengths = batch["lengths"]
        if last_month is not None:
            cut = last_month
            if isinstance(cut, torch.Tensor):
                device = batch["months"].device
                cut = cut.to(device)[batch["index"].to(device)][:, None]
            lengths = (batch["mask"] & (batch["months"] <= cut)).sum(dim=1)
        seen = lengths > 0
        dropped += int((~seen).sum())
        if not seen.any():
            continue
        logits = model(batch["image"][seen], lengths[seen], batch["months"][seen])
        columns["probabilities"].append(torch.softmax(logits.float(), dim=1).cpu().numpy())
        columns["index"].append(batch["index"][seen].cpu().numpy())
        columns["label"].append(batch["label"][seen].cpu().numpy())
        columns["steps"].append(lengths[seen].cpu().numpy())
    if not columns["index"]:
        num_classes = _num_classes(model)
        empty = np.zeros(0, dtype=np.int64)
        return Predictions(empty, empty, np.zeros((0, num_classes)), empty, dropped)
    return Predictions(
        index=np.concatenate(columns["index"]),
        label=np.concatenate(columns["label"]),
        probabilities=np.concatenate(columns["probabilities"]),
        steps=np.concatenate(columns["steps"]),
        dropped=dropped,
    )


def _num_classes(model: nn.Module) -> int:
    classes = getattr(model, "classes", None)
    return len(classes) if classes is not None else 0
