"""Optimizer and learning-rate schedule settings: checked before they are built, and followed
when a run resumes from a checkpoint whose schedule was made for another length."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import torch
from hydra.utils import get_class

from cropland.errors import CroplandError
from cropland.models.networks import find_hydra_keys

log = logging.getLogger(__name__)

# Settings that are Hydra's own, allowed at the top of a partial optimizer or scheduler config.
_TOP_LEVEL_KEYS = ("_target_", "_partial_")


def check_optimizer_settings(optimizer: Mapping, scheduler: Mapping | None) -> None:
    """Refuse optimizer or scheduler settings that would build anything but a torch optimizer or
    learning-rate scheduler from plain values; ``optimizer.lr`` must be positive."""
    _check_partial(optimizer, "optimizer", torch.optim.Optimizer)
    lr = optimizer.get("lr")
    if isinstance(lr, int | float) and not isinstance(lr, bool) and lr <= 0:
        raise CroplandError(f"optimizer.lr={lr}: the learning rate must be positive, e.g. 1e-3")
    if scheduler:
        _check_partial(
            scheduler,
            "scheduler",
            (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau),
        )


def _check_partial(settings: Mapping, where: str, base: type | tuple[type, ...]) -> None:
    nested = find_hydra_keys({k: v for k, v in settings.items() if k not in _TOP_LEVEL_KEYS}, where)
    if nested:
        raise CroplandError(f"{where} holds {', '.join(nested)}; only plain values are allowed")
    target = settings.get("_target_")
    try:
        cls = get_class(str(target))
    except Exception as error:  # Hydra wraps import and attribute errors in its own
        raise CroplandError(
            f"{where}._target_={target!r} is not a class that can be imported"
        ) from error
    bases = base if isinstance(base, tuple) else (base,)
    if not issubclass(cls, bases):
        names = " or ".join(f"{b.__module__}.{b.__qualname__}" for b in bases)
        raise CroplandError(f"{where}._target_={target!r} is not a subclass of {names}")


def rebuild_schedule(scheduler, settings: Mapping) -> None:
    """Make a scheduler restored from a checkpoint follow this run's ``settings`` (for example a
    cosine ``T_max`` made for a longer run): each differing setting is replaced and the learning
    rate set to what the new schedule gives at the current epoch. Says what it changed, or, for a
    scheduler without a closed form, that the checkpoint's schedule is kept."""
    changed = {
        key: (getattr(scheduler, key), value)
        for key, value in settings.items()
        if not key.startswith("_") and hasattr(scheduler, key) and getattr(scheduler, key) != value
    }
    if not changed:
        return
    described = ", ".join(f"{key} {old} -> {new}" for key, (old, new) in changed.items())
    name = type(scheduler).__name__
    if not hasattr(scheduler, "_get_closed_form_lr"):
        log.warning(
            "Resuming with %s settings that differ from the checkpoint's (%s); %s has no closed "
            "form, so the checkpoint's schedule is kept as it was.",
            name,
            described,
            name,
        )
        return
    for key, (_, new) in changed.items():
        setattr(scheduler, key, new)
    rates = scheduler._get_closed_form_lr()
    for group, rate in zip(scheduler.optimizer.param_groups, rates, strict=True):
        group["lr"] = rate
    scheduler._last_lr = list(rates)
    log.warning(
        "Resuming with %s settings that differ from the checkpoint's (%s): the schedule is "
        "rebuilt for the new settings; from epoch %d the learning rate is %s.",
        name,
        described,
        scheduler.last_epoch,
        ", ".join(f"{r:.3g}" for r in rates),
    )
