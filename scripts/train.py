"""Train a crop classifier: python scripts/train.py [model=convlstm] [data.channels=rgb_ndvi] ...

With no arguments: generates the synthetic dataset once (under data/), trains a small L-TAE
(model=tae), tests the best checkpoint and writes everything into outputs/train/runs/<time>/.
"""

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.training.train import optimized_metric, train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    return optimized_metric(cfg, train(cfg))


if __name__ == "__main__":
    refuse_unknown_settings("train")
    main()
