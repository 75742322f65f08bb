"""The project's Hydra configs (conf/) composed as the scripts compose them, for tests that call
the task functions directly or check what a config option holds."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

CONFIG_DIR = Path(__file__).resolve().parents[1] / "conf"


def compose_config(
    config_name: str, *overrides: str, return_hydra_config: bool = False
) -> DictConfig:
    """``conf/<config_name>.yaml`` with ``overrides``, as ``scripts/<config_name>.py`` would
    compose it; with ``return_hydra_config``, Hydra's own node (launcher, sweeper, runtime
    choices) too. Leaves Hydra uninitialized, whatever ran before."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose(
                config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
            )
    finally:
        GlobalHydra.instance().clear()


def run_config(config_name: str, output_dir: Path, *overrides: str) -> DictConfig:
    """The config a task function sees in a run writing into ``output_dir``: Hydra's runtime
    config set (``HydraConfig.get()`` works), ``paths.output_dir`` set, and, as in a real run,
    without Hydra's own node."""
    cfg = compose_config(config_name, *overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg.hydra
    return cfg
