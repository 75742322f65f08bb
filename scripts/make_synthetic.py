"""Write a synthetic tree in the real 2019 layout: ``python scripts/make_synthetic.py dst=...``."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.data.synthetic import generate_tree


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_synthetic")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    summary = generate_tree(
        Path(cfg.dst),
        num_points=cfg.num_points,
        seed=cfg.seed,
        year=cfg.year,
        progress=cfg.progress,
        overwrite=cfg.overwrite,
        workers=cfg.workers,
        cloud_gaps=cfg.cloud_gaps,
        separability=cfg.separability,
        noise=cfg.noise,
        phenology_shift=cfg.phenology_shift,
        draw=cfg.draw,
        labelled=cfg.labelled,
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    refuse_unknown_settings("make_synthetic")
    main()
