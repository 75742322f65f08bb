"""Three real 65x65 patches of the dataset (one place, one date) through our PNG reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropland.data.layout import IMAGE_SIZE
from cropland.data.png_tree import read_patch
from tests.script_runs import REAL_PATCHES

SAMPLES = REAL_PATCHES
INDEX_SAMPLES = {"NDVI": SAMPLES / "sample_ndvi.png", "GNDVI": SAMPLES / "sample_gndvi.png"}


def stored(path: Path) -> np.ndarray:
    """The PNG's pixels as stored, (H, W, channels), decoded by Pillow alone."""
    # Not skipped when absent: tests/data is part of the checkout.
    assert path.is_file(), f"real sample {path} is missing; tests/data should hold it"
    with Image.open(path) as image:
        return np.array(image)


def test_rgb_sample_keeps_its_three_channels_exactly() -> None:
    path = SAMPLES / "sample_rgb.png"
    pixels = read_patch(path, "RGB")

    assert pixels.dtype == np.uint8 and pixels.shape == (3, IMAGE_SIZE, IMAGE_SIZE)
    np.testing.assert_array_equal(pixels, stored(path).transpose(2, 0, 1))
    # Real patches are dark (DATASET.md: channel means ~47, 50, 54).
    np.testing.assert_allclose(pixels.mean(axis=(1, 2)), [47, 50, 54], atol=1)


@pytest.mark.parametrize("sensor", sorted(INDEX_SAMPLES))
def test_index_sample_is_one_channel_of_three_equal_ones(sensor: str) -> None:
    path = INDEX_SAMPLES[sensor]
    png = stored(path)
    pixels = read_patch(path, sensor)

    assert png.shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(png[:, :, 1], png[:, :, 0])
    np.testing.assert_array_equal(png[:, :, 2], png[:, :, 0])
    assert pixels.dtype == np.uint8 and pixels.shape == (1, IMAGE_SIZE, IMAGE_SIZE)
    np.testing.assert_array_equal(pixels[0], png[:, :, 0])
