"""The training pipeline behind ``scripts/train.py``: data, model, trainer, fit, test, report."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from cropland.io import Interrupted, write_json_atomic, write_text_atomic
from cropland.precision import why_precision
from cropland.training.calibration import calibrate_checkpoint
from cropland.training.callbacks import EpochSeeding, EpochTimer
from cropland.training.figures import save_confusion_figures, tested_weights
from cropland.training.hparams import log_final_hparams, run_tags
from cropland.training.optim import check_optimizer_settings
from cropland.training.quiet_lightning import quiet_lightning
from cropland.training.resume import check_resume_fits, check_run_folder, resume_checkpoint
from cropland.training.scores import classification_report, is_stage_score
from cropland.training.test_predictions import TEST_PREDICTIONS_FILE, write_test_predictions

log = logging.getLogger(__name__)

# Each test sequence as the run predicted it, written by train.py and train_baseline.py and
# read by the benchmark table, which pairs runs sequence by sequence. A sequence is named by its
# index in the prepared file and its point id; label and prediction are class indices.

# Lightning 2.6 calls a torch pytree check that torch 2.13 deprecates, once per step; there is
# nothing a user can do about it.
warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def instantiate_group(group: DictConfig | None) -> list:
    """Instantiate each entry with a ``_target_`` of a callbacks/logger group; skip nulls."""
    if not group:
        return []
    return [instantiate(entry) for entry in group.values() if entry and entry.get("_target_")]


def build_classifier(cfg: DictConfig, model_inputs: dict) -> L.LightningModule:
    """``cfg.model`` trained with the ``optimizer`` and ``scheduler`` groups (scheduler null: a
    constant learning rate), for ``model_inputs`` (the datamodule's classes, channels,
    statistics)."""
    return instantiate(
        cfg.model,
        _recursive_=False,
        optimizer=_plain_settings(cfg.optimizer),
        scheduler=_plain_settings(cfg.get("scheduler")),
        **model_inputs,
    )


def _plain_settings(settings: DictConfig | None) -> dict | None:
    return None if settings is None else OmegaConf.to_container(settings, resolve=True)


def train(cfg: DictConfig) -> dict[str, float]:
    """Train, then test the best checkpoint; returns the flat metrics also written to disk."""
    output_dir = Path(cfg.paths.output_dir)
    # Checked before anything is built or written: a crafted checkpoint is refused here.
    runs_folder = Path(cfg.paths.log_dir) / cfg.task_name / "runs"
    resume_from = resume_checkpoint(cfg.get("ckpt_path"), runs_folder, output_dir)
    # Only the first process looks: DDP starts the others once it has written into the folder.
    in_place = rank_zero_only.rank == 0 and check_run_folder(output_dir, resume_from)
    _check_optimizer_config(cfg)
    seed = cfg.get("seed")
    # Shuffling follows the run seed, epoch by epoch, so a resumed run sees the same order.
    datamodule = instantiate(cfg.data, shuffle_seed=seed or 0)
    datamodule.prepare_data()
    datamodule.setup("fit")
    if resume_from is not None:
        net = OmegaConf.to_container(cfg.model.net, resolve=True)
        check_resume_fits(resume_from, {"net": net, **datamodule.model_inputs()})
    # Written once the settings, the data and the checkpoint to resume have passed their checks.
    _save_config(cfg, output_dir, in_place)
    if seed is not None:
        L.seed_everything(seed, workers=True)
    # The model is built from what the training split says: classes, channels, statistics.
    model = build_classifier(cfg, datamodule.model_inputs())

    callbacks: list[Callback] = instantiate_group(cfg.get("callbacks"))
    if seed is not None:
        callbacks.append(EpochSeeding(seed))
    timer = EpochTimer()
    callbacks.append(timer)
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    _log_precision(cfg.trainer)
    quiet_lightning()
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)

    with _explained_interrupts(trainer, callbacks):
        trainer.fit(
            model,
            datamodule=datamodule,
            ckpt_path=resume_from.path if resume_from else None,
            weights_only=True,
        )
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    # What a comparison of models needs beside the scores: their size and their cost.
    metrics["model/parameters"] = sum(p.numel() for p in model.net.parameters())
    if timer.seconds_per_epoch is not None:
        metrics["time/seconds_per_epoch"] = timer.seconds_per_epoch

    # The checkpoint that follows the optimized metric (another one keeps last.ckpt).
    checkpoint = next(
        (c for c in callbacks if isinstance(c, ModelCheckpoint) and c.monitor is not None), None
    )
    if checkpoint is not None and checkpoint.best_model_score is not None:
        metrics[f"best/{checkpoint.monitor}"] = float(checkpoint.best_model_score)

    if cfg.get("test") and not len(datamodule.datasets["test"]):
        log.warning("The test split is empty (data.test_fraction=0?): nothing to test.")
    elif cfg.get("test") and not trainer.fast_dev_run:
        best = checkpoint.best_model_path if checkpoint is not None else ""
        if not best:
            log.warning("No best checkpoint was saved; testing the weights of the last epoch.")
        with _explained_interrupts(trainer, callbacks):
            trainer.test(
                model,
                datamodule=datamodule,
                ckpt_path=best or None,
                verbose=False,
                weights_only=True,
            )
        metrics.update(
            {k: float(v) for k, v in trainer.callback_metrics.items() if is_stage_score(k, "test")}
        )
        confusion = model.confusion["test"].numpy()
        # Sequences scored, over all processes: under DDP each test sequence counts once.
        metrics["test/sequences"] = int(confusion.sum())
        if trainer.is_global_zero:
            weights = tested_weights(best or None)
            _write_test_report(confusion, model.classes, output_dir, weights, in_place)
        if trainer.world_size == 1:
            sequences, labels, predicted = model.test_predictions.numpy().T
            write_test_predictions(
                output_dir, datamodule, sequences, labels, predicted, overwrite=in_place
            )
        elif trainer.is_global_zero:
            # Each process holds the predictions of its share of the test split only.
            log.info("No %s: written by runs of one process only", TEST_PREDICTIONS_FILE)

    best = checkpoint.best_model_path if checkpoint is not None else ""
    if cfg.get("calibration", True) and best and len(datamodule.datasets["val"]):
        if trainer.world_size == 1:
            tested = bool(cfg.get("test")) and len(datamodule.datasets["test"]) > 0
            metrics.update(calibrate_checkpoint(model, datamodule, Path(best), tested))
            log.info(
                "Calibration temperature %.3f, stored in %s",
                metrics["calibration/temperature"],
                best,
            )
        else:
            log.info("No calibration: fitted in runs of one process only")
    log_final_hparams(loggers, cfg, metrics)
    if trainer.is_global_zero:
        metrics_file = output_dir / "metrics.json"
        record = {**metrics, "tags": run_tags(cfg)}
        write_json_atomic(metrics_file, dict(sorted(record.items())), overwrite=in_place)
        log.info("Run folder: %s", output_dir)
    return metrics


@rank_zero_only
def _log_precision(trainer: DictConfig) -> None:
    """Say which precision the run uses and whether the hardware or a setting chose it."""
    given = OmegaConf.to_container(trainer, resolve=False).get("precision")
    chosen_by_default = isinstance(given, str) and given.startswith("${default_precision:")
    log.info(why_precision(str(trainer.precision), str(trainer.accelerator), chosen_by_default))


def _check_optimizer_config(cfg: DictConfig) -> None:
    """The optimizer and schedule settings, checked before data is read (the module checks
    them again when training builds them, for models loaded from a checkpoint)."""
    check_optimizer_settings(_plain_settings(cfg.optimizer), _plain_settings(cfg.get("scheduler")))


@rank_zero_only
def _save_config(cfg: DictConfig, output_dir: Path, overwrite: bool) -> None:
    """The resolved config, once per run (every DDP process runs ``train``). Without
    ``overwrite`` it claims the folder: of two runs started into one folder, the second stops
    here, before training."""
    config = OmegaConf.to_yaml(cfg, resolve=True)
    write_text_atomic(output_dir / "config.yaml", config, overwrite=overwrite)


def _write_test_report(
    confusion, classes: list[str], output_dir: Path, weights: str, overwrite: bool
) -> None:
    report = classification_report(confusion, classes)
    Console().print(f"\n[bold]Test set, best checkpoint[/bold]\n{report}\n", highlight=False)
    write_text_atomic(output_dir / "report.txt", report + "\n", overwrite=overwrite)
    save_confusion_figures(confusion, classes, output_dir, "test", weights, overwrite)


@contextmanager
def _explained_interrupts(trainer: L.Trainer, callbacks: list[Callback]) -> Iterator[None]:
    """Lightning ends a Ctrl-C during fit or test with ``exit(1)``, once its callbacks have
    saved ``last.ckpt``; turn that into an :class:`Interrupted` naming the checkpoints kept."""
    try:
        yield
    except SystemExit as exit:
        if not (trainer.interrupted and exit.code == 1):
            raise
        raise Interrupted(_checkpoints_kept(callbacks)) from None


def _checkpoints_kept(callbacks: list[Callback]) -> str:
    """What an interrupted run leaves to resume from, newest last, and how to resume."""
    folders = sorted(
        {Path(c.dirpath) for c in callbacks if isinstance(c, ModelCheckpoint) and c.dirpath}
    )
    kept = sorted((p for f in folders for p in f.glob("*.ckpt")), key=lambda p: p.stat().st_mtime)
    if not kept:
        where = f" in {', '.join(map(str, folders))}" if folders else ""
        return f"stopped before any checkpoint was saved{where}: nothing to resume from"
    names = ", ".join(sorted(p.name for p in kept))
    return f"kept {names} in {', '.join(map(str, folders))}: resume with ckpt_path={kept[-1]}"


def optimized_metric(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value a sweeper optimizes: the best validation score of the monitored metric."""
    name = cfg.get("optimized_metric")
    if not name:
        return None
    return metrics.get(f"best/{name}", metrics.get(name))
