"""What the map feeds a model equals, byte for byte, what training's data gives for the same
pixels: windows cut from a scene, written as the dataset's PNGs and prepared by prepare."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cropland.data.layout import MONTHS, SENSORS, PatchName, patch_path
from cropland.data.prepare import prepare_dataset
from cropland.data.prepared_file import PreparedFile
from tests.band_scene import TWENTY_METRE_BANDS, write_scene
from tests.extras import needs_extra

pytestmark = needs_extra("maps")

ORIGINS = np.array([[0, 0], [17, 30], [35, 35]])


def _reflectance_by_hand(folder: Path, row: int, col: int) -> np.ndarray:
    """The window's six bands read straight from the files, 20 m pixels repeated 2 x 2,
    divided by 10000 (an L1C product before processing baseline 04.00)."""
    import rasterio

    bands = []
    for band in ("B02", "B03", "B04", "B05", "B06", "B08"):
        with rasterio.open(folder / f"{band}.tif") as dataset:
            numbers = dataset.read(1)
        if band in TWENTY_METRE_BANDS:
            numbers = numbers.repeat(2, axis=0).repeat(2, axis=1)
        bands.append(numbers[row : row + 65, col : col + 65] / 10000)
    return np.stack(bands)


def test_map_windows_are_encoded_as_prepare_reads_the_dataset(tmp_path):
    from rasterio.windows import Window

    from cropland.data.sentinel2_encoding import BANDS, encode, pixel_bytes
    from cropland.mapping.band_folders import read_band_folders
    from cropland.mapping.monthly_windows import WindowSequences, choose_months, cloud_shares
    from cropland.mapping.scene_reader import SceneReader
    from cropland.mapping.window_model import model_inputs

    scene = write_scene(tmp_path / "scene", size=101, seed=4)
    acquisitions = read_band_folders(scene, BANDS)
    with SceneReader(
        acquisitions, BANDS, level_setting=None, offset_setting=None, scale_setting=10000.0
    ) as reader:
        block = reader.read(Window(0, 0, 101, 101))
    date_months = np.array([a.month for a in acquisitions])
    shares = cloud_shares(block.clear, ORIGINS, 65)
    chosen = choose_months(shares, date_months, MONTHS, 0.1)
    sequences = WindowSequences(ORIGINS, chosen, MONTHS)
    block_bytes = np.stack([pixel_bytes(block.reflectance(d), list(SENSORS)) for d in range(7)])
    [(numbers, batch)] = list(model_inputs(block_bytes, sequences, list(SENSORS), 65, 8))

    tree = tmp_path / "tree"
    for window, (row, col) in enumerate(ORIGINS):
        for date_index in chosen[window][chosen[window] >= 0]:
            acquisition = acquisitions[date_index]
            bands = _reflectance_by_hand(acquisition.source, row, col)
            for sensor, image in encode(bands).items():
                name = PatchName(window + 1, int(f"{acquisition.date:%Y%m}"), "SK", "CORN", sensor)
                path = tree / patch_path(name, "training")
                path.parent.mkdir(parents=True, exist_ok=True)
                image.save(path)
    prepare_dataset(tree, tmp_path / "windows.h5", progress=False)
    prepared = PreparedFile(tmp_path / "windows.h5")
    assert prepared.channels == ["red", "green", "blue", *(s.lower() for s in SENSORS[1:])]

    sequences_table = prepared.sequences
    assert len(sequences_table) == len(ORIGINS)
    for window in range(len(ORIGINS)):
        row = int(np.flatnonzero(sequences_table.point == window + 1)[0])
        start, length = int(sequences_table.start[row]), int(sequences_table.length[row])
        assert length == int(batch["lengths"][window]) == 5
        expected = prepared.read_records(start, start + length)
        np.testing.assert_array_equal(batch["image"][window, :length], expected)
        months = prepared.records.month[start : start + length]
        np.testing.assert_array_equal(batch["months"][window, :length], months)
