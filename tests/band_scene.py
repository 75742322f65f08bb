"""Small Sentinel-2 scenes in the band-folder layout, written from arrays, for the map tests:
``<root>/<YYYYMMDD>/B02.tif ... B08.tif`` (10 m), ``B05.tif``, ``B06.tif`` and ``SCL.tif``
(20 m), uint16 digital numbers of an L1C product; and the same scene in the map's other input
layouts (multi-band GeoTIFFs, STAC items)."""

from __future__ import annotations

import datetime
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import Affine

CRS = "EPSG:32613"
ORIGIN = (400000.0, 5600000.0)
TEN_METRE_BANDS = ("B02", "B03", "B04", "B08")
TWENTY_METRE_BANDS = ("B05", "B06")
DATES = ("20190610", "20190625", "20190712", "20190808", "20190820", "20190915", "20191005")


def write_band(
    path: Path, data: np.ndarray, pixel: float, *, tags: dict | None = None, crs: str | None = CRS
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype.name,
        "transform": Affine(pixel, 0.0, ORIGIN[0], 0.0, -pixel, ORIGIN[1]),
    }
    if crs is not None:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        dst.update_tags(**(tags or {"PROCESSING_LEVEL": "L1C"}))


def write_scene(
    root: Path,
    size: int = 150,
    seed: int = 0,
    dates: tuple[str, ...] = DATES,
    cloudy_corner: int = 0,
) -> Path:
    """Random but plausible numbers (reflectance 0.02-0.5, more near-infrared than red), SCL
    clear except a ``cloudy_corner`` x ``cloudy_corner`` px cloud at the top left of every
    date."""
    rng = np.random.default_rng(seed)
    coarse = (size + 1) // 2
    for date in dates:
        folder = root / date
        for band in TEN_METRE_BANDS + TWENTY_METRE_BANDS:
            side = coarse if band in TWENTY_METRE_BANDS else size
            high = 5000 if band == "B08" else 2500
            data = rng.integers(200, high, (side, side)).astype(np.uint16)
            write_band(folder / f"{band}.tif", data, 20.0 if side == coarse else 10.0)
        scl = np.full((coarse, coarse), 4, dtype=np.uint8)
        scl[: cloudy_corner // 2, : cloudy_corner // 2] = 9
        write_band(folder / "SCL.tif", scl, 20.0)
    return root


def write_multiband(scene: Path, root: Path, descriptions: dict[str, str] | None = None) -> Path:
    """``scene`` (band folders) as one multi-band GeoTIFF per date, ``<root>/S2A_<date>.tif``,
    the 20 m bands and SCL repeated 2 x 2 onto the 10 m grid (as the map reads them) and every
    band described by its name, or by ``descriptions[band]`` where given."""
    root.mkdir(parents=True, exist_ok=True)
    bands = (*TEN_METRE_BANDS, *TWENTY_METRE_BANDS, "SCL")
    for folder in sorted(p for p in scene.iterdir() if p.is_dir()):
        layers = []
        for band in bands:
            with rasterio.open(folder / f"{band}.tif") as dataset:
                data, pixel = dataset.read(1).astype(np.uint16), dataset.transform.a
            if pixel == 20.0:
                data = data.repeat(2, axis=0).repeat(2, axis=1)
            layers.append(data)
        side = min(layer.shape[0] for layer in layers)
        stack = np.stack([layer[:side, :side] for layer in layers])
        path = root / f"S2A_{folder.name}.tif"
        profile = {
            "driver": "GTiff",
            "width": side,
            "height": side,
            "count": len(bands),
            "dtype": "uint16",
            "crs": CRS,
            "transform": Affine(10.0, 0.0, ORIGIN[0], 0.0, -10.0, ORIGIN[1]),
        }
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(stack)
            dst.update_tags(PROCESSING_LEVEL="L1C")
            for index, band in enumerate(bands, start=1):
                dst.set_band_description(index, (descriptions or {}).get(band, band))
    return root


# Earth Search's asset keys for some bands, the Sentinel-2 names for the others: both are read.
STAC_KEYS = {"B02": "blue", "B03": "green", "B04": "red", "B05": "rededge1", "SCL": "scl"}


def stac_items(scene: Path, json_folder: Path, **properties) -> list[dict]:
    """One STAC Item (a dict, as a search returns it) per date folder of ``scene``, its
    assets' hrefs relative to ``json_folder``."""
    import os

    import pystac

    items = []
    for folder in sorted(p for p in scene.iterdir() if p.is_dir()):
        when = datetime.datetime.strptime(folder.name, "%Y%m%d").replace(
            hour=18, tzinfo=datetime.UTC
        )
        item = pystac.Item(
            id=f"S2A_13UDR_{folder.name}_0_L1C",
            geometry=None,
            bbox=None,
            datetime=when,
            properties=dict(properties),
            collection=None,
        )
        for path in sorted(folder.glob("*.tif")):
            band = path.stem
            href = os.path.relpath(path, json_folder)
            item.add_asset(STAC_KEYS.get(band, band), pystac.Asset(href, media_type="image/tiff"))
        items.append(item.to_dict(include_self_link=False, transform_hrefs=False))
    return items


def write_stac(scene: Path, path: Path, **properties) -> Path:
    """``scene``'s dates as a STAC ItemCollection at ``path``."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    features = stac_items(scene, path.parent, **properties)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path
