"""The map script's settings, checked before any file is opened, and the files it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig

from cropland.data.layout import IMAGE_SIZE
from cropland.errors import CroplandError
from cropland.mapping.radiometry import check_level_setting
from cropland.season_so_far import Until, parse_until

RASTER_OUTPUT = (".tif", ".tiff")
# The keys of map_outputs that are not GeoTIFFs.
SIDECAR = "the sidecar beside output"
FIELDS_GEOPACKAGE = "the fields beside output"
FIELDS_CSV = "the fields table beside output"


@dataclass(frozen=True)
class MapSettings:
    stride: int
    block_size: int
    max_cloud: float
    min_length: int
    months: tuple[int, ...] | None
    batch_size: int
    product_level: str | None
    reflectance_offset: float | None
    reflectance_scale: float
    device: str
    until: Until | None = None

    def as_record(self) -> dict:
        return {
            "stride": self.stride,
            "block_size": self.block_size,
            "max_cloud": self.max_cloud,
            "min_length": self.min_length,
            "months": list(self.months) if self.months else None,
            "product_level": self.product_level,
            "reflectance_offset": self.reflectance_offset,
            "reflectance_scale": self.reflectance_scale,
            "until": str(self.until) if self.until else None,
        }


def _integer(cfg: DictConfig, key: str, low: int, high: int) -> int:
    value = cfg.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise CroplandError(f"{key}={value!r}: expected a whole number from {low} to {high}")
    return value


def _number(cfg: DictConfig, key: str, low: float, high: float) -> float | None:
    value = cfg.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise CroplandError(f"{key}={value!r}: expected a number from {low} to {high}")
    return float(value)


def _months(value) -> tuple[int, ...] | None:
    if value is None:
        return None
    months = list(value) if isinstance(value, ListConfig | list | tuple) else [value]
    if (
        not months
        or any(isinstance(m, bool) or not isinstance(m, int) for m in months)
        or any(not 1 <= m <= 12 for m in months)
    ):
        raise CroplandError(
            f"months={value!r}: expected calendar months, e.g. months=[6,7,8] (June to August)"
        )
    return tuple(sorted(set(months)))


def map_settings(cfg: DictConfig) -> MapSettings:
    device = str(cfg.get("device", "cpu"))
    if not (device == "cpu" or device.startswith("cuda")):
        raise CroplandError(f"device={device!r}: expected cpu, cuda or cuda:<n>")
    return MapSettings(
        stride=_integer(cfg, "stride", 1, IMAGE_SIZE),
        block_size=_integer(cfg, "block_size", IMAGE_SIZE, 8192),
        max_cloud=_number(cfg, "max_cloud", 0.0, 1.0),
        min_length=_integer(cfg, "min_length", 1, 12),
        months=_months(cfg.get("months")),
        batch_size=_integer(cfg, "batch_size", 1, 65536),
        product_level=check_level_setting(cfg.get("product_level")),
        reflectance_offset=_number(cfg, "reflectance_offset", -10000, 10000),
        reflectance_scale=_number(cfg, "reflectance_scale", 1, 1e6),
        device=device,
        until=parse_until(cfg.get("until")),
    )


def map_outputs(cfg: DictConfig) -> dict[str, Path]:
    """``output`` (the class map) and the files written beside it (the answers per field when
    ``fields`` is set), keyed as messages name them."""
    output = Path(cfg.output) if cfg.get("output") else Path(cfg.paths.output_dir) / "map.tif"
    if output.suffix.lower() not in RASTER_OUTPUT:
        raise CroplandError(f"output={output}: expected a GeoTIFF file name ending in .tif")
    if output.is_dir():
        raise CroplandError(f"output={output} is a folder; give a file, e.g. {output}/map.tif")
    stem = output.with_suffix("")
    outputs = {
        "output": output,
        "the probabilities beside output": Path(f"{stem}_probabilities{output.suffix}"),
        "the confidence beside output": Path(f"{stem}_confidence{output.suffix}"),
        SIDECAR: Path(f"{stem}.json"),
    }
    if cfg.get("fields"):
        outputs[FIELDS_GEOPACKAGE] = Path(f"{stem}_fields.gpkg")
        outputs[FIELDS_CSV] = Path(f"{stem}_fields.csv")
    elif cfg.get("fields_layer") is not None:
        raise CroplandError(
            f"fields_layer={cfg.fields_layer} without fields=; set fields=<polygons file> too"
        )
    return outputs


def parts_folder(output: Path) -> Path:
    """Where finished blocks wait until the map is assembled (and where a stopped run goes on
    from)."""
    return output.with_name(output.name + ".parts")
