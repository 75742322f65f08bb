"""File names of the real tree: what parses, what does not, and the round trip."""

from __future__ import annotations

import pytest

from cropland.data.layout import (
    CLASSES,
    SENSORS,
    UNLABELLED,
    PatchName,
    parse_patch_name,
    patch_path,
)


def test_parses_every_field():
    name = parse_patch_name("POINT_10482_201907_SK_CANOLA_RGB.png")
    assert name == PatchName(point=10482, date=201907, province="SK", crop="CANOLA", sensor="RGB")
    assert (name.year, name.month) == (2019, 7)


@pytest.mark.parametrize(
    ("filename", "crop", "sensor"),
    [
        ("POINT_7_201908_MB_SPRING_WHEAT_GNDVI.png", "SPRING_WHEAT", "GNDVI"),
        ("POINT_7_201908_MB_SPRING_WHEAT_NDVI.png", "SPRING_WHEAT", "NDVI"),
        ("POINT_7_201908_MB_SPRING_WHEAT_NDVI45.png", "SPRING_WHEAT", "NDVI45"),
        ("POINT_7_201908_ON_CORN_NDVI45.png", "CORN", "NDVI45"),
        ("POINT_7_201908_ON_CORN_NDVI.png", "CORN", "NDVI"),
    ],
)
def test_crop_with_underscore_and_ndvi45_versus_ndvi(filename, crop, sensor):
    name = parse_patch_name(filename)
    assert name is not None
    assert (name.crop, name.sensor) == (crop, sensor)


@pytest.mark.parametrize(
    "filename",
    [
        "Thumbs.db",
        "notes.txt",
        "POINT_7_201908_ON_CORN_NDVI.txt",
        "POINT_7_201908_ON_CORN_NDVI.png.txt",
        "POINT_7_201913_ON_CORN_NDVI.png",  # month 13
        "POINT_7_201900_ON_CORN_NDVI.png",  # month 0
        "POINT_7_20190_ON_CORN_NDVI.png",  # five-digit date
        "POINT_7_2019-08_ON_CORN_NDVI.png",
        "POINT_7_201908_on_CORN_NDVI.png",  # lower-case province
        "POINT_7_201908_ON_CORN_B08.png",  # not one of the six sensors
        "POINT_x_201908_ON_CORN_RGB.png",
    ],
)
def test_rejects_what_is_not_a_patch(filename):
    assert parse_patch_name(filename) is None


@pytest.mark.parametrize("crop", CLASSES)
@pytest.mark.parametrize("sensor", SENSORS)
def test_round_trip_through_the_filename(crop, sensor):
    name = PatchName(point=123456, date=201910, province="QC", crop=crop, sensor=sensor)
    assert parse_patch_name(name.filename) == name


def test_patch_path_is_sensor_split_class_file():
    name = PatchName(point=5, date=201906, province="PE", crop="POTATO", sensor="PSRI")
    assert (
        patch_path(name, "validation") == "PSRI/validation/POTATO/POINT_5_201906_PE_POTATO_PSRI.png"
    )


def test_a_name_without_crop_is_unlabelled():
    """New data to predict on may carry no crop at all."""
    name = parse_patch_name("POINT_7_201908_ON_NDVI45.png")
    assert (name.point, name.date, name.province, name.sensor) == (7, 201908, "ON", "NDVI45")
    assert name.crop == UNLABELLED
