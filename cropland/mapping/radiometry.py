"""Digital numbers to reflectance, and the product level a scene has (L1C top of atmosphere or
L2A surface reflectance).

Sentinel-2 products store reflectance x 10000 (``QUANTIFICATION_VALUE``). From processing
baseline 04.00 (products acquired from 25 January 2022, and the reprocessed archive) the
numbers carry an offset too: reflectance = (DN + offset) / 10000 with ``BOA_ADD_OFFSET`` (L2A)
or ``RADIO_ADD_OFFSET`` (L1C) = -1000. Where a file says its offset (those metadata items, or
GDAL's own scale and offset, which cloud-optimized archives set), that is used; a setting
overrides it; a date of the 04.00 era with nothing said is refused rather than guessed.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from cropland.data.layout import PRODUCT_LEVELS
from cropland.errors import CroplandError

DEFAULT_SCALE = 10000.0
# The first acquisitions processed with baseline 04.00, whose numbers carry the offset.
OFFSET_ERA = datetime.date(2022, 1, 25)
_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
_LEVEL_TAGS = ("PROCESSING_LEVEL", "PRODUCT_TYPE")
_LEVEL_IN_TEXT = re.compile(r"(?:MSI|LEVEL-?|\b|_)(L?1C|L?2A)(?:\b|_)", re.IGNORECASE)


@dataclass(frozen=True)
class Radiometry:
    """How one acquisition's numbers become reflectance: ``(dn + offset) / scale``, computed
    in that order everywhere (a product's own formula; ``dn * 0.0001`` can differ from
    ``dn / 10000`` in the last bit, and an index byte with it)."""

    level: str
    offset: float
    scale: float
    source: str  # where offset and scale came from, for the sidecar

    def as_record(self) -> dict:
        return {
            "level": self.level,
            "offset": self.offset,
            "scale": self.scale,
            "from": self.source,
        }


def level_from(text: str) -> str | None:
    """``l1c`` or ``l2a`` when ``text`` names one (``Level-2A``, ``S2A_MSIL1C_...``, ``L2A``)."""
    match = _LEVEL_IN_TEXT.search(text)
    if match is None:
        return None
    return "l1c" if match.group(1).upper().endswith("1C") else "l2a"


def check_level_setting(level: str | None) -> str | None:
    if level is None:
        return None
    if str(level).lower() not in PRODUCT_LEVELS:
        raise CroplandError(f"product_level={level!r}: expected l1c, l2a or null (read it)")
    return str(level).lower()


def radiometry(
    *,
    where: str,
    date: datetime.date,
    tags: dict[str, str],
    gdal_scale: float,
    gdal_offset: float,
    names: list[str],
    level_setting: str | None,
    offset_setting: float | None,
    scale_setting: float,
    catalogue: dict[str, str] | None = None,
) -> Radiometry:
    """One acquisition's radiometry from its first band file's metadata (``tags``, GDAL's
    ``gdal_scale``/``gdal_offset``) and names (its folder's and file's), and the settings.
    ``catalogue`` holds metadata items (the same names as ``tags``) that a catalogue such as a
    STAC item states for the product: they are believed before the file's, since cloud
    archives shift the numbers of old products without rewriting the files' metadata."""
    catalogue = catalogue or {}
    level = level_setting or _level_in(catalogue, []) or _level_in(tags, names)
    if level is None:
        raise CroplandError(
            f"{where}: cannot tell whether this is an L1C or an L2A product (no "
            "PROCESSING_LEVEL item, no MSIL1C/MSIL2A in its names); set product_level=l1c "
            "or product_level=l2a"
        )
    if offset_setting is not None:
        return Radiometry(level, offset_setting, scale_setting, "settings")
    for tag in _OFFSET_TAGS:
        if tag in catalogue:
            offset = _number(catalogue[tag], f"{where}: {tag}")
            return Radiometry(level, offset, scale_setting, f"{tag} of the catalogue")
    if (gdal_scale, gdal_offset) != (1.0, 0.0):
        # GDAL's value = dn * scale + offset, as (dn + offset / scale) / (1 / scale).
        if not 0 < gdal_scale <= 1:
            raise CroplandError(
                f"{where}: the file's scale is {gdal_scale}; expected reflectance per digital "
                "number (e.g. 0.0001); set reflectance_offset and reflectance_scale instead"
            )
        scale = _whole_if_close(1 / gdal_scale)
        offset = _whole_if_close(gdal_offset / gdal_scale)
        return Radiometry(level, offset, scale, "the file's scale and offset")
    for tag in _OFFSET_TAGS:
        if tag in tags:
            offset = _number(tags[tag], f"{where}: metadata item {tag}")
            return Radiometry(level, offset, scale_setting, tag)
    if date >= OFFSET_ERA:
        raise CroplandError(
            f"{where}: acquired {date:%Y-%m-%d}, when products carry an offset "
            "(processing baseline 04.00), but the file does not say it; set "
            "reflectance_offset=-1000 for a baseline 04.00 or later product, or 0 for an "
            "older one"
        )
    return Radiometry(level, 0.0, scale_setting, "no offset before baseline 04.00")


def _whole_if_close(value: float) -> float:
    """10000.000000000002 -> 10000.0: the product's own numbers, not their float round trip."""
    nearest = round(value)
    return float(nearest) if abs(value - nearest) <= 1e-6 * max(1.0, abs(value)) else value


def _level_in(tags: dict[str, str], names: list[str]) -> str | None:
    for tag in _LEVEL_TAGS:
        if tag in tags and level_from(tags[tag]):
            return level_from(tags[tag])
    for name in names:
        if level_from(name):
            return level_from(name)
    return None


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CroplandError(f"{what} is {text!r}; expected a number") from None
    if not -10000 <= value <= 10000:
        raise CroplandError(f"{what} is {value}; expected an offset in digital numbers")
    return value


def check_level_matches(scene_level: str, model_level: str, where: str) -> None:
    """A model sees the product level it was trained on: surface reflectance lacks the path
    radiance that top-of-atmosphere images (the dataset's) carry, most in blue."""
    if scene_level != model_level:
        raise CroplandError(
            f"{where} is an {scene_level.upper()} product but the model was trained on "
            f"{model_level.upper()} images; map {model_level.upper()} scenes of the same "
            "region and dates instead (see docs/maps.md, 'Product level')"
        )
