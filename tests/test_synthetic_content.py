"""What the synthetic tree holds: the real tree's layout, encodings and statistics, and a
problem that the sequence of dates solves and a single date does not."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cropland.data.layout import (
    CLASSES,
    IMAGE_SIZE,
    MONTHS,
    SENSORS,
    SPLIT_FOLDERS,
    parse_patch_name,
)
from cropland.data.synthetic import generate_tree, tree_summary_path

# DATASET.md: real test supports per class, and the share of points with an image each month.
REAL_SUPPORT = dict(zip(CLASSES, (36, 66, 55, 32, 67, 51, 47, 67, 104, 7), strict=True))
REAL_MONTH_SHARE = {6: 0.49, 7: 0.83, 8: 0.82, 9: 0.78, 10: 0.77}


def read_tree(root: Path) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    """Decoded pixels per (point, month) and sensor, checking every path on the way."""
    records: dict[tuple[int, int], dict[str, np.ndarray]] = defaultdict(dict)
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        name = parse_patch_name(path.name)
        assert name is not None, path
        sensor_folder, split_folder, class_folder, _ = path.relative_to(root).parts
        assert sensor_folder == name.sensor and class_folder == name.crop, path
        assert split_folder in SPLIT_FOLDERS, path
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.size == (IMAGE_SIZE, IMAGE_SIZE), path
            records[name.point, name.month][name.sensor] = np.asarray(image)
    return records


def point_table(root: Path) -> dict[int, tuple[str, str, str]]:
    """(crop, province, split folder) per point; fails if a point's files disagree."""
    table: dict[int, set] = defaultdict(set)
    for path in root.rglob("*.png"):
        name = parse_patch_name(path.name)
        table[name.point].add((name.crop, name.province, path.parent.parent.name))
    assert all(len(v) == 1 for v in table.values()), "a point with two crops, provinces or splits"
    return {point: next(iter(v)) for point, v in table.items()}


# --- layout and encodings -------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_records(synthetic_tree: Path) -> dict[tuple[int, int], dict[str, np.ndarray]]:
    return read_tree(synthetic_tree)


def test_every_file_is_a_patch_in_its_folders(synthetic_tree: Path, synthetic_records) -> None:
    assert synthetic_records
    for (point, month), images in synthetic_records.items():
        assert set(images) == set(SENSORS), (point, month)
        assert month in MONTHS
        for sensor in SENSORS[1:]:
            pixels = images[sensor]
            assert (pixels[..., 0] == pixels[..., 1]).all(), sensor
            assert (pixels[..., 0] == pixels[..., 2]).all(), sensor
    point_table(synthetic_tree)


def test_summary_matches_the_files(synthetic_tree: Path) -> None:
    summary = json.loads(tree_summary_path(synthetic_tree).read_text())
    table = point_table(synthetic_tree)
    files = list(synthetic_tree.rglob("*.png"))
    assert summary["images_written"] == len(files) == 6 * summary["records"]
    assert summary["num_points"] == len(table)
    assert summary["points_per_class"] == {
        c: sum(v[0] == c for v in table.values()) for c in CLASSES
    }
    splits = Counter(v[2] for v in table.values())
    assert summary["points_per_split_folder"] == {s: splits[s] for s in SPLIT_FOLDERS}
    dates = defaultdict(set)
    for path in files:
        name = parse_patch_name(path.name)
        dates[name.point].add(name.date)
    assert summary["points_with_fewer_than_3_dates"] == sum(len(d) < 3 for d in dates.values())


def test_pixels_look_like_the_real_samples(synthetic_records) -> None:
    """Real sample means (DATASET.md): RGB ~47, 50, 54 (dark), NDVI ~110, GNDVI ~105."""
    records = synthetic_records
    mean = {
        sensor: np.mean([images[sensor].reshape(-1, 3).mean(0) for images in records.values()], 0)
        for sensor in SENSORS
    }
    assert ((mean["RGB"] > 30) & (mean["RGB"] < 70)).all(), mean["RGB"]
    assert 90 < mean["NDVI"][0] < 135
    assert 85 < mean["GNDVI"][0] < 125
    # OSAVI is NDVI with 0.16 added to the denominator, so never above it: the indices come
    # from the same bands.
    for images in records.values():
        assert (images["OSAVI"] <= images["NDVI"]).all()


# --- statistics of the real tree, and the temporal problem ------------------------------------


@pytest.fixture(scope="module")
def season_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("season") / "tree"
    generate_tree(root, num_points=300, seed=0, progress=False)
    return root


@pytest.mark.slow
def test_class_balance_months_and_splits_follow_the_real_tree(season_tree: Path) -> None:
    table = point_table(season_tree)
    n = len(table)
    crops = Counter(v[0] for v in table.values())
    total = sum(REAL_SUPPORT.values())
    for crop, support in REAL_SUPPORT.items():
        assert abs(crops[crop] - n * support / total) <= 1, crop
    splits = Counter(v[2] for v in table.values())
    assert abs(splits["training"] / n - 0.8) < 0.02
    assert abs(splits["validation"] / n - 0.1) < 0.02

    months = defaultdict(set)
    for path in season_tree.joinpath("RGB").rglob("*.png"):
        name = parse_patch_name(path.name)
        months[name.point].add(name.month)
    for month, share in REAL_MONTH_SHARE.items():
        assert abs(sum(month in m for m in months.values()) / n - share) < 0.07, month
    assert abs(sum(len(m) == 5 for m in months.values()) / n - 0.26) < 0.07
    assert 0.04 < sum(len(m) < 3 for m in months.values()) / n < 0.18


def channel_means(root: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per point: (months, 8) channel means (NaN where no image), class, is-training."""
    records = read_tree(root)
    table = point_table(root)
    points = sorted(table)
    row = {point: i for i, point in enumerate(points)}
    features = np.full((len(points), len(MONTHS), 8), np.nan)
    for (point, month), images in records.items():
        channels = [images[s].reshape(-1, 3).mean(0)[: 3 if s == "RGB" else 1] for s in SENSORS]
        features[row[point], MONTHS.index(month)] = np.concatenate(channels)
    labels = np.array([CLASSES.index(table[p][0]) for p in points])
    training = np.array([table[p][2] == "training" for p in points])
    return features, labels, training


def ridge_accuracy(x: np.ndarray, labels: np.ndarray, training: np.ndarray) -> float:
    """Least-squares classifier on standardised features: fit on training, score the rest."""
    mean, std = x[training].mean(0), x[training].std(0) + 1e-9
    design = np.c_[(x - mean) / std, np.ones(len(x))]
    a = design[training]
    weights = np.linalg.solve(a.T @ a + np.eye(a.shape[1]), a.T @ np.eye(10)[labels[training]])
    predicted = (design[~training] @ weights).argmax(1)
    return float((predicted == labels[~training]).mean())


@pytest.mark.slow
def test_the_sequence_tells_classes_apart_a_single_date_does_not(season_tree: Path) -> None:
    """Per-image channel means; sequences of >= 3 dates, as the published model uses.

    Temporal: every month's features (missing months filled with the training mean) plus which
    months are present. Single date: one available date at random, plus its month.
    Measured on 300 points, seeds 0-7: temporal 0.49-0.72, single 0.19-0.43, gap 0.18-0.44;
    on 1,000 points, seeds 0-2: temporal 0.61-0.73, single 0.33-0.35.
    """
    features, labels, training = channel_means(season_tree)
    present = ~np.isnan(features[..., 0])
    keep = present.sum(1) >= 3
    features, labels, training, present = (
        features[keep],
        labels[keep],
        training[keep],
        present[keep],
    )

    filled = np.where(present[..., None], features, np.nanmean(features[training], axis=0))
    temporal = np.c_[filled.reshape(len(filled), -1), present]
    rng = np.random.default_rng(0)
    month = np.array([rng.choice(np.flatnonzero(p)) for p in present])
    single = np.c_[features[np.arange(len(features)), month], np.eye(len(MONTHS))[month]]

    temporal_accuracy = ridge_accuracy(temporal, labels, training)
    single_accuracy = ridge_accuracy(single, labels, training)
    assert temporal_accuracy - single_accuracy >= 0.15, (temporal_accuracy, single_accuracy)
    assert temporal_accuracy <= 0.9, temporal_accuracy


def test_smooth_noise_keeps_its_blob_size_over_any_shape() -> None:
    """A synthetic scene's fields draw their textures over their own shapes: blobs as wide as
    over a patch (twice the cells would halve them), not stretched to the shape."""
    from cropland.data.synthetic.texture import smooth_noise

    rng = np.random.default_rng(0)
    cells = 6
    lag = IMAGE_SIZE // (2 * cells)  # half a blob

    def correlation_at_lag(shape: tuple[int, int], cells: int = cells) -> float:
        noise = np.stack([smooth_noise(rng, cells, shape) for _ in range(30)])
        assert noise.shape[1:] == shape
        return np.corrcoef(noise[..., :-lag].ravel(), noise[..., lag:].ravel())[0, 1]

    patch = correlation_at_lag((IMAGE_SIZE, IMAGE_SIZE))
    finer = correlation_at_lag((IMAGE_SIZE, IMAGE_SIZE), cells=2 * cells)
    for shape in ((40, 400), (200, 90)):
        assert abs(correlation_at_lag(shape) - patch) < (patch - finer) / 4, shape
