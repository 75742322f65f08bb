"""Character: the settings that make the synthetic data harder, and the names that tell
the datasets apart."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from cropland.data.layout import CLASSES, IMAGE_SIZE, MONTHS, PROVINCES
from cropland.data.sentinel2_encoding import indices
from cropland.data.synthetic import (
    HARD,
    Character,
    generate_tree,
    synthetic_file_name,
    tree_summary_path,
)
from cropland.data.synthetic.planning import Point, plan_points
from cropland.data.synthetic.rendering import render_point
from cropland.data.synthetic.settings import tuned_settings
from cropland.errors import CroplandError
from tests.hydra_configs import compose_config

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
    assert json.loads(tree_summary_path(tmp_path / "gappy").read_text()) == gappy


def test_cloud_gaps_remove_months_and_keep_at_least_one() -> None:
    default = plan_points(300, 0, tuned_settings(Character()))
    gappy = plan_points(300, 0, tuned_settings(Character(cloud_gaps=0.4)))
    assert all(
        set(g.months) <= set(d.months) and g.months for d, g in zip(default, gappy, strict=True)
    )
    kept = sum(len(p.months) for p in gappy) / sum(len(p.months) for p in default)
    assert 0.5 < kept < 0.7  # 0.6 of the months, plus the ones kept so that none is empty
    assert [(d.crop, d.province, d.split_folder) for d in default] == [
        (g.crop, g.province, g.split_folder) for g in gappy
    ]


def full_season_points(per_class: int) -> list[Point]:
    """``per_class`` points of every class, imaged every month, in one province."""
    return [
        Point(i, i + 1, crop, "ON", "training", MONTHS, 0.0)
        for i, crop in enumerate(c for c in CLASSES for _ in range(per_class))
    ]


def centre_ndvi(point: Point, character: Character) -> np.ndarray:
    """(months, 12, 12) NDVI of the patch centre, which always lies inside the point's field."""
    centre = slice(IMAGE_SIZE // 2 - 6, IMAGE_SIZE // 2 + 6)
    return np.stack(
        [
            indices(bands)["NDVI"][centre, centre]
            for _, bands in render_point(point, 0, tuned_settings(character))
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
    assert {p.phenology_shift for p in plan_points(100, 0, tuned_settings(Character()))} == {0.0}
    points = plan_points(300, 0, tuned_settings(Character(phenology_shift=1.0)))
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
    default = plan_points(300, 0, tuned_settings(Character()))
    hard = plan_points(300, 0, tuned_settings(HARD))
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
    return compose_config("train", *overrides).data


def test_hard_preset_composes_into_its_own_file() -> None:
    hard = compose_data("data=synthetic_hard", "data.synthetic.num_points=77")
    default = compose_data("data.synthetic.num_points=77")
    settings = {f.name: hard.synthetic[f.name] for f in dataclasses.fields(Character)}
    assert Character(**settings) == HARD
    assert Path(hard.path).name == synthetic_file_name(**hard.synthetic)
    assert Path(hard.path).name == "synthetic_ca19_n77_seed0_hard.h5"
    assert Path(default.path).name == synthetic_file_name(**default.synthetic)
    assert Path(hard.path) != Path(default.path)
