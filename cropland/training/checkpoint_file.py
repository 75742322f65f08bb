"""Reading a checkpoint file of ``scripts/train.py`` and checking that it holds data only.

Every route that takes a checkpoint from the user (resume in training, eval, predict, export,
``CropSequenceClassifier.load_from_checkpoint``) reads it here first: its size and zip
directory checked (:mod:`cropland.torch_files`), loaded on the CPU with ``weights_only=True``,
refused with one line unless it is a Lightning checkpoint of a :class:`CropSequenceClassifier`
whose hyperparameters are plain data naming one of cropland's networks, with classes, channels
and statistics a model can use, and weights that fit that network and are finite
(:mod:`cropland.training.checkpoint_checks`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from cropland.errors import CroplandError, short_reason
from cropland.models.networks import find_hydra_keys, network_class
from cropland.models.published import is_published_state_dict
from cropland.torch_files import torch_file_problem
from cropland.training.checkpoint_checks import (
    TRAINING_ONLY_HPARAMS,
    check_model_settings,
    check_state_dict,
)

# What a checkpoint's hyperparameters must hold to rebuild the model without its config.
REQUIRED_HPARAMS = ("net", "classes", "channels", "channel_mean", "channel_std")

_EXAMPLE = "outputs/train/runs/<time>/checkpoints/last.ckpt"


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's contents (loaded on the CPU with ``weights_only=True``), checked to be a
    Lightning checkpoint of a :class:`CropSequenceClassifier`."""
    return check_checkpoint(load_weights_only(ckpt_path), ckpt_path)


def load_weights_only(ckpt_path: str | os.PathLike) -> Any:
    """Whatever ``ckpt_path`` holds, loaded on the CPU with ``weights_only=True`` (so it can
    hold tensors and plain values only, never code); one-line errors for a missing file, a
    folder, a file whose size or zip directory promise more than a checkpoint costs to load
    (:func:`~cropland.torch_files.torch_file_problem`) or one torch cannot load that way."""
    path = Path(ckpt_path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise CroplandError(f"ckpt_path={path} {what}; give a checkpoint file such as {_EXAMPLE}")
    problem = torch_file_problem(path)
    if problem is not None:
        raise CroplandError(
            f"ckpt_path={path} is not a PyTorch checkpoint that loads with weights_only=True "
            f"({problem}); give a .ckpt written by scripts/train.py"
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways (EOF, KeyError, zip errors, ...)
        raise CroplandError(
            f"ckpt_path={path} is not a PyTorch checkpoint that loads with weights_only=True "
            f"({short_reason(error)}); give a .ckpt written by scripts/train.py"
        ) from error


def check_checkpoint(checkpoint: Any, ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """``checkpoint`` (from :func:`load_weights_only`) if it is a Lightning checkpoint of a
    :class:`CropSequenceClassifier` whose hyperparameters are plain data a model can use and
    whose weights fit the network they describe; else one line."""
    path = Path(ckpt_path)
    if not isinstance(checkpoint, dict):
        raise CroplandError(
            f"ckpt_path={path} holds a {type(checkpoint).__name__}, not a Lightning checkpoint; "
            "give a .ckpt written by scripts/train.py"
        )
    if "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        if is_published_state_dict(checkpoint):
            raise CroplandError(
                f"ckpt_path={path} is the published project's best_model.pth (a plain state "
                "dict), not a cropland checkpoint; load it with "
                "cropland.models.load_published_checkpoint"
            )
        raise CroplandError(
            f"ckpt_path={path} is not a Lightning checkpoint (no state_dict and "
            "pytorch-lightning_version); give a .ckpt written by scripts/train.py"
        )
    hparams = checkpoint.get("hyper_parameters")
    hparams = {} if hparams is None else hparams
    if not isinstance(hparams, dict):
        raise CroplandError(
            f"ckpt_path={path}: hyper_parameters is a {type(hparams).__name__}, not a mapping; "
            "give a .ckpt written by scripts/train.py"
        )
    missing = [key for key in REQUIRED_HPARAMS if key not in hparams]
    if missing:
        raise CroplandError(
            f"ckpt_path={path} is a Lightning checkpoint of another model: its hyperparameters "
            f"lack {', '.join(missing)}; give a .ckpt written by scripts/train.py"
        )
    where = f"ckpt_path={path}: hyper_parameters"
    check_hyperparameters(hparams, where)
    check_model_settings(hparams, where)
    check_state_dict(checkpoint, f"ckpt_path={path}")
    return checkpoint


def check_hyperparameters(hparams: dict[str, Any], where: str) -> None:
    """A checkpoint's hyperparameters are data: the net names one of cropland's networks
    exactly, and nothing else anywhere holds a Hydra key or a non-plain value, or is larger
    than any config (see :func:`~cropland.models.networks.find_hydra_keys`). The optimizer and
    scheduler may name their class (they are built only when training goes on)."""
    network_class(hparams["net"], f"{where}.net")
    settings = {
        key: {k: v for k, v in value.items() if k not in ("_target_", "_partial_")}
        if key in TRAINING_ONLY_HPARAMS and isinstance(value, dict)
        else value
        for key, value in hparams.items()
        if key != "net"
    }
    # One walk over all of them: the bounds on size hold for the whole file.
    suspicious = find_hydra_keys(settings, where)
    if suspicious:
        raise CroplandError(
            f"{where} holds {', '.join(suspicious)}: only plain values are allowed; "
            "refusing to load it"
        )
