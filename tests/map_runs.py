"""Running scripts/map.py as users do, and reading what it wrote, for the map tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.script_runs import call_script


def run_map(tmp_path: Path, checkpoint: Path, scene: Path, *overrides: str, name="map.tif"):
    return call_script(
        "map.py",
        f"ckpt_path={checkpoint}",
        f"input={scene}",
        f"output={tmp_path / name}",
        f"hydra.run.dir={tmp_path / ('run_' + name)}",
        "progress=false",
        *overrides,
    )


def read(path: Path) -> tuple[np.ndarray, dict]:
    import rasterio

    with rasterio.open(path) as dataset:
        return dataset.read(), {
            "crs": dataset.crs.to_string(),
            "transform": dataset.transform,
            "nodata": dataset.nodata,
            "descriptions": dataset.descriptions,
            "tags": dataset.tags(1),
            "colormap": dataset.colormap(1) if dataset.count == 1 and path.stem == "map" else None,
            "driver_layout": dataset.tags(ns="IMAGE_STRUCTURE").get("LAYOUT"),
        }
