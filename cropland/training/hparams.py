"""The run's settings next to its final scores in TensorBoard's HParams view.

Lightning writes hyperparameters when fitting starts, before any score exists; the HParams
view only compares runs on metrics given with them, so the pipeline adds them at the end.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from cropland.training.tensorboard_logger import CroplandTensorBoardLogger

# The settings people compare runs by.
_COMPARED = ("data", "model.net", "optimizer", "scheduler", "trainer.max_epochs", "seed")
# Data settings that say nothing about the experiment.
_IGNORED = ("_target_", "_partial_", "path", "num_workers", "in_memory", "synthetic")
# Shown first, beside the swept settings: TensorBoard shows five columns until asked for more.
_FIRST = ("model", "optimizer.lr", "data.channels", "seed")
# Overrides of these groups say where and how a run runs, not what it is.
_NOT_SETTINGS = ("hydra", "paths", "callbacks", "logger")
# The HParams view's metrics, by what they are called there: scalars every run logs anyway,
# whose last point TensorBoard shows (the last epoch's for val, the best checkpoint's for test).
SCORE_NAMES = {
    "val/f1_macro": "val macro F1",
    "val/acc": "val accuracy",
    "val/loss": "val loss",
    "test/f1_macro": "test macro F1",
    "test/acc": "test accuracy",
    "test/loss": "test loss",
}


def run_tags(cfg: DictConfig) -> list[str]:
    """The config's ``tags`` (``tags=[convlstm,ca19]``; one word is one tag), which metrics.json
    and the HParams view carry to tell runs apart."""
    tags = cfg.get("tags")
    if tags is None:
        return []
    if isinstance(tags, str | int | float):
        return [str(tags)]
    return [str(tag) for tag in tags]


def compared_settings(cfg: DictConfig) -> dict[str, int | float | str | bool]:
    """Flat ``{"model.net.hidden_channels": "[24, 32]", "optimizer.lr": 0.001, ...}``, with
    every key the Hydra job overrides (a group's choice for a group: ``optimizer: sgd``)."""
    flat: dict[str, int | float | str | bool] = {}
    tags = run_tags(cfg)
    if tags:
        flat["tags"] = ", ".join(tags)
    # Which network: its class name (the _target_ paths are otherwise left out).
    target = OmegaConf.select(cfg, "model.net._target_")
    if isinstance(target, str):
        flat["model"] = target.rsplit(".", 1)[-1]
    for key in _COMPARED:
        value = OmegaConf.select(cfg, key)
        if isinstance(value, DictConfig):
            value = OmegaConf.to_container(value, resolve=True)
        _flatten(key, value, flat)
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    for key in _overridden_keys(_job_overrides()):
        if key in flat:
            continue
        value = OmegaConf.select(cfg, key)
        if key in choices:
            flat[key] = str(choices[key])
        elif isinstance(value, DictConfig):
            _flatten(key, OmegaConf.to_container(value, resolve=True), flat)
        else:
            _flatten(key, value, flat)
    return flat


def first_settings(settings: dict) -> list[str]:
    """The settings the HParams view shows first: those a multirun sweeps, the model, learning
    rate, channels and seed."""
    swept = _overridden_keys(_swept_overrides())
    return [key for key in dict.fromkeys([*swept, *_FIRST]) if key in settings]


def _job_overrides() -> list[str]:
    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def _swept_overrides() -> list[str]:
    """The sweep's own overrides (``optimizer.lr=1e-3,3e-3``, a sweeper's search space) in a
    multirun job; none in a single run. A job's overrides hold the settings every job shares
    too (its data, its epochs): those are compared, not shown first."""
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return []
    hydra = HydraConfig.get()
    overrides = [f"{key}={value}" for key, value in (hydra.sweeper.get("params") or {}).items()]
    # Hydra saves the command line of the whole sweep there before it starts the jobs.
    sweep_config = Path(hydra.sweep.dir) / "multirun.yaml"
    if sweep_config.is_file():
        given = OmegaConf.select(OmegaConf.load(sweep_config), "hydra.overrides.task") or []
        parsed = OverridesParser.create().parse_overrides(list(given))
        overrides += [str(o.input_line) for o in parsed if o.is_sweep_override()]
    return overrides


def _overridden_keys(overrides: list[str]) -> list[str]:
    """The keys of ``overrides`` that are settings of the run, in order."""
    keys = []
    for override in OverridesParser.create().parse_overrides(overrides):
        key = override.key_or_group
        parts = key.split(".")
        if parts[0] in _NOT_SETTINGS or parts[-1] in _IGNORED:
            continue
        keys.append(key)
    return keys


def _flatten(key: str, value, flat: dict) -> None:
    if isinstance(value, dict):
        for child, inner in value.items():
            if child not in _IGNORED:
                _flatten(f"{key}.{child}", inner, flat)
    elif isinstance(value, bool | int | float | str):
        flat[key] = value
    elif value is not None:
        flat[key] = str(value)  # lists: TensorBoard takes scalars and strings only


def log_final_hparams(loggers: Iterable[Logger], cfg: DictConfig, metrics: dict) -> None:
    """Send the compared settings, with the model's size, to the HParams view, compared on
    the scores of :data:`SCORE_NAMES` the run has and the best monitored score."""
    compared = {}
    # The curve of callbacks.BestScoreCurve, when the run has one.
    monitor = cfg.get("optimized_metric")
    if f"best/{monitor}" in metrics and OmegaConf.select(cfg, "callbacks.best_score_curve"):
        compared[f"{monitor}_best"] = f"{SCORE_NAMES.get(monitor, monitor)} (best epoch)"
    for tag, name in SCORE_NAMES.items():
        if tag in metrics:
            when = "last epoch" if tag.startswith("val/") else "best checkpoint"
            compared[tag] = f"{name} ({when})"
    if not compared:
        return
    settings = compared_settings(cfg)
    if "model/parameters" in metrics:
        settings["model.parameters"] = int(metrics["model/parameters"])
    for logger in loggers:
        if isinstance(logger, CroplandTensorBoardLogger):
            logger.log_comparison(settings, first_settings(settings), compared)
