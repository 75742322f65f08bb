"""Class mosaics share one RGB stretch, so brightness compares between classes."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

from cropland.data.layout import CHANNELS, CLASSES, IMAGE_SIZE, MONTHS, SENSORS
from cropland.data.prepared_file import RecordTable, SequenceTable, write_prepared_file
from cropland.describe.describe import describe
from cropland.describe.mosaic import MosaicSequence, mosaic_figure
from cropland.display_stretch import rgb_display_stretch
from cropland.plotting import plt
from tests.hydra_configs import compose_config

# Every pixel of every channel of a class's records holds its value: a dark and a bright class.
BRIGHTNESS = {"BARLEY": 20, "CANOLA": 120}
# The bright class's images have their top rows at this value, enough of all the mosaics'
# pixels to set their white point, so that the rest of both classes shows below white.
HIGHLIGHT, HIGHLIGHT_ROWS = 240, 2
SEQUENCES_PER_CLASS = 2


def _two_brightness_file(path: Path) -> dict[str, np.ndarray]:
    """A prepared file of ``SEQUENCES_PER_CLASS`` sequences per class of ``BRIGHTNESS``, one
    record per month of ``MONTHS``; returns each class's RGB pixels."""
    names = [name for name in BRIGHTNESS for _ in range(SEQUENCES_PER_CLASS)]
    length = len(MONTHS)
    count = len(names)

    def per_record(values) -> np.ndarray:
        return np.array([value for value in values for _ in range(length)], dtype=object)

    records = RecordTable(
        point=np.repeat(np.arange(1, count + 1), length),
        date=np.tile([2019 * 100 + month for month in MONTHS], count),
        province=np.array(["QC"] * count * length, dtype=object),
        crop=per_record(names),
        split_folder=np.array(["training"] * count * length, dtype=object),
    )
    sequences = SequenceTable(
        start=np.arange(count) * length,
        length=np.full(count, length),
        point=np.arange(1, count + 1),
        province=np.array(["QC"] * count, dtype=object),
        year=np.full(count, 2019),
        label=np.array([CLASSES.index(name) for name in names]),
        split_folder=np.array(["training"] * count, dtype=object),
    )
    values = np.repeat([BRIGHTNESS[name] for name in names], length).astype(np.uint8)
    pixels = np.broadcast_to(
        values[:, None, None, None], (len(values), len(CHANNELS), IMAGE_SIZE, IMAGE_SIZE)
    ).copy()
    pixels[values == max(BRIGHTNESS.values()), :, :HIGHLIGHT_ROWS] = HIGHLIGHT
    attrs = {
        "classes": list(CLASSES),
        "channels": list(CHANNELS),
        "sensors": list(SENSORS),
        "image_size": IMAGE_SIZE,
        "min_length": length,
        "source": "test",
    }
    write_prepared_file(path, records, sequences, [pixels], attrs)
    rgb = [CHANNELS.index(channel) for channel in ("red", "green", "blue")]
    return {name: pixels[records.crop == name][:, rgb] for name in BRIGHTNESS}


@pytest.fixture(scope="module")
def described(tmp_path_factory) -> tuple[Path, dict, dict[str, np.ndarray]]:
    folder = tmp_path_factory.mktemp("two_brightness")
    class_rgb = _two_brightness_file(folder / "two.h5")
    cfg = compose_config(
        "describe",
        "progress=false",
        f"data.path={folder / 'two.h5'}",
        f"mosaic.sequences_per_class={SEQUENCES_PER_CLASS}",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(folder / "run")  # set by Hydra at run time
    describe(cfg)
    description = json.loads((folder / "run" / "describe.json").read_text())
    return folder / "run", description, class_rgb


def _most_common_grey(path: Path) -> int:
    """The commonest grey level of a figure other than white and the blank-month grey: the
    value its uniform RGB images are shown at."""
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    grey = pixels[(pixels[:, 0] == pixels[:, 1]) & (pixels[:, 1] == pixels[:, 2]), 0]
    counts = Counter(grey[grey < 230].tolist())
    return counts.most_common(1)[0][0]


def test_describe_json_records_one_stretch_over_all_classes(described):
    _, description, class_rgb = described
    shared = rgb_display_stretch(class_rgb.values())
    recorded = description["mosaics"]["rgb_stretch"]
    assert recorded == {**shared.as_dict(), "shared_by": list(BRIGHTNESS)}
    # Stretched on its own, the dark class would be brightened more: the test tells them apart.
    dark = min(BRIGHTNESS, key=BRIGHTNESS.get)
    assert rgb_display_stretch([class_rgb[dark]]).gain > shared.gain


def test_dark_and_bright_class_mosaics_show_pixels_at_the_shared_gain(described):
    run_dir, description, _ = described
    gain = description["mosaics"]["rgb_stretch"]["gain"]
    assert description["figures"][-len(BRIGHTNESS) :] == [
        f"mosaic/{name}.png" for name in BRIGHTNESS
    ]
    for name, value in BRIGHTNESS.items():
        shown = min(value * gain, 255.0)
        assert abs(_most_common_grey(run_dir / "mosaic" / f"{name}.png") - shown) <= 1, name


def test_mosaic_title_says_the_stretch_is_shared(described):
    _, _, class_rgb = described
    stretch = rgb_display_stretch(class_rgb.values())
    rgb = class_rgb["BARLEY"][: len(MONTHS)]
    images = np.concatenate([rgb, rgb[:, :1]], axis=1)  # red, green, blue, then an NDVI plane
    sequence = MosaicSequence(0, images, np.array(MONTHS), "point 1\nQC 2019, train")
    figure = mosaic_figure("BARLEY", [sequence], 1, stretch)
    title = figure.axes[0].get_title()
    plt.close(figure)
    assert f"RGB stretch shared by all classes: {stretch.describe()}" in title
    assert f"p99 = {stretch.bright:.0f} of 255" in title


@pytest.mark.parametrize(
    ("value", "says"),
    [(255, "not brightened"), (10, "the most allowed"), (100, "shown as white")],
)
def test_the_stretch_line_says_what_set_the_gain(value, says):
    stretch = rgb_display_stretch([np.full((3, 4, 4), value, dtype=np.uint8)])
    assert says in stretch.describe()
    assert f"p99 = {value} of 255" in stretch.describe()
