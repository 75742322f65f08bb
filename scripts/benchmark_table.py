"""Join multiruns into one benchmark table:
  python scripts/benchmark_table.py \\
    'multiruns=[outputs/train/multiruns/A,outputs/train_baseline/multiruns/B]'

Test accuracy and macro F1 (mean +- std over seeds) per data set, split, channel set and model,
the margins over the best baseline, parameters and seconds per epoch, as benchmark.csv and
benchmark.md in the run folder.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.errors import CroplandError
from cropland.evaluation.benchmark_table import benchmark_from


@hydra.main(version_base="1.3", config_path="../conf", config_name="benchmark_table")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    multiruns = cfg.multiruns
    if isinstance(multiruns, str):
        multiruns = [multiruns]
    if not isinstance(multiruns, list | ListConfig) or not multiruns:
        raise CroplandError(
            f"multiruns={multiruns!r}: expected a list of multirun folders, e.g. "
            "'multiruns=[outputs/train/multiruns/<time>_<id>]'"
        )
    benchmark_from([Path(str(folder)) for folder in multiruns], Path(cfg.paths.output_dir))


if __name__ == "__main__":
    refuse_unknown_settings("benchmark_table")
    main()
