"""Reading a checkpoint file of ``scripts/train.py`` and checking that it holds data only.

Every route that takes a checkpoint from the user (resume in training, eval, predict, export,
``CropSequenceClassifier.load_from_checkpoint``) reads it here first: its size and zip
directory checked (:mod:`cropland.torch_files`), loaded on the CPU with ``weights_only=True``,
refused with one line unless it is a Lightning checkpoint of a :class:`CropSequenceClassifier`
whose hyperparameters are plain data naming one of cropland's networks, with classes, channels
and normalization statistics a model can use, and weights that fit that network and are finite.

The weights are compared with a classifier built from the hyperparameters on the meta device,
which allocates nothing: a crafted file that names a huge network is refused at the cost of a
few Python objects, and the classifier built for real afterwards is no larger than the weights
the file holds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from cropland.data.channels import channel_names_problem
from cropland.data.class_names import class_names_problem
from cropland.data.layout import DATASET_PRODUCT_LEVEL, PRODUCT_LEVELS
from cropland.errors import CroplandError, short_reason
from cropland.models.networks import find_hydra_keys, network_class
from cropland.models.published import is_published_state_dict
from cropland.models.state_dicts import non_finite_entries, state_dict_mismatches
from cropland.torch_files import torch_file_problem
from cropland.training.calibration import TEMPERATURE_RANGE

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier

# What a checkpoint's hyperparameters must hold to rebuild the model without its config.
REQUIRED_HPARAMS = ("net", "classes", "channels", "channel_mean", "channel_std")

# Settings a checkpoint stores for training only: never built when a model is used.
TRAINING_ONLY_HPARAMS = ("optimizer", "scheduler")

# The largest magnitude the model's float32 buffers hold; beyond it a number becomes infinite.
_LARGEST = float(torch.finfo(torch.float32).max)

# The buffers that standardize the input, saved both as hyperparameters and in the state dict.
_STATISTICS = ("channel_mean", "channel_std")


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
        raise CroplandError(
            f"ckpt_path={path} {what}; give a checkpoint file such as {_EXAMPLE}, a training "
            "run folder (its best checkpoint) or ckpt_path=best (the newest run's best)"
        )
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


def classifier_arguments(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of the :class:`CropSequenceClassifier` a checkpoint's hyperparameters
    describe, for a model in use: the optimizer and scheduler are left out (never built)."""
    arguments = {k: v for k, v in hparams.items() if k not in TRAINING_ONLY_HPARAMS}
    return {**arguments, "optimizer": {}}


def check_model_settings(hparams: Mapping[str, Any], where: str) -> None:
    """The classes, channels, normalization statistics and class weights (in ``hparams``, which
    ``where`` names) are what a model can use: names a CSV or raster may carry, one finite
    statistic per channel (standard deviations above 0), one finite, non-negative weight per
    class (or none)."""
    problem = class_names_problem(hparams["classes"])
    if problem:
        raise CroplandError(f"{where}.classes: {problem}; refusing to load it")
    problem = channel_names_problem(hparams["channels"])
    if problem:
        raise CroplandError(f"{where}.channels: {problem}; refusing to load it")
    channels, classes = len(hparams["channels"]), len(hparams["classes"])
    _check_numbers(hparams["channel_mean"], channels, "channel", f"{where}.channel_mean")
    _check_numbers(hparams["channel_std"], channels, "channel", f"{where}.channel_std", above=0)
    temperature = hparams.get("temperature", 1.0)
    low, high = TEMPERATURE_RANGE
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not (low <= temperature <= high)
    ):
        raise CroplandError(
            f"{where}.temperature: {str(temperature)[:40]!r} is not a calibration temperature "
            f"from {low} to {high}; refusing to load it"
        )
    level = hparams.get("product_level", DATASET_PRODUCT_LEVEL)
    if level not in PRODUCT_LEVELS:
        raise CroplandError(
            f"{where}.product_level: {str(level)[:40]!r} is not one of "
            f"{', '.join(PRODUCT_LEVELS)}; refusing to load it"
        )
    if hparams.get("class_weights") is not None:
        _check_numbers(
            hparams["class_weights"], classes, "class", f"{where}.class_weights", at_least=0
        )


def check_state_dict(checkpoint: Mapping[str, Any], where: str) -> None:
    """The checkpoint's state dict is the one its hyperparameters' classifier has (keys, shapes,
    floating or integer types), its floating tensors are finite and its normalization buffers are
    the hyperparameters' statistics. Run after :func:`check_model_settings`."""
    hparams = checkpoint["hyper_parameters"]
    state = checkpoint["state_dict"]
    if not isinstance(state, Mapping):
        raise CroplandError(
            f"{where}: state_dict is a {type(state).__name__}, not a mapping of weights; "
            "refusing to load it"
        )
    expected = classifier_on_meta(hparams, f"{where}: hyper_parameters").state_dict()
    problems = state_dict_mismatches(state, expected)
    if problems:
        raise CroplandError(
            f"{where}: its state_dict does not fit the network its hyper_parameters describe "
            f"({hparams['net']['_target_']}): {'; '.join(problems)}; use the checkpoint as "
            "scripts/train.py wrote it, with the cropland version that wrote it"
        )
    not_finite = non_finite_entries(state)
    if not_finite:
        others = f" (and {len(not_finite) - 1} more tensors)" if len(not_finite) > 1 else ""
        raise CroplandError(
            f"{where}: state_dict {not_finite[0]}{others} holds NaN or infinite values: the run "
            "diverged or the file was altered; use an earlier checkpoint of the run"
        )
    for key in _STATISTICS:
        stored = state[key]
        if not torch.equal(stored.flatten(), torch.tensor(hparams[key], dtype=stored.dtype)):
            raise CroplandError(
                f"{where}: state_dict {key} differs from hyper_parameters.{key}, the statistics "
                "the model says it standardizes with; refusing to load it"
            )


def classifier_on_meta(hparams: Mapping[str, Any], where: str) -> CropSequenceClassifier:
    """The classifier of :func:`classifier_arguments`, built on the meta device: shapes and
    dtypes only, no memory. Settings the networks refuse become one line naming ``where``."""
    # Imported here: module.py imports this one, and Lightning takes seconds to import, which a
    # refusal of a wrong path need not wait for.
    from cropland.training.module import CropSequenceClassifier

    try:
        with torch.device("meta"):
            return CropSequenceClassifier(**classifier_arguments(hparams))
    # What a network's constructor raises for a setting it cannot take: a wrong or missing key
    # (TypeError), a value it refuses (CroplandError, ValueError), a size torch cannot make.
    except (TypeError, ValueError, RuntimeError, OverflowError) as error:
        reason = str(error) if isinstance(error, CroplandError) else short_reason(error)
        raise CroplandError(
            f"{where} do not build a CropSequenceClassifier ({reason}); use the cropland "
            "version that wrote it"
        ) from error


def _check_numbers(
    values: Any,
    count: int,
    per: str,
    where: str,
    above: float | None = None,
    at_least: float | None = None,
) -> None:
    """``values`` is a list of ``count`` finite numbers, each ``above`` or ``at_least`` a bound
    when one is given; else one line naming ``where``."""
    problem = _numbers_problem(values, count, per, above, at_least)
    if problem:
        raise CroplandError(
            f"{where}: {problem}; the file is not a checkpoint as scripts/train.py wrote it, "
            "refusing to load it"
        )


def _numbers_problem(
    values: Any, count: int, per: str, above: float | None, at_least: float | None
) -> str | None:
    if isinstance(values, str) or not isinstance(values, list | tuple):
        return f"a {type(values).__name__}, expected a list of numbers, one per {per}"
    if len(values) != count:
        return f"{len(values)} values, expected {count}, one per {per}"
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return f"entry {index} is a {type(value).__name__}, expected a number"
        if not abs(value) <= _LARGEST:
            return f"entry {index} is {_shown(value)}, expected a finite number"
        if above is not None and value <= above:
            return f"entry {index} is {_shown(value)}, expected a number above {above}"
        if at_least is not None and value < at_least:
            return f"entry {index} is {_shown(value)}, expected a number at least {at_least}"
    return None


def _shown(value: int | float) -> str:
    # Python refuses to print whole numbers of thousands of digits.
    return repr(value) if isinstance(value, float) or abs(value) < 10**20 else "a huge number"
