"""The published cropland ConvLSTM's trained weights (``best_model.pth``) in our classifier.

That project saved a plain ``state_dict`` of its model: two ConvLSTM cells
(``convlstm.cell_list.{0,1}.conv``, hidden 64 then 128, 3x3 kernels, gates ``i, f, o, g``)
and ``fc``, a Linear(128, 10) on the average-pooled last hidden state. Our
:class:`~cropland.models.convlstm.ConvLSTMClassifier` has the same cell and head, so the
weights only need new names.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from cropland.errors import CroplandError, short_reason
from cropland.models.convlstm import ConvLSTMClassifier
from cropland.models.state_dicts import non_finite_entries, state_dict_mismatches
from cropland.torch_files import torch_file_problem

# What the published model was trained on: RGB + NDVI45 + GNDVI, in this order, each scaled
# to [0, 1] and standardized; classes in the order of cropland.data.layout.CLASSES.
PUBLISHED_CHANNELS = ("red", "green", "blue", "ndvi45", "gndvi")
PUBLISHED_NUM_CLASSES = 10
PUBLISHED_ARCHITECTURE = {
    "hidden_channels": [64, 128],
    "kernel_sizes": [3, 3],
    "dropout": 0.0,
    "month_encoding": False,
    "downsample": 1,
}

# Their parameter names -> ours.
_RENAMES = (("convlstm.cell_list.", "encoder.cells."), ("fc.", "head."))


def published_classifier(readout: str = "last_step") -> ConvLSTMClassifier:
    """The published architecture with fresh weights (see :func:`load_published_checkpoint`)."""
    return ConvLSTMClassifier(
        in_channels=len(PUBLISHED_CHANNELS),
        num_classes=PUBLISHED_NUM_CLASSES,
        readout=readout,
        **PUBLISHED_ARCHITECTURE,
    )


def load_published_checkpoint(
    path: str | os.PathLike, readout: str = "last_step"
) -> ConvLSTMClassifier:
    """Our ConvLSTM classifier, in eval mode, carrying the published project's weights.

    Its forward takes float images (batch, time, 5, 65, 65) of RGB, NDVI45 and GNDVI scaled to
    [0, 1] and standardized per channel, and returns logits (batch, 10) in the class order of
    :data:`cropland.data.layout.CLASSES`. ``readout="last_step"`` reads the state after the
    batch's last step, padding included, as the published model did; ``"last_valid"`` reads
    each sequence at its own last step. The two agree on full-length sequences.

    The file is loaded with ``weights_only=True``; anything that is not such a state dict
    raises :class:`CroplandError` naming what is missing or mis-shaped.
    """
    path = Path(path)
    return published_from_state_dict(_load_state_dict(path), path, readout)


def is_published_state_dict(data: dict) -> bool:
    """Whether a loaded file is the published project's kind of state dict (its ConvLSTM's
    parameter names), as opposed to a Lightning checkpoint or anything else."""
    return any(str(key).startswith("convlstm.cell_list.") for key in data)


def published_from_state_dict(
    state: dict, path: str | os.PathLike, readout: str = "last_step"
) -> ConvLSTMClassifier:
    """:func:`load_published_checkpoint` for a state dict already loaded from ``path``."""
    path = Path(path)
    _check_tensors(path, state)
    model = published_classifier(readout)
    renamed = {_rename(key): value for key, value in state.items()}
    _check_keys(path, renamed, model.state_dict())
    model.load_state_dict(renamed)
    return model.eval()


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    if not path.is_file():
        raise CroplandError(
            f"{path} does not exist; expected the published project's best_model.pth"
        )
    problem = torch_file_problem(path)
    if problem is not None:
        raise CroplandError(
            f"{path} is not a PyTorch weights file that loads with weights_only=True "
            f"({problem}); expected the published project's best_model.pth"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways (EOF, zip errors, pickling, ...)
        raise CroplandError(
            f"{path} is not a PyTorch weights file that loads with weights_only=True "
            f"({short_reason(error)}); expected the published project's best_model.pth"
        ) from error
    if isinstance(state, dict) and "state_dict" in state and "pytorch-lightning_version" in state:
        raise CroplandError(
            f"{path} is a cropland (Lightning) checkpoint, not the published weights; load it "
            "with CropSequenceClassifier.load_from_checkpoint"
        )
    return state


def _check_tensors(path: Path, state: object) -> None:
    if not isinstance(state, dict):
        raise CroplandError(
            f"{path} holds a {type(state).__name__}, not a state dict of tensors; expected the "
            "published project's best_model.pth"
        )
    not_tensors = [
        repr(key)[:60]
        for key, value in state.items()
        if not isinstance(key, str) or not isinstance(value, Tensor)
    ]
    if not_tensors:
        raise CroplandError(
            f"{path} is not a state dict of tensors named by strings ({', '.join(not_tensors[:5])} "
            "are not); expected the published project's best_model.pth"
        )


def _rename(key: str) -> str:
    for theirs, ours in _RENAMES:
        if key.startswith(theirs):
            return ours + key[len(theirs) :]
    return key


def _original_name(key: str) -> str:
    for theirs, ours in _RENAMES:
        if key.startswith(ours):
            return theirs + key[len(ours) :]
    return key


def _check_keys(path: Path, found: dict[str, Tensor], expected: dict[str, Tensor]) -> None:
    problems = state_dict_mismatches(found, expected, _original_name)
    if problems:
        raise CroplandError(
            f"{path} is not the published ConvLSTM's weights: {'; '.join(problems)} "
            f"(expected 2 ConvLSTM cells of {PUBLISHED_ARCHITECTURE['hidden_channels']} channels "
            f"on {len(PUBLISHED_CHANNELS)} inputs and a Linear(128, 10))"
        )
    not_finite = non_finite_entries(found)
    if not_finite:
        raise CroplandError(
            f"{path}: {_original_name(not_finite[0])} holds NaN or infinite values "
            f"({len(not_finite)} of its tensors do); expected the published project's "
            "best_model.pth"
        )
