"""Which checkpoint a run resumes from: ``ckpt_path=<file>``, or ``ckpt_path=last`` for the
newest run's ``last.ckpt``. Checked like every checkpoint a user gives (data only, one of
cropland's networks) before anything is built. And whether the run folder is free: a folder
that holds an earlier run is written into only to go on with that run."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, NamedTuple

from cropland.errors import CroplandError
from cropland.training.checkpoint_reading import read_checkpoint
from cropland.training.run_folder_guard import earlier_run_error, files_of_a_run

log = logging.getLogger(__name__)

LAST = "last"

# What a resumed model must share with the checkpoint for its weights to fit, and where the
# user sets it.
_MUST_MATCH = {"net": "model.net", "channels": "data.channels", "classes": "the data's classes"}


class ResumePoint(NamedTuple):
    path: Path
    hyper_parameters: dict[str, Any]


def resume_checkpoint(
    ckpt_path: str | os.PathLike | None, runs_folder: Path, current_run: Path
) -> ResumePoint | None:
    """The checkpoint to resume from, checked, or None to start afresh."""
    if ckpt_path is None or str(ckpt_path) == "":
        return None
    if str(ckpt_path) == LAST:
        path = newest_last_checkpoint(runs_folder, current_run)
        log.info("Resuming from %s (ckpt_path=last: the newest run's last.ckpt)", path)
    else:
        path = Path(ckpt_path)
    return ResumePoint(path, read_checkpoint(path)["hyper_parameters"])


def check_run_folder(run_folder: Path, resume: ResumePoint | None) -> bool:
    """Refuse ``run_folder`` when it holds an earlier run, unless this run resumes that run from
    one of its own checkpoints (``hydra.run.dir=<run> ckpt_path=<run>/checkpoints/last.ckpt``);
    returns whether it does, and so may replace that run's files."""
    found = files_of_a_run(run_folder)
    if not found:
        return False
    if resume is not None and resume.path.resolve().is_relative_to(run_folder.resolve()):
        return True
    raise earlier_run_error(run_folder, found)


def check_resume_fits(resume: ResumePoint, model_hparams: dict[str, Any]) -> None:
    """Refuse to resume a model built with other settings than the checkpoint's: its weights
    would not fit (or, worse, fit with another meaning). Names each differing setting."""
    differences = []
    for key, where in _MUST_MATCH.items():
        stored, now = resume.hyper_parameters.get(key), model_hparams.get(key)
        if key == "net":
            differences += [
                f"{where}.{name}={now.get(name)!r} (the checkpoint has {stored.get(name)!r})"
                for name in sorted(set(stored) | set(now))
                if stored.get(name) != now.get(name)
            ]
        elif stored != now:
            differences.append(f"{where}: {now} (the checkpoint has {stored})")
    if differences:
        raise CroplandError(
            f"ckpt_path={resume.path} was trained with other settings: {'; '.join(differences)}; "
            "resume with the settings of the run that wrote it"
        )


def newest_last_checkpoint(runs_folder: Path, current_run: Path) -> Path:
    """``checkpoints/last.ckpt`` of the newest run in ``runs_folder`` (run folders are named by
    their start time, so the newest sorts last), other than the run starting now."""
    current = current_run.resolve()
    candidates = sorted(
        path
        for path in runs_folder.glob("*/checkpoints/last.ckpt")
        if path.parent.parent.resolve() != current
    )
    if not candidates:
        raise CroplandError(
            f"ckpt_path=last: no run under {runs_folder} has checkpoints/last.ckpt; give a "
            "checkpoint file instead: ckpt_path=outputs/train/runs/<time>/checkpoints/last.ckpt"
        )
    return candidates[-1]
