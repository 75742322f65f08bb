"""Map a scene: python scripts/map.py ckpt_path=<ckpt> input=<scene folder> output=<map.tif>

A crop type, its probability and the per-class probabilities for every pixel of a Sentinel-2
scene, as Cloud-Optimized GeoTIFFs in the scene's coordinates, plus a JSON sidecar. An
existing output is replaced only with overwrite=true; a stopped run goes on from its finished
blocks when started again with the same settings.
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

import cropland.quiet_start  # noqa: F401  (first: Ctrl-C while starting)
from cropland.cli import exit_on_user_error
from cropland.command_line_check import refuse_unknown_settings
from cropland.mapping.make_map import map_scene


@hydra.main(version_base="1.3", config_path="../conf", config_name="map")
@exit_on_user_error
def main(cfg: DictConfig) -> Path:
    return map_scene(cfg)  # a multirun's summary names each job's file


if __name__ == "__main__":
    refuse_unknown_settings("map")
    main()
