"""The non-deep baselines: python scripts/train_baseline.py baseline=rf|hgb [data.path=...]

A random forest (rf) or gradient-boosted trees (hgb) on per-month statistics of each sequence,
on the same split as scripts/train.py; writes metrics.json with the same keys.
"""

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.training.baseline import train_baseline


@hydra.main(version_base="1.3", config_path="../conf", config_name="train_baseline")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    return train_baseline(cfg).get("val/f1_macro", 0.0)


if __name__ == "__main__":
    refuse_unknown_settings("train_baseline")
    main()
