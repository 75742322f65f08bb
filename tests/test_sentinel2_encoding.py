"""The map's batch encoding of Sentinel-2 windows gives the bytes of the dataset's PNGs, as the
synthetic tree writer makes them with PIL, read back as prepare reads them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from cropland.data.layout import SENSORS
from cropland.data.sentinel2_encoding import BANDS, _enhanced_rgb, encode, encode_windows


def _png_channels(image: Image.Image, sensor: str) -> np.ndarray:
    """Through a PNG file and back, keeping the channels prepare keeps."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    pixels = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
    keep = 3 if sensor == "RGB" else 1
    return pixels[:, :, :keep].transpose(2, 0, 1)


def _windows(rng: np.random.Generator, count: int, size: int = 65) -> np.ndarray:
    """Reflectance windows from dark to saturated, with index denominators kept positive."""
    scale = rng.uniform(0.02, 1.2, size=(count, 1, 1, 1))
    bands = rng.uniform(0.001, 1.0, size=(count, len(BANDS), size, size)) * scale
    return np.maximum(bands, 1e-3)


def test_batch_encoding_equals_the_png_bytes():
    windows = _windows(np.random.default_rng(0), 12)
    batch = encode_windows(windows, list(SENSORS))
    for n, bands in enumerate(windows):
        for sensor, image in encode(bands).items():
            np.testing.assert_array_equal(batch[sensor][n], _png_channels(image, sensor))


def test_only_the_asked_sensors_are_encoded():
    batch = encode_windows(_windows(np.random.default_rng(1), 2), ["RGB", "GNDVI"])
    assert set(batch) == {"RGB", "GNDVI"}
    assert batch["RGB"].shape == (2, 3, 65, 65) and batch["GNDVI"].shape == (2, 1, 65, 65)


@pytest.mark.parametrize("mean", [0, 1, 37, 128, 200, 255])
def test_enhancement_matches_pil_for_every_byte(mean):
    """Every input byte, in an image whose grey mean is ``mean``: a 256-pixel row of all byte
    values in the first channel, the rest set so the window's mean grey comes out at ``mean``."""
    values = np.arange(256, dtype=np.uint8)
    image = np.full((3, 16, 32), mean, dtype=np.uint8)
    image[:, :8, :] = values.reshape(8, 32)
    image[:, 8:, :] = np.clip(2 * mean - values.reshape(8, 32).astype(int), 0, 255)
    pil = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)))
    pil = ImageEnhance.Brightness(ImageEnhance.Contrast(pil).enhance(1.5)).enhance(1.5)
    expected = np.asarray(pil).transpose(2, 0, 1)
    np.testing.assert_array_equal(_enhanced_rgb(image[None])[0], expected)
