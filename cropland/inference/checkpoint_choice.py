"""Which checkpoint file a ``ckpt_path=`` names: a file as given, ``best`` for the newest training
run's best checkpoint, or a run folder for that run's best. The best is the one the run scored
and tested: the ModelCheckpoint record in its ``last.ckpt``, saved after the best every epoch."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig

from cropland.errors import CroplandError
from cropland.training.checkpoint_reading import load_weights_only

log = logging.getLogger(__name__)

BEST = "best"


def checkpoint_of(cfg: DictConfig) -> Path:
    """The checkpoint file a script's ``ckpt_path`` means, training runs being where
    ``paths.log_dir`` puts them."""
    return chosen_checkpoint(cfg.ckpt_path, Path(cfg.paths.log_dir) / "train" / "runs")


def chosen_checkpoint(ckpt_path: str | os.PathLike, train_runs: Path) -> Path:
    """The checkpoint file ``ckpt_path`` means; ``train_runs`` is where training runs go
    (``<paths.log_dir>/train/runs``)."""
    if str(ckpt_path) == BEST:
        run = _newest_run(train_runs)
        path = best_of_run(run)
        log.info("ckpt_path=best: %s (the best checkpoint of the newest run)", path)
        return path
    path = Path(ckpt_path)
    if path.is_dir() and (path / "checkpoints").is_dir():
        best = best_of_run(path)
        log.info("ckpt_path=%s: its best checkpoint, %s", path, best)
        return best
    return path


def best_of_run(run_folder: Path) -> Path:
    """The best checkpoint of a training run folder, as its ``last.ckpt`` records it (or the
    only ``epoch_*.ckpt`` when there is no record)."""
    checkpoints = run_folder / "checkpoints"
    recorded = recorded_best(checkpoints / "last.ckpt")
    if recorded is not None:
        return recorded
    epochs = sorted(checkpoints.glob("epoch_*.ckpt"))
    if len(epochs) == 1:
        return epochs[0]
    found = ", ".join(p.name for p in epochs) or "none"
    raise CroplandError(
        f"ckpt_path={run_folder}: no last.ckpt there records which checkpoint is the best "
        f"(epoch checkpoints: {found}); give the checkpoint file, e.g. "
        f"ckpt_path={checkpoints}/<file>.ckpt"
    )


def recorded_best(last: Path) -> Path | None:
    """The best checkpoint (beside ``last``) that ``last``'s ModelCheckpoint state names, if it
    names one that is there."""
    if not last.is_file():
        return None
    try:
        content = load_weights_only(last)
    except CroplandError:
        return None
    return best_recorded_in(content, last.parent)


def best_recorded_in(checkpoint: object, folder: Path) -> Path | None:
    """The best checkpoint in ``folder`` that a loaded checkpoint's ModelCheckpoint state
    names, if it names one that is there."""
    callbacks = checkpoint.get("callbacks") if isinstance(checkpoint, dict) else None
    for key, state in (callbacks if isinstance(callbacks, dict) else {}).items():
        # The callback that keeps last.ckpt monitors nothing and records last.ckpt as its best.
        if not (str(key).startswith("ModelCheckpoint") and isinstance(state, dict)):
            continue
        if state.get("monitor") is None:
            continue
        best = state.get("best_model_path")
        if isinstance(best, str) and best:
            # Only the file name counts: the folder may have moved since.
            path = folder / Path(best).name
            if path.is_file():
                return path
    return None


def _newest_run(train_runs: Path) -> Path:
    """The newest run folder with checkpoints (run folders are named by start time)."""
    runs = sorted(p.parent for p in train_runs.glob("*/checkpoints") if p.is_dir())
    if not runs:
        raise CroplandError(
            f"ckpt_path=best: no training run with checkpoints under {train_runs}; train one "
            "(python scripts/train.py) or give a checkpoint file or run folder"
        )
    return runs[-1]
