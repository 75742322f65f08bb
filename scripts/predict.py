"""Predict crops: python scripts/predict.py ckpt_path=<ckpt> input=<data> output=<file.csv>

One row per sequence (point, province, year): months used, months whose images were skipped,
predicted class, its probability and one probability column per class. Works on data without
labels and with 1 to 5 months. An existing output is replaced only with overwrite=true.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.inference.predict import predict_to_csv


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> Path:
    return predict_to_csv(cfg)  # a multirun's summary names each job's file


if __name__ == "__main__":
    refuse_unknown_settings("predict")
    main()
