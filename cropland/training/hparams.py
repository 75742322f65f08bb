"""The run's settings next to its final scores in TensorBoard's HParams view.

Lightning writes hyperparameters when fitting starts, before any score exists; the HParams
view only compares runs on metrics given with them, so the pipeline adds them at the end.
"""

from __future__ import annotations

from collections.abc import Iterable

from lightning.pytorch.loggers import Logger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

# The settings people compare runs by.
_COMPARED = ("data", "model.net", "optimizer", "scheduler", "trainer.max_epochs", "seed")
# Data settings that say nothing about the experiment.
_IGNORED = ("_target_", "_partial_", "path", "num_workers", "in_memory", "synthetic")
FINAL_METRICS = (
    "test/acc",
    "test/f1_macro",
    "val/acc",
    "val/f1_macro",
    "val/loss",
    "model/parameters",
    "time/seconds_per_epoch",
)


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
    """Flat ``{"model.net.hidden_channels": "[24, 32]", "optimizer.lr": 0.001, ...}``."""
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
    return flat


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
    """Send the compared settings with the final (and best monitored) scores."""
    final = {f"final/{name}": metrics[name] for name in FINAL_METRICS if name in metrics}
    best = f"best/{cfg.get('optimized_metric')}"
    if best in metrics:
        final[f"final/{best}"] = metrics[best]
    if not final:
        return
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(compared_settings(cfg), metrics=final)
