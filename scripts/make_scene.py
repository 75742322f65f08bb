"""A synthetic Sentinel-2 scene with known fields: ``python scripts/make_scene.py dst=...``."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.data.synthetic.scene import generate_scene


@hydra.main(version_base="1.3", config_path="../conf", config_name="make_scene")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    summary = generate_scene(
        Path(cfg.dst),
        size=cfg.size,
        seed=cfg.seed,
        overwrite=cfg.overwrite,
        progress=cfg.progress,
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    refuse_unknown_settings("make_scene")
    main()
