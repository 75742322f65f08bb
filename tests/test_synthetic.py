"""The synthetic tree: same layout and encodings as the real one, deterministic, and temporal."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

import cropland.data.synthetic as synthetic
from cropland.data.layout import (
    CLASSES,
    IMAGE_SIZE,
    MONTHS,
    PROVINCES,
    SENSORS,
    SPLIT_FOLDERS,
    parse_patch_name,
)
from cropland.data.synthetic import (
    HARD,
    Character,
    generate_tree,
    summary_path,
    synthetic_file_name,
)
from cropland.errors import CroplandError
from cropland.io import owner_of_temp
from tests.conftest import PROJECT_ROOT, run_script

# DATASET.md: real test supports per class, and the share of points with an image each month.
REAL_SUPPORT = dict(zip(CLASSES, (36, 66, 55, 32, 67, 51, 47, 67, 104, 7), strict=True))
REAL_MONTH_SHARE = {6: 0.49, 7: 0.83, 8: 0.82, 9: 0.78, 10: 0.77}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


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
    summary = json.loads(summary_path(synthetic_tree).read_text())
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


# --- determinism, destination, interruption ---------------------------------------------------


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path, monkeypatch) -> None:
    generate_tree(tmp_path / "a", num_points=12, seed=5, progress=False, workers=1)
    monkeypatch.setattr(synthetic, "_CHUNK", 4)  # three chunks over two threads
    generate_tree(tmp_path / "b", num_points=12, seed=5, progress=False, workers=2)
    generate_tree(tmp_path / "c", num_points=12, seed=6, progress=False, workers=1)
    a, b, c = (tree_bytes(tmp_path / name) for name in "abc")
    assert a == b
    assert a != c
    summaries = [summary_path(tmp_path / name).read_text() for name in "ab"]
    assert summaries[0] == summaries[1]


def test_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "notes.txt").write_text("mine")
    with pytest.raises(CroplandError, match="not empty"):
        generate_tree(root, num_points=2, progress=False)
    with pytest.raises(CroplandError, match="not a synthetic tree"):
        generate_tree(root, num_points=2, progress=False, overwrite=True)
    assert [p.name for p in root.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree"]


def test_overwrite_replaces_an_earlier_synthetic_tree(tmp_path: Path) -> None:
    root = tmp_path / "tree"
    generate_tree(root, num_points=3, seed=1, progress=False)
    with pytest.raises(CroplandError, match="overwrite=true"):
        generate_tree(root, num_points=3, seed=2, progress=False)
    generate_tree(root, num_points=3, seed=2, progress=False, overwrite=True)
    assert json.loads(summary_path(root).read_text())["seed"] == 2
    generate_tree(tmp_path / "fresh", num_points=3, seed=2, progress=False)
    assert tree_bytes(root) == tree_bytes(tmp_path / "fresh")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fresh",
        "fresh.synthetic.json",
        "tree",
        "tree.synthetic.json",
    ]


def test_interrupted_run_leaves_nothing_behind(tmp_path: Path, monkeypatch) -> None:
    encode = synthetic._encode
    calls = []

    def encode_then_interrupt(bands):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return encode(bands)

    monkeypatch.setattr(synthetic, "_encode", encode_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        generate_tree(tmp_path / "tree", num_points=4, progress=False, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_files_are_written_into_a_recognisable_temp_folder(tmp_path: Path, monkeypatch) -> None:
    write_points = synthetic._write_points
    folders = []

    def record_folder(tree: Path, *args):
        folders.append(tree)
        return write_points(tree, *args)

    monkeypatch.setattr(synthetic, "_write_points", record_folder)
    generate_tree(tmp_path / "tree", num_points=2, progress=False, workers=1)
    assert {folder.name for folder in folders} == {f".tree.cropland-tmp-{os.getpid()}"}
    assert {owner_of_temp(folder) for folder in folders} == {os.getpid()}


def test_a_killed_run_leaves_a_temp_folder_the_next_one_removes(tmp_path: Path, caplog) -> None:
    ended = subprocess.Popen(["true"])
    ended.wait()
    # What a run killed with SIGKILL leaves: its half-written tree, and the tree it replaced.
    left = [
        tmp_path / f".tree.cropland-tmp-{ended.pid}",
        tmp_path / f".tree.cropland-tmp-{ended.pid}.old",
    ]
    for folder in left:
        (folder / "RGB").mkdir(parents=True)
        (folder / "RGB" / "patch.png").write_bytes(b"half")

    generate_tree(tmp_path / "tree", num_points=2, progress=False)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["tree", "tree.synthetic.json"]
    removed = [r.getMessage() for r in caplog.records if r.name == "cropland.io"]
    assert len(removed) == 2
    assert all(any(f"Removing {folder}," in message for message in removed) for folder in left)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ({"num_points": 0}, "num_points"),
        ({"year": 19}, "year"),
        ({"seed": -1}, "seed"),
        ({"cloud_gaps": 1.0}, "cloud_gaps"),
        ({"cloud_gaps": -0.1}, "cloud_gaps"),
        ({"separability": 0.0}, "separability"),
        ({"separability": 1.5}, "separability"),
        ({"separability": float("nan")}, "separability"),
        ({"noise": -1.0}, "noise"),
        ({"noise": float("inf")}, "noise"),
        ({"phenology_shift": -0.5}, "phenology_shift"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, argument: dict, message: str) -> None:
    with pytest.raises(CroplandError, match=message):
        generate_tree(tmp_path / "tree", progress=False, **argument)
    assert list(tmp_path.iterdir()) == []


def test_script_writes_a_tree_and_reports_user_errors_in_one_line(tmp_path: Path) -> None:
    dst = tmp_path / "tree"
    args = (f"dst={dst}", "num_points=20", "progress=false", f"paths.log_dir={tmp_path / 'logs'}")
    result = run_script("make_synthetic.py", *args)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["num_points"] == 20
    assert len(list(dst.rglob("*.png"))) == summary["images_written"]

    again = run_script("make_synthetic.py", *args)
    assert again.returncode == 2
    assert again.stderr.strip().startswith("error: dst") and "overwrite=true" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


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


# --- character: settings that make the data harder ---------------------------------------------

# sha256 of "<relative path> <sha256 of the file>\n" over the files of the 10-point, seed-5
# tree, sorted by path; computed with the generator before the character settings existed.
DEFAULT_TREE_DIGEST = "798529e6923a9409a48cc007e311f5fcd33bec2e244abbc2432da998afc07262"


def tree_digest(root: Path) -> str:
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    lines = (f"{f} {hashlib.sha256((root / f).read_bytes()).hexdigest()}\n" for f in files)
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_default_character_writes_the_tree_it_always_did(tmp_path: Path) -> None:
    summary = generate_tree(tmp_path / "tree", num_points=10, seed=5, progress=False)
    assert tree_digest(tmp_path / "tree") == DEFAULT_TREE_DIGEST
    assert {k: summary[k] for k in ("cloud_gaps", "separability", "noise", "phenology_shift")} == {
        "cloud_gaps": 0.0,
        "separability": 1.0,
        "noise": 1.0,
        "phenology_shift": 0.0,
    }

    gappy = generate_tree(tmp_path / "gappy", num_points=10, seed=5, progress=False, cloud_gaps=0.5)
    assert gappy["cloud_gaps"] == 0.5
    assert gappy["records"] < summary["records"]
    assert json.loads(summary_path(tmp_path / "gappy").read_text()) == gappy


def test_cloud_gaps_remove_months_and_keep_at_least_one() -> None:
    default = synthetic._plan_points(300, 0, Character())
    gappy = synthetic._plan_points(300, 0, Character(cloud_gaps=0.4))
    assert all(
        set(g.months) <= set(d.months) and g.months for d, g in zip(default, gappy, strict=True)
    )
    kept = sum(len(p.months) for p in gappy) / sum(len(p.months) for p in default)
    assert 0.5 < kept < 0.7  # 0.6 of the months, plus the ones kept so that none is empty
    assert [(d.crop, d.province, d.split_folder) for d in default] == [
        (g.crop, g.province, g.split_folder) for g in gappy
    ]


def full_season_points(per_class: int) -> list[synthetic._Point]:
    """``per_class`` points of every class, imaged every month, in one province."""
    return [
        synthetic._Point(i, i + 1, crop, "ON", "training", MONTHS, 0.0)
        for i, crop in enumerate(c for c in CLASSES for _ in range(per_class))
    ]


def centre_ndvi(point: synthetic._Point, character: Character) -> np.ndarray:
    """(months, 12, 12) NDVI of the patch centre, which always lies inside the point's field."""
    centre = slice(IMAGE_SIZE // 2 - 6, IMAGE_SIZE // 2 + 6)
    return np.stack(
        [
            synthetic._indices(bands)["NDVI"][centre, centre]
            for _, bands in synthetic._render_point(point, 0, character)
        ]
    )


def class_curve_spread(character: Character, per_class: int = 4) -> float:
    """Mean distance between the classes' mean NDVI curves (June..October)."""
    curves: dict[str, list[np.ndarray]] = defaultdict(list)
    for point in full_season_points(per_class):
        curves[point.crop].append(centre_ndvi(point, character).mean(axis=(1, 2)))
    means = np.array([np.mean(curves[c], axis=0) for c in CLASSES])
    distances = np.linalg.norm(means[:, None] - means[None], axis=-1)
    return float(distances.sum() / (len(CLASSES) * (len(CLASSES) - 1)))


def test_lower_separability_brings_the_class_curves_together() -> None:
    spread = [class_curve_spread(Character(separability=s)) for s in (1.0, 0.6, 0.3)]
    assert spread[0] > spread[1] > spread[2], spread
    assert spread[2] < 0.5 * spread[0], spread


def test_noise_raises_the_pixel_spread_within_a_field() -> None:
    points = full_season_points(1)

    def within_field_std(noise: float) -> float:
        return float(
            np.mean([centre_ndvi(p, Character(noise=noise)).std(axis=(1, 2)) for p in points])
        )

    quiet, default, loud = (within_field_std(n) for n in (0.5, 1.0, 2.5))
    assert quiet < default < loud
    assert loud > 1.5 * default, (default, loud)


def test_phenology_shift_moves_the_season_per_province() -> None:
    assert {p.phenology_shift for p in synthetic._plan_points(100, 0, Character())} == {0.0}
    points = synthetic._plan_points(300, 0, Character(phenology_shift=1.0))
    shifts: dict[str, set[float]] = defaultdict(set)
    for point in points:
        shifts[point.province].add(point.phenology_shift)
    assert all(len(s) == 1 for s in shifts.values())  # one shift per province
    assert len({s.pop() for s in shifts.values()}) == len(shifts) > len(PROVINCES) // 2

    # The same corn fields, in a province a month early and in one a month late.
    corn = [p for p in full_season_points(4) if p.crop == "CORN"]

    def peak_month(shift: float) -> float:
        curves = [
            centre_ndvi(dataclasses.replace(p, phenology_shift=shift), Character()).mean(
                axis=(1, 2)
            )
            for p in corn
        ]
        return float(np.mean([MONTHS[int(np.argmax(c))] for c in curves]))

    assert peak_month(-1.0) < peak_month(0.0) < peak_month(1.0)


def test_hard_preset_loses_months_and_brings_classes_together() -> None:
    default = synthetic._plan_points(300, 0, Character())
    hard = synthetic._plan_points(300, 0, HARD)
    assert sum(len(p.months) for p in hard) < 0.85 * sum(len(p.months) for p in default)
    assert class_curve_spread(HARD) < 0.8 * class_curve_spread(Character())


def test_file_names_tell_characters_apart() -> None:
    assert synthetic_file_name(num_points=1000, seed=0) == "synthetic_ca19_n1000_seed0.h5"
    assert synthetic_file_name(num_points=50, seed=3, noise=1.0) == "synthetic_ca19_n50_seed3.h5"
    assert (
        synthetic_file_name(num_points=50, seed=3, **dataclasses.asdict(HARD))
        == "synthetic_ca19_n50_seed3_hard.h5"
    )
    assert (
        synthetic_file_name(num_points=50, seed=3, cloud_gaps=0.3, noise=2, phenology_shift=1)
        == "synthetic_ca19_n50_seed3_gap0.3_noise2_shift1.h5"
    )
    assert synthetic_file_name(separability=0.6) == "synthetic_ca19_n1000_seed0_sep0.6.h5"
    with pytest.raises(CroplandError, match="separability"):
        synthetic_file_name(separability=0)


def compose_data(*overrides: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=list(overrides)).data


def test_hard_preset_composes_into_its_own_file() -> None:
    hard = compose_data("data=synthetic_hard", "data.synthetic.num_points=77")
    default = compose_data("data.synthetic.num_points=77")
    settings = {f.name: hard.synthetic[f.name] for f in dataclasses.fields(Character)}
    assert Character(**settings) == HARD
    assert Path(hard.path).name == synthetic_file_name(**hard.synthetic)
    assert Path(hard.path).name == "synthetic_ca19_n77_seed0_hard.h5"
    assert Path(default.path).name == synthetic_file_name(**default.synthetic)
    assert Path(hard.path) != Path(default.path)
