"""Convert the dataset (its PNG tree, or the published project's HDF5) into one prepared file.

python scripts/prepare.py src=data/dataset_ca_19 dst=data/ca19.h5 [overwrite=true]
python scripts/prepare.py src=data/dataset_ca_19.hdf5 dst=data/ca19.h5
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.data.prepare import prepare_dataset


@hydra.main(version_base="1.3", config_path="../conf", config_name="prepare")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    prepare_dataset(
        cfg.src,
        cfg.dst,
        min_length=cfg.min_length,
        overwrite=cfg.overwrite,
        progress=cfg.progress,
    )


if __name__ == "__main__":
    refuse_unknown_settings("prepare")
    main()
