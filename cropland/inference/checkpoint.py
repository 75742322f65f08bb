"""Loading a checkpoint written by ``scripts/train.py`` for use outside training.

Shared by the scripts that use a trained model (export, eval, predict): each gets the same
checks and the same one-line errors for a wrong file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cropland.errors import CroplandError, short_reason

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier

# What a checkpoint's hyperparameters must hold to rebuild the model without its config.
REQUIRED_HPARAMS = ("net", "classes", "channels", "channel_mean", "channel_std")

# The net is built with Hydra's instantiate from the checkpoint's ``net._target_``. Only our own
# models are allowed, so a crafted checkpoint cannot name any other callable: weights_only
# loading would be of little use if the file could still choose the code that runs.
NET_TARGET_PREFIX = "cropland.models."

_EXAMPLE = "outputs/train/runs/<time>/checkpoints/last.ckpt"


def read_checkpoint(ckpt_path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's contents (loaded on the CPU with ``weights_only=True``), checked to be a
    Lightning checkpoint of a :class:`CropSequenceClassifier`."""
    path = Path(ckpt_path)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise CroplandError(f"ckpt_path={path} {what}; give a checkpoint file such as {_EXAMPLE}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load fails in many ways (EOF, KeyError, zip errors, ...)
        raise CroplandError(
            f"ckpt_path={path} is not a PyTorch checkpoint that loads with weights_only=True "
            f"({short_reason(error)}); give a .ckpt written by scripts/train.py"
        ) from error
    if not isinstance(checkpoint, dict):
        raise CroplandError(
            f"ckpt_path={path} holds a {type(checkpoint).__name__}, not a Lightning checkpoint; "
            "give a .ckpt written by scripts/train.py"
        )
    if "state_dict" not in checkpoint or "pytorch-lightning_version" not in checkpoint:
        if _is_published_state_dict(checkpoint):
            raise CroplandError(
                f"ckpt_path={path} is the published project's best_model.pth (a plain state "
                "dict), not a cropland checkpoint; load it with "
                "cropland.models.load_published_checkpoint"
            )
        raise CroplandError(
            f"ckpt_path={path} is not a Lightning checkpoint (no state_dict and "
            "pytorch-lightning_version); give a .ckpt written by scripts/train.py"
        )
    hparams = checkpoint.get("hyper_parameters") or {}
    missing = [key for key in REQUIRED_HPARAMS if key not in hparams]
    if missing:
        raise CroplandError(
            f"ckpt_path={path} is a Lightning checkpoint of another model: its hyperparameters "
            f"lack {', '.join(missing)}; give a .ckpt written by scripts/train.py"
        )
    target = str((hparams["net"] or {}).get("_target_", ""))
    if not target.startswith(NET_TARGET_PREFIX):
        raise CroplandError(
            f"ckpt_path={path}: hyper_parameters.net._target_={target!r} is not one of "
            f"cropland's models ({NET_TARGET_PREFIX}*); refusing to build it"
        )
    return checkpoint


def classifier_from_checkpoint(
    checkpoint: dict[str, Any], ckpt_path: str | os.PathLike
) -> CropSequenceClassifier:
    """The classifier described by a checkpoint from :func:`read_checkpoint`, in eval mode."""
    # Imported here: Lightning takes seconds to import, and a script that only reports a wrong
    # path (read_checkpoint) should not wait for it.
    from cropland.training.module import CropSequenceClassifier

    try:
        model = CropSequenceClassifier(**checkpoint["hyper_parameters"])
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, RuntimeError) as error:
        raise CroplandError(
            f"ckpt_path={ckpt_path} does not fit this version of cropland's "
            f"CropSequenceClassifier ({short_reason(error)}); use the cropland version that "
            "wrote it"
        ) from error
    return model.eval()


def load_classifier(ckpt_path: str | os.PathLike) -> CropSequenceClassifier:
    """A :class:`CropSequenceClassifier` from a checkpoint of ``scripts/train.py``: on the CPU,
    in eval mode, with its classes, channel order and normalization statistics.

    Raises :class:`CroplandError` for a missing file, a file that is not such a checkpoint, or
    the published project's ``best_model.pth`` (use
    :func:`cropland.models.load_published_checkpoint` for that one).
    """
    return classifier_from_checkpoint(read_checkpoint(ckpt_path), ckpt_path)


def run_folder_of(ckpt_path: str | os.PathLike) -> Path | None:
    """The training run folder (absolute) whose ``checkpoints/`` holds ``ckpt_path``: the one
    with the run's ``config.yaml`` and ``metrics.json``. None for a checkpoint kept elsewhere."""
    folder = Path(ckpt_path).resolve().parent
    if folder.name == "checkpoints" and (folder.parent / "config.yaml").is_file():
        return folder.parent
    return None


def _is_published_state_dict(data: dict) -> bool:
    return any(str(key).startswith("convlstm.cell_list.") for key in data)
