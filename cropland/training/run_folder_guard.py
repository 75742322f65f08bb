"""Whether a run folder already holds a run, and a Hydra callback that refuses such a folder for
``scripts/train.py`` before Hydra writes its own record (``.hydra/``) into it, so the earlier
run's record of its command stays as it was. Light on purpose: Hydra builds the callback before
the run, and a refusal should not wait for torch to import."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from cropland.errors import CroplandError

# What a run leaves in its folder once it has passed its checks. A folder Hydra has just made
# holds only Hydra's record (.hydra/) and the log file, which Hydra writes before train runs.
RUN_FILES = ("config.yaml", "checkpoints", "metrics.json")

# Where the launchers Lightning works with put a process's rank; only the first process checks,
# the others join the folder it made.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK")


def files_of_a_run(run_folder: Path) -> list[str]:
    """The names from RUN_FILES that ``run_folder`` holds: none for a new folder."""
    return [name for name in RUN_FILES if (run_folder / name).exists()]


def earlier_run_error(run_folder: Path, found: list[str]) -> CroplandError:
    """The refusal of ``run_folder``, which holds the run files ``found``."""
    last = run_folder / "checkpoints" / "last.ckpt"
    go_on = f"ckpt_path={last}" if last.is_file() else "ckpt_path=<one of its checkpoints>"
    return CroplandError(
        f"the run folder {run_folder} already holds a run ({', '.join(found)}), which this one "
        f"would overwrite; choose a new folder (hydra.run.dir), or go on with that run there "
        f"with {go_on}"
    )


class EarlierRunGuard(Callback):
    """Refuses ``hydra.run.dir`` when it holds a run and this run names no checkpoint to go on
    from; a run that names one is judged by train itself, which reads the checkpoint."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        if _rank() != 0 or config.get("ckpt_path"):
            return
        folder = Path(config.hydra.run.dir)
        found = files_of_a_run(folder)
        if found:
            print(f"error: {earlier_run_error(folder, found)}", file=sys.stderr)
            sys.exit(2)


def _rank() -> int:
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isascii() and value.isdigit():
            return int(value)
    return 0
