"""One block of rows of a scene on one date, as its band files hold it.

Every parcel is rendered the way the patch generator renders a patch, from its own generator:
its field (a crop field of :mod:`..fields`, with the class's texture) inside its verge, on its
own soil, mixed into surface reflectance by :func:`..rendering.surface_reflectance`. The
block's clouds shade and cover that surface, the date's sky and the sensor's noise follow
(:func:`..rendering.seen_from_space`), and the 20 m bands are averaged from 10 m, as the
patches' are. A parcel is drawn again for every date and block it reaches, so nothing but one
block is ever held.
"""

from __future__ import annotations

import numpy as np

from cropland.data.layout import CLASSES
from cropland.data.sentinel2_encoding import BANDS
from cropland.data.synthetic.fields import crop_field, verge_field
from cropland.data.synthetic.rendering import (
    MIN_REFLECTANCE,
    coarsen,
    seen_from_space,
    surface_reflectance,
)
from cropland.data.synthetic.scene.acquisitions import (
    SHADOW_DARKENING,
    SceneDate,
    scene_classes,
)
from cropland.data.synthetic.scene.parcels import BACKGROUND, Parcels
from cropland.data.synthetic.settings import GeneratorSettings
from cropland.data.synthetic.texture import smooth_noise

TEN_METRE_BANDS = ("B02", "B03", "B04", "B08")
TWENTY_METRE_BANDS = ("B05", "B06")
# Even, so that the 2 x 2 pixels of a 20 m band never straddle two blocks.
ROWS_PER_BLOCK = 128
# Digital numbers of an L1C product before baseline 04.00: reflectance x 10000.
QUANTIFICATION = 10000


def parcel_surface(
    parcels: Parcels,
    parcel: int,
    seed: int,
    settings: GeneratorSettings,
    acquisition: SceneDate,
    date_index: int,
) -> np.ndarray:
    """Surface reflectance ``(6, h, w)`` of one parcel on one date. The land (field, verge,
    soil, textures) comes from the parcel's own generator, the same every date; the month's
    weather from one of the parcel and date."""
    rng = np.random.default_rng([seed, 1, parcel])
    shape = (
        int(parcels.bottom[parcel] - parcels.top[parcel]),
        int(parcels.right[parcel] - parcels.left[parcel]),
    )
    y, x = np.meshgrid(*(np.arange(side) - side / 2 for side in shape), indexing="ij")
    across_rows = x if rng.uniform() < 0.5 else y  # crop rows run along a side of the field
    fields = [verge_field(rng, across_rows, settings.texture_strength)]
    weights = np.ones((1, *shape))
    if parcels.crop[parcel] != BACKGROUND:
        crop = CLASSES[int(parcels.crop[parcel])]
        fields.insert(0, crop_field(crop, rng, across_rows, 0.0, settings))
        top, bottom, left, right = parcels.field_bounds(parcel)  # the truth's field
        rows = slice(top - int(parcels.top[parcel]), bottom - int(parcels.top[parcel]))
        columns = slice(left - int(parcels.left[parcel]), right - int(parcels.left[parcel]))
        inside = np.zeros(shape)
        inside[rows, columns] = 1
        weights = np.stack([inside, 1 - inside])
    soil = rng.uniform(0.7, 1.3) * (1 + 0.08 * smooth_noise(rng, 5, shape))
    weather = np.random.default_rng([seed, 2, parcel, date_index])
    return surface_reflectance(fields, weights, soil, acquisition.position, weather)


def _block_surface(
    parcels: Parcels,
    start: int,
    stop: int,
    width: int,
    seed: int,
    settings: GeneratorSettings,
    acquisition: SceneDate,
    date_index: int,
) -> np.ndarray:
    surface = np.empty((len(BANDS), stop - start, width))
    for parcel in parcels.touching_rows(start, stop):
        top, bottom = int(parcels.top[parcel]), int(parcels.bottom[parcel])
        left, right = int(parcels.left[parcel]), int(parcels.right[parcel])
        whole = parcel_surface(parcels, parcel, seed, settings, acquisition, date_index)
        first, last = max(top, start), min(bottom, stop)
        surface[:, first - start : last - start, left:right] = whole[:, first - top : last - top]
    return surface


def digital_numbers(reflectance: np.ndarray) -> np.ndarray:
    """Reflectance as uint16 digital numbers; 0 is no data, so the darkest is 1."""
    return np.clip(np.rint(reflectance * QUANTIFICATION), 1, 65535).astype(np.uint16)


def render_block(
    parcels: Parcels,
    start: int,
    stop: int,
    width: int,
    seed: int,
    settings: GeneratorSettings,
    acquisition: SceneDate,
    date_index: int,
) -> dict[str, np.ndarray]:
    """Rows ``[start, stop)`` (``start`` even) of every band file of one date: the 10 m bands
    ``(stop - start, width)``, the 20 m bands and SCL at half that, rounded up."""
    surface = _block_surface(parcels, start, stop, width, seed, settings, acquisition, date_index)
    cloud = shadow = np.zeros(surface.shape[1:])
    if acquisition.cloudy:
        cloud = acquisition.clouds.opacity(start, stop, width)
        shadow = acquisition.clouds.shadow(start, stop, width)
        surface = surface * (1 - SHADOW_DARKENING * shadow)
    noise = np.random.default_rng([seed, 4, date_index, start])
    bands = seen_from_space(
        surface, acquisition.sky, cloud if acquisition.cloudy else None, noise, settings
    )
    out = {
        band: digital_numbers(np.maximum(bands[BANDS.index(band)], MIN_REFLECTANCE))
        for band in TEN_METRE_BANDS
    }
    twenty = [BANDS.index(band) for band in TWENTY_METRE_BANDS]
    coarse = np.maximum(coarsen(bands[twenty]), MIN_REFLECTANCE)
    out |= {band: digital_numbers(b) for band, b in zip(TWENTY_METRE_BANDS, coarse, strict=True)}
    coarse_cloud, coarse_shadow = coarsen(np.stack([cloud, shadow]))
    out["SCL"] = scene_classes(coarse_cloud, coarse_shadow, coarsen(surface))
    return out
