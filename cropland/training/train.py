"""The training pipeline behind ``scripts/train.py``: data, model, trainer, fit, test, report."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from cropland.io import write_json_atomic
from cropland.training.hparams import log_final_hparams
from cropland.training.report import classification_report, save_confusion_figures

log = logging.getLogger(__name__)

# Lightning 2.6 calls a torch pytree check that torch 2.13 deprecates, once per step; there is
# nothing a user can do about it.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate each entry with a ``_target_`` of a callbacks/logger group; skip nulls."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and entry.get("_target_")]


def train(cfg: DictConfig) -> dict[str, float]:
    """Train, then test the best checkpoint; returns the flat metrics also written to disk."""
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    if cfg.get("seed") is not None:
        L.seed_everything(cfg.seed, workers=True)

    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    # The model is built from what the training split says: classes, channels, statistics.
    model = instantiate(cfg.model, _recursive_=False, **datamodule.model_inputs())

    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks"))
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    if checkpoint is not None and checkpoint.best_model_score is not None:
        metrics[f"best/{checkpoint.monitor}"] = float(checkpoint.best_model_score)

    if cfg.get("test") and not trainer.fast_dev_run:
        best = checkpoint.best_model_path if checkpoint is not None else ""
        if not best:
            log.warning("No best checkpoint was saved; testing the weights of the last epoch.")
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")}
        )
        if trainer.is_global_zero:
            _write_test_report(model.confusion["test"].numpy(), model.classes, output_dir)

    log_final_hparams(loggers, cfg, metrics)
    if trainer.is_global_zero:
        write_json_atomic(output_dir / "metrics.json", dict(sorted(metrics.items())))
        log.info("Run folder: %s", output_dir)
    return metrics


def _write_test_report(confusion, classes: list[str], output_dir: Path) -> None:
    report = classification_report(confusion, classes)
    Console().print(f"\n[bold]Test set, best checkpoint[/bold]\n{report}\n", highlight=False)
    (output_dir / "report.txt").write_text(report + "\n")
    save_confusion_figures(confusion, classes, output_dir)


def optimized_metric(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper optimizes: the best validation score of the monitored metric."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    return metrics.get(f"best/{name}", metrics.get(name))
