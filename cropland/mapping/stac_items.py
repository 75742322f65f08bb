"""A scene given as STAC items (an ItemCollection, one Item, or a folder of Item files), as a
STAC API search such as Earth Search's returns them, with the assets of the bands read (those
the model needs, and SCL) downloaded.

```json
{"type": "FeatureCollection", "features": [
  {"type": "Feature", "id": "S2B_13UDR_20190715_0_L1C", "stac_version": "1.0.0",
   "properties": {"datetime": "2019-07-15T18:09:19Z", "s2:processing_baseline": "02.08"},
   "assets": {"blue": {"href": "20190715/B02.tif"}, "red": {"href": "20190715/B04.tif"}, ...},
   ...}]}
```

Each item is one acquisition, dated by its ``datetime`` (UTC, as products are). An asset is
a band by its ``eo:bands`` name where it has one, otherwise by its key, either a Sentinel-2
band name (``B04``) or Earth Search's common name (``red``, ``rededge1``, ``nir``, ``scl``);
where two assets name one band (Earth Search's ``red`` and ``red-jp2``), the one whose key
names it is read. Hrefs must be local files: relative ones are resolved against the JSON
file's folder; ``http(s)://`` and ``s3://`` ones are refused, since mapping reads no network.

The product level comes from the item (``processing:level``, ``s2:product_type``, the product
id or the collection naming L1C or L2A), the offset from Earth Search's
``earthsearch:boa_offset_applied`` (true: the numbers were shifted already, offset 0) or the
processing baseline (``s2:processing_baseline``, or ``_N0400_`` in the product id: 04.00 and
later carry -1000); what an item does not say is read from the band files as in the other
layouts.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
import urllib.request
from pathlib import Path

import pystac

from cropland.bounded_read import UnreadableFile, read_json
from cropland.errors import CroplandError, short_reason
from cropland.mapping.acquisitions import (
    Acquisition,
    BandSource,
    band_in_name,
    by_date,
    refuse_too_many,
)
from cropland.mapping.radiometry import level_from

# A search result of a season over a few tiles is a few megabytes; more is not an item list.
MAX_JSON_BYTES = 50 * 1024 * 1024
# Earth Search's asset keys (the eo extension's common names, numbered where one name covers
# several bands) and the Sentinel-2 bands they are.
COMMON_NAMES = {
    "coastal": "B01",
    "blue": "B02",
    "green": "B03",
    "red": "B04",
    "rededge1": "B05",
    "rededge2": "B06",
    "rededge3": "B07",
    "nir": "B08",
    "nir08": "B8A",
    "nir09": "B09",
    "cirrus": "B10",
    "swir16": "B11",
    "swir22": "B12",
    "scl": "SCL",
}
_BASELINE = re.compile(r"^\s*(\d{1,2})\.(\d{1,2})\s*$")
_BASELINE_IN_ID = re.compile(r"_N(\d\d)(\d\d)(?:_|$)")
# The first processing baseline whose numbers carry the offset.
OFFSET_BASELINE = (4, 0)
OFFSET_OF_BASELINE = "-1000"
_PYSTAC_ERRORS = (
    pystac.STACError,
    pystac.STACTypeError,
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
)


def read_stac_files(files: list[Path], needed: tuple[str, ...], where: str) -> list[Acquisition]:
    """The acquisitions of the items in ``files`` (ItemCollection or Item JSON), sorted by
    date, each with every band of ``needed``."""
    refuse_too_many(len(files), where, "JSON files")
    acquisitions = []
    for path in sorted(files):
        for item in _items(path):
            acquisitions.append(_acquisition(path, item, needed))
            refuse_too_many(len(acquisitions), where, "items")
    return by_date(acquisitions, where, "item")


def _shown(text: object, limit: int = 80) -> str:
    """A text from the file, quoted and cut short, so that a message stays one short line."""
    text = str(text)
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _items(path: Path) -> list[pystac.Item]:
    expected = "expected a STAC ItemCollection or Item (JSON)"
    try:
        data = read_json(path, MAX_JSON_BYTES)
    except UnreadableFile as error:
        raise CroplandError(f"{path}: {error.detail}; {expected}") from None
    kind = data.get("type") if isinstance(data, dict) else None
    if kind not in ("FeatureCollection", "Feature"):
        raise CroplandError(
            f'{path}: "type" is {_shown(kind)}; {expected}, "type": "FeatureCollection" '
            'or "Feature"'
        )
    if kind == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise CroplandError(f'{path}: "features" is not a list; {expected}')
        refuse_too_many(len(features), str(path), "items")
    try:
        if kind == "Feature":
            return [pystac.Item.from_dict(data, preserve_dict=False)]
        return list(pystac.ItemCollection.from_dict(data, preserve_dict=False))
    except _PYSTAC_ERRORS as error:
        raise CroplandError(
            f"{path}: not a valid STAC item ({_shown(short_reason(error), 160)}); {expected}"
        ) from None


def _acquisition(path: Path, item: pystac.Item, needed: tuple[str, ...]) -> Acquisition:
    where = f"{path}: item {_shown(item.id)}"
    try:
        when = item.datetime or item.common_metadata.start_datetime
    except ValueError as error:
        raise CroplandError(f"{where}: {short_reason(error)}; expected its datetime") from None
    if when is None:
        raise CroplandError(f"{where}: no datetime; expected the acquisition's time")
    if when.tzinfo is not None:  # products are dated in UTC
        when = when.astimezone(datetime.UTC)
    # Only the bands read: an item lists every band, and only these need be downloaded.
    found = _band_assets(item, (*needed, "SCL"), where)
    missing = [band for band in needed if band not in found]
    if missing:
        keys = ", ".join(sorted(item.assets)) or "none"
        raise CroplandError(
            f"{where}: no asset for band {', '.join(missing)} (assets: {_shown(keys, 200)}); "
            f"the model's channels need {', '.join(needed)}, as assets keyed B04 or red "
            "(or named so in eo:bands)"
        )
    sources = {
        band: BandSource(_local_file(key, asset, path, where))
        for band, (key, asset) in found.items()
    }
    bands = {band: sources[band] for band in needed}
    return Acquisition(
        when.date(),
        path,
        bands,
        sources.get("SCL"),
        item=str(item.id),
        catalogue=_catalogue(item, where),
    )


def _band_assets(
    item: pystac.Item, wanted: tuple[str, ...], where: str
) -> dict[str, tuple[str, pystac.Asset]]:
    """The asset of each band of ``wanted`` the item has; where two assets name one band, the
    one whose key names it."""
    ranked: dict[str, tuple[int, str, pystac.Asset]] = {}
    for key, asset in item.assets.items():
        band = _band_of_asset(key, asset)
        if band not in wanted:
            continue
        rank = 0 if _band_named(key) == band else 1
        if band in ranked and ranked[band][0] == rank:
            raise CroplandError(
                f"{where}: assets {_shown(ranked[band][1])} and {_shown(key)} are both band "
                f"{band}; keep one"
            )
        if band not in ranked or rank < ranked[band][0]:
            ranked[band] = (rank, key, asset)
    return {band: (key, asset) for band, (_, key, asset) in ranked.items()}


def _band_of_asset(key: str, asset: pystac.Asset) -> str | None:
    described = asset.extra_fields.get("eo:bands") or asset.extra_fields.get("bands") or []
    names = (
        [b.get("name") for b in described if isinstance(b, dict)]
        if isinstance(described, list)
        else []
    )
    if len(names) > 1:  # a composite (Earth Search's visual), not one band
        return None
    return (_band_named(names[0]) if names else None) or _band_named(key)


def _band_named(name: object) -> str | None:
    if not isinstance(name, str):
        return None
    if name.strip().lower() in COMMON_NAMES:
        return COMMON_NAMES[name.strip().lower()]
    found = band_in_name(name)
    return found[0] if found else None


def _local_file(key: str, asset: pystac.Asset, json_path: Path, where: str) -> Path:
    href = asset.href
    if not isinstance(href, str) or not href:
        raise CroplandError(f"{where}: asset {_shown(key)} has no href")
    parsed = urllib.parse.urlparse(href)
    if parsed.scheme not in ("", "file"):
        raise CroplandError(
            f"{where}: asset {_shown(key)} is at {_shown(href, 120)}; download the assets "
            "first and point the hrefs at the local files (mapping reads no network)"
        )
    local = (
        Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(href)
    )
    if not local.is_absolute():
        local = json_path.parent / local
    if not local.is_file():
        state = "is not a regular file" if local.exists() else "does not exist"
        raise CroplandError(
            f"{where}: asset {_shown(key)}: {_shown(local, 200)} {state}; expected a "
            "downloaded band file"
        )
    return local


def _catalogue(item: pystac.Item, where: str) -> dict[str, str]:
    """What the item says of the product, in the products' own metadata names."""
    properties = item.properties
    texts = [
        properties.get("processing:level"),
        properties.get("s2:product_type"),
        properties.get("s2:product_uri"),
        item.id,
        item.collection_id,
    ]
    level_text = next((t for t in texts if isinstance(t, str) and level_from(t)), None)
    catalogue = {"PROCESSING_LEVEL": level_text} if level_text else {}
    offset_tag = (
        "BOA_ADD_OFFSET" if level_text and level_from(level_text) == "l2a" else "RADIO_ADD_OFFSET"
    )
    applied = properties.get("earthsearch:boa_offset_applied")
    if applied is not None and not isinstance(applied, bool):
        raise CroplandError(
            f"{where}: earthsearch:boa_offset_applied is {_shown(applied)}; expected true or false"
        )
    baseline = _baseline(item, where)
    if applied:
        catalogue[offset_tag] = "0"
    elif baseline is not None:
        catalogue[offset_tag] = OFFSET_OF_BASELINE if baseline >= OFFSET_BASELINE else "0"
    return catalogue


def _baseline(item: pystac.Item, where: str) -> tuple[int, int] | None:
    stated = item.properties.get("s2:processing_baseline")
    if stated is not None:
        match = _BASELINE.match(str(stated)) if isinstance(stated, str) else None
        if match is None:
            raise CroplandError(
                f"{where}: s2:processing_baseline is {_shown(stated)}; expected a baseline "
                'such as "04.00"'
            )
        return int(match.group(1)), int(match.group(2))
    for text in (item.properties.get("s2:product_uri"), item.id):
        match = _BASELINE_IN_ID.search(text) if isinstance(text, str) else None
        if match:
            return int(match.group(1)), int(match.group(2))
    return None
