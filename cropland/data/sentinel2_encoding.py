"""Sentinel-2 bands to the dataset's channels: the one place that says how reflectance becomes
the RGB and index images a model sees.

The Canadian Cropland Dataset's PNGs were made this way (../shared/DATASET.md): RGB is B4, B3,
B2 reflectance x 255 with PIL's contrast x1.5 and brightness x1.5; each index is
uint8(index x 255), clipped to [0, 1]. The synthetic tree writer encodes its patches with
:func:`encode`, and the map encodes its windows with :func:`encode_windows`, which gives the
same bytes for a whole batch of windows at once (tests/test_sentinel2_encoding.py keeps them
equal).

Bands are held in the order of :data:`BANDS`, as reflectance (0-1), shape ``(6, H, W)`` or
``(N, 6, H, W)``; bands that no wanted image is made from (:func:`bands_for`) may hold
anything.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageEnhance

BANDS = ("B02", "B03", "B04", "B05", "B06", "B08")
_B2, _B3, _B4, _B5, _B6, _B8 = range(len(BANDS))
# The dataset's enhancement of its RGB images.
_CONTRAST = 1.5
_BRIGHTNESS = 1.5
# PIL's RGB to grey ("L"): ITU-R 601-2 luma in 16-bit fixed point, rounded.
_LUMA = (19595, 38470, 7471)


# The bands each sensor image is made from.
SENSOR_BANDS = {
    "RGB": ("B02", "B03", "B04"),
    "NDVI": ("B04", "B08"),
    "NDVI45": ("B04", "B05"),
    "GNDVI": ("B03", "B08"),
    "OSAVI": ("B04", "B08"),
    "PSRI": ("B02", "B04", "B06"),
}


def bands_for(sensors: list[str]) -> tuple[str, ...]:
    """The bands, in :data:`BANDS` order, that ``sensors``' images are made from."""
    needed = {band for sensor in sensors for band in SENSOR_BANDS[sensor]}
    return tuple(band for band in BANDS if band in needed)


def _index(sensor: str, bands: np.ndarray) -> np.ndarray:
    b2, b3, b4, b5, b6, b8 = np.moveaxis(bands, -3, 0)
    if sensor == "NDVI":
        return (b8 - b4) / (b8 + b4)
    if sensor == "NDVI45":
        return (b5 - b4) / (b5 + b4)
    if sensor == "GNDVI":
        return (b8 - b3) / (b8 + b3)
    if sensor == "OSAVI":
        return (b8 - b4) / (b8 + b4 + 0.16)
    if sensor == "PSRI":
        return (b4 - b2) / b6
    raise ValueError(f"no index {sensor!r}")


def indices(bands: np.ndarray) -> dict[str, np.ndarray]:
    """The five index images of the dataset, by sensor name, from bands ``(6, ...)`` or
    ``(N, 6, ...)``."""
    return {sensor: _index(sensor, bands) for sensor in SENSOR_BANDS if sensor != "RGB"}


def _rgb_bytes(bands: np.ndarray) -> np.ndarray:
    """B4, B3, B2 as uint8, before enhancement."""
    rgb = bands[..., [_B4, _B3, _B2], :, :]
    return np.clip(rgb * 255, 0, 255).astype(np.uint8)


def _index_bytes(index: np.ndarray) -> np.ndarray:
    return (np.clip(index, 0, 1) * 255).astype(np.uint8)


def encode(bands: np.ndarray) -> dict[str, Image.Image]:
    """The six PNG images of one date ``(6, H, W)``, encoded the way the dataset's were."""
    rgb = _rgb_bytes(bands)
    image = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)))
    image = ImageEnhance.Contrast(image).enhance(_CONTRAST)
    images = {"RGB": ImageEnhance.Brightness(image).enhance(_BRIGHTNESS)}
    for sensor, index in indices(bands).items():
        value = _index_bytes(index)
        images[sensor] = Image.fromarray(np.repeat(value[:, :, None], 3, axis=2))
    return images


def pixel_bytes(bands: np.ndarray, sensors: list[str]) -> np.ndarray:
    """The uint8 channels of ``sensors``, in order, from bands ``(..., 6, H, W)``, as far as
    they depend on each pixel alone: RGB before its enhancement (:func:`enhance_rgb`), each
    index as its PNG stores it. Computed once for a whole block of a scene, then cut into
    windows."""
    parts = [
        _rgb_bytes(bands)
        if sensor == "RGB"
        else _index_bytes(_index(sensor, bands))[..., None, :, :]
        for sensor in sensors
    ]
    return np.concatenate(parts, axis=-3)


def enhance_rgb(windows: np.ndarray) -> np.ndarray:
    """The dataset's enhancement of each window's RGB, ``(N, 3, H, W)`` uint8, to the byte.

    PIL's contrast blends every pixel with the window's mean grey, so each window is enhanced
    with its own mean, as its 65 x 65 PNG was.
    """
    return _enhanced_rgb(windows)


def encode_windows(bands: np.ndarray, sensors: list[str]) -> dict[str, np.ndarray]:
    """What :func:`encode` gives for each window of ``bands`` ``(N, 6, H, W)``, as the uint8
    channels prepare reads from those PNGs: ``RGB`` ``(N, 3, H, W)``, an index ``(N, 1, H, W)``."""
    channels = pixel_bytes(bands, sensors)
    out, start = {}, 0
    for sensor in sensors:
        width = 3 if sensor == "RGB" else 1
        part = channels[:, start : start + width]
        out[sensor] = enhance_rgb(part) if sensor == "RGB" else part
        start += width
    return out


def _enhanced_rgb(rgb: np.ndarray) -> np.ndarray:
    """PIL's ``Contrast(x).enhance(1.5)`` then ``Brightness(...).enhance(1.5)`` on
    ``(N, 3, H, W)`` uint8 images, to the byte.

    PIL blends in float and truncates toward zero, clipping to 0..255. With a factor of 1.5 and
    whole-number inputs every intermediate value is exact in float32, so integer arithmetic on
    doubled values gives the same bytes.
    """
    wide = rgb.astype(np.int32)  # 255 * 65536 and 3 * 255 fit
    grey = (wide[:, 0] * _LUMA[0] + wide[:, 1] * _LUMA[1] + wide[:, 2] * _LUMA[2] + 0x8000) >> 16
    pixels = grey.shape[1] * grey.shape[2]
    # ImageStat's mean of the grey image, rounded half up as Contrast rounds it.
    total = grey.sum(axis=(1, 2), dtype=np.int64)
    mean = np.floor(total / pixels + 0.5).astype(np.int32)[:, None, None, None]
    # mean + 1.5 (x - mean), doubled: 3x - mean; then truncated (>= 0 after the clip).
    contrast = np.clip((3 * wide - mean) // 2, 0, 255)
    return np.clip((3 * contrast) // 2, 0, 255).astype(np.uint8)
