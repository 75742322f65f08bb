"""A tiny PNG tree, written the way the real dataset is laid out, for the preparation tests.

Each patch has distinct, reproducible pixels, so that a test can check a prepared record
against :func:`expected_record` without keeping the images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cropland.data.layout import IMAGE_SIZE, SENSORS, PatchName, patch_path


def patch_pixels(point: int, date: int, sensor: str) -> np.ndarray:
    """Distinct, reproducible (65, 65, 3) pixels; an index repeats one value in all three."""
    rng = np.random.default_rng([point, date, SENSORS.index(sensor)])
    if sensor == "RGB":
        return rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    value = rng.integers(0, 256, (IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    return np.repeat(value[:, :, None], 3, axis=2)


def expected_record(point: int, date: int) -> np.ndarray:
    """The (8, 65, 65) pixels a record should have in the prepared file."""
    channels = []
    for sensor in SENSORS:
        pixels = patch_pixels(point, date, sensor).transpose(2, 0, 1)
        channels.append(pixels if sensor == "RGB" else pixels[:1])
    return np.concatenate(channels)


def write_record(
    root: Path,
    point: int,
    date: int,
    crop: str = "CORN",
    split: str = "training",
    province: str = "QC",
    sensors: tuple[str, ...] = SENSORS,
) -> dict[str, Path]:
    paths = {}
    for sensor in sensors:
        path = root / patch_path(PatchName(point, date, province, crop, sensor), split)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(patch_pixels(point, date, sensor), "RGB").save(path)
        paths[sensor] = path
    return paths


def write_sequence(root: Path, point: int, months: list[int], **kwargs) -> None:
    for month in months:
        write_record(root, point, 201900 + month, **kwargs)


def write_clean_tree(root: Path) -> Path:
    """Two sequences to keep (8 records) and one too short for min_length=3; return ``root``."""
    write_sequence(root, 1, [9, 6, 8, 7, 10], crop="CORN")  # written out of date order
    write_sequence(root, 2, [8, 6, 7], crop="SPRING_WHEAT", split="validation", province="SK")
    write_sequence(root, 3, [7, 9], crop="OAT", split="test")  # too short
    return root
