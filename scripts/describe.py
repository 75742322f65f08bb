"""Describe a prepared dataset: python scripts/describe.py [data.path=<file.h5>] [data.split=...]

Writes class counts per split, sequence-length and month histograms, per-channel statistics
(describe.json) and figures (PNG and TensorBoard) into outputs/describe/runs/<time>/.
"""

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.describe.describe import describe


@hydra.main(version_base="1.3", config_path="../conf", config_name="describe")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    describe(cfg)


if __name__ == "__main__":
    refuse_unknown_settings("describe")
    main()
