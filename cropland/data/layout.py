"""The Canadian Cropland Dataset's on-disk layout: sensors, classes, provinces and file names.

Everything here is a fact of the real 2019 tree (see DATASET.md in the shared folder):
``<root>/<SENSOR>/<training|validation|test>/<CLASS>/POINT_<id>_<YYYYMM>_<PROV>_<CROP>_<SENSOR>.png``

New data without classes, to predict on, has no split or class folders and no crop field:
``<root>/<SENSOR>/POINT_<id>_<YYYYMM>_<PROV>_<SENSOR>.png``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IMAGE_SIZE = 65

# Folder names of the six sensors, in the order their channels are stored.
SENSORS: tuple[str, ...] = ("RGB", "NDVI", "NDVI45", "GNDVI", "OSAVI", "PSRI")

# RGB PNGs hold three real channels; each index PNG repeats one value in all three,
# so an index contributes a single channel.
SENSOR_CHANNELS: dict[str, tuple[str, ...]] = {
    "RGB": ("red", "green", "blue"),
    "NDVI": ("ndvi",),
    "NDVI45": ("ndvi45",),
    "GNDVI": ("gndvi",),
    "OSAVI": ("osavi",),
    "PSRI": ("psri",),
}
CHANNELS: tuple[str, ...] = tuple(c for s in SENSORS for c in SENSOR_CHANNELS[s])

# Label order of the published model; class index = position.
CLASSES: tuple[str, ...] = (
    "BARLEY",
    "CANOLA",
    "CORN",
    "MIXEDWOOD",
    "OAT",
    "ORCHARD",
    "PASTURE",
    "POTATO",
    "SOYBEAN",
    "SPRING_WHEAT",
)

# Label of a sequence whose crop is not one of CLASSES (another crop, or UNLABELLED): the
# prepared file keeps it, but no split trains or scores on it.
UNKNOWN_CLASS = -1

PROVINCES: tuple[str, ...] = ("AB", "BC", "MB", "NB", "NL", "ON", "PE", "QC", "SK")

SPLIT_FOLDERS: tuple[str, ...] = ("training", "validation", "test")

# Imagery covers the growing season, June (6) to October (10).
MONTHS: tuple[int, ...] = (6, 7, 8, 9, 10)

# Split folder of records that sat in no training/validation/test folder (an unlabelled
# tree, the published HDF5): data.split=predefined refuses them.
UNASSIGNED = "unassigned"

# Crop of a patch whose name has no crop field (new data to predict on): label UNKNOWN_CLASS.
UNLABELLED = "UNLABELLED"

# Digits of a point id, at most: any such id fits the prepared file's int64 column.
MAX_POINT_DIGITS = 18

# The crop field is optional: names of new, unlabelled data may leave it out. Digits are ASCII
# (``\d`` would take any script's, and int() reads them).
_NAME = re.compile(
    rf"POINT_(?P<point>[0-9]{{1,{MAX_POINT_DIGITS}}})"
    r"_(?P<date>[0-9]{6})_(?P<province>[A-Z]{2})"
    r"(?:_(?P<crop>[A-Z][A-Z_]*?))?_(?P<sensor>" + "|".join(SENSORS) + r")\.png",
    re.ASCII,
)


# slots: the real 2019 tree has ~134k patches, each with its name held during preparation.
@dataclass(frozen=True, slots=True)
class PatchName:
    """The fields encoded in one patch file name."""

    point: int
    date: int  # YYYYMM
    province: str
    crop: str
    sensor: str

    @property
    def year(self) -> int:
        return self.date // 100

    @property
    def month(self) -> int:
        return self.date % 100

    @property
    def filename(self) -> str:
        return f"POINT_{self.point}_{self.date:06d}_{self.province}_{self.crop}_{self.sensor}.png"


# Sentinel-2 product levels: top of atmosphere (L1C) and surface reflectance (L2A). The
# dataset's patches look like L1C: their blue is the brightest band, as path radiance makes it.
PRODUCT_LEVELS = ("l1c", "l2a")
DATASET_PRODUCT_LEVEL = "l1c"


def parse_patch_name(filename: str) -> PatchName | None:
    """Parse a patch file name; ``None`` when the name is not a patch of this layout.

    The crop may itself contain underscores (``SPRING_WHEAT``); the sensor is always the last
    field, so the regular expression anchors on it. A name without a crop field
    (``POINT_7_201907_QC_RGB.png``) gets the crop ``UNLABELLED``.
    """
    match = _NAME.fullmatch(filename)  # not match(): "$" would allow a newline at the end
    if match is None:
        return None
    month = int(match["date"]) % 100
    if not 1 <= month <= 12:
        return None
    return PatchName(
        point=int(match["point"]),
        date=int(match["date"]),
        province=match["province"],
        crop=match["crop"] or UNLABELLED,
        sensor=match["sensor"],
    )


def patch_path(name: PatchName, split_folder: str) -> str:
    """Relative path of a patch inside a dataset tree."""
    return f"{name.sensor}/{split_folder}/{name.crop}/{name.filename}"


def unlabelled_patch_path(name: PatchName) -> str:
    """Relative path of a patch inside a tree of new data without classes: no split or class
    folder, and no crop in the name (it reads back with the crop ``UNLABELLED``)."""
    return f"{name.sensor}/POINT_{name.point}_{name.date:06d}_{name.province}_{name.sensor}.png"
