"""A Hydra callback that makes the multirun folder when the multirun starts.

Hydra's launchers make it when they launch the first job, after the sweeper has started; a
sweeper that keeps its state in that folder (the Optuna searches' SQLite study, see
``conf/hparams_search/optuna_base.yaml``) needs it earlier. Light on purpose: Hydra builds
callbacks before the run starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


class MakeSweepFolder(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)
