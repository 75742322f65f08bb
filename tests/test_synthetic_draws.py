"""Draws: generators picked at random from wide priors, each deterministic, none the tuned one
unless no draw is given, and every one within its priors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import cropland.data.synthetic.draws as draws
from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.layout import CLASSES, MONTHS
from cropland.data.synthetic import (
    Character,
    draw_settings,
    generate_tree,
    synthetic_file_name,
    tree_summary_path,
)
from cropland.data.synthetic.covers import COVERS
from cropland.data.synthetic.settings import GeneratorSettings, tuned_settings
from cropland.errors import CroplandError
from tests.hydra_configs import compose_config
from tests.refusals import assert_refused
from tests.script_runs import run_script

DRAWS = range(50)
GREEN, DRY, FLOWER = (COVERS.index(c) for c in ("green", "dry", "flower"))


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.png"))}


def tiny_tree(root: Path, **arguments) -> dict:
    return generate_tree(root, num_points=8, seed=5, progress=False, **arguments)


def test_no_draw_is_the_tuned_generator(tmp_path: Path) -> None:
    assert tuned_settings() == GeneratorSettings()
    assert draws.generator_settings(None, Character()) == GeneratorSettings()
    default = tiny_tree(tmp_path / "default")
    explicit = tiny_tree(tmp_path / "none", draw=None)
    assert tree_bytes(tmp_path / "default") == tree_bytes(tmp_path / "none")
    assert default == explicit
    assert default["draw"] is None and default["noise"] == 1.0


def test_same_draw_same_bytes_other_draws_differ(tmp_path: Path) -> None:
    one = tiny_tree(tmp_path / "one", draw=1, workers=1)
    tiny_tree(tmp_path / "again", draw=1, workers=2)
    tiny_tree(tmp_path / "two", draw=2)
    tiny_tree(tmp_path / "tuned")
    first, again, second, tuned = (
        tree_bytes(tmp_path / name) for name in ("one", "again", "two", "tuned")
    )
    assert first == again
    assert first != second and first != tuned
    assert one["draw"] == 1
    # What was drawn is in the summary, as JSON writes it; a draw has no character of its own.
    assert one["settings"] == json.loads(json.dumps(dataclasses.asdict(draw_settings(1))))
    assert json.loads(tree_summary_path(tmp_path / "one").read_text()) == one
    assert "noise" not in one


def test_draws_change_every_kind_of_setting() -> None:
    tuned = dataclasses.asdict(GeneratorSettings())
    for draw in (0, 1):
        drawn = dataclasses.asdict(draw_settings(draw))
        assert [k for k in tuned if drawn[k] == tuned[k]] == []
    assert draw_settings(7) == draw_settings(7)


def pairwise_class_distances(settings: GeneratorSettings) -> np.ndarray:
    tables = settings.phenology_tables
    return np.array(
        [
            np.linalg.norm(tables[a] - tables[b])
            for i, a in enumerate(CLASSES)
            for b in CLASSES[i + 1 :]
        ]
    )


def peak_month(table: np.ndarray, cover: int) -> int:
    return MONTHS[int(np.argmax(table[cover]))]


def test_fifty_draws_keep_agronomic_sense_and_their_priors() -> None:
    spreads = []
    for draw in DRAWS:
        settings = draw_settings(draw)
        tables = settings.phenology_tables
        assert sorted(tables) == sorted(CLASSES)
        for crop, table in tables.items():
            assert table.shape == (len(COVERS), len(MONTHS))
            assert table.min() >= 0 and table.sum(axis=0).max() <= 1, (draw, crop)
        # Cereals green up to a peak at July +- CEREAL_TIMING (June or July on the monthly grid)
        # and are dry by August or September; canola flowers in July; corn and soybean peak
        # late, potato between them; grass, woods and orchards stay green into September.
        for cereal in draws.CEREALS:
            assert peak_month(tables[cereal], GREEN) in (6, 7), (draw, cereal)
            assert peak_month(tables[cereal], DRY) in (8, 9), (draw, cereal)
        assert peak_month(tables["CANOLA"], FLOWER) == 7, draw
        assert peak_month(tables["CORN"], GREEN) in (8, 9), draw
        assert peak_month(tables["SOYBEAN"], GREEN) == 8, draw
        assert peak_month(tables["POTATO"], GREEN) in (7, 8), draw
        for perennial in draws.PERENNIALS:
            assert tables[perennial][GREEN][:4].min() > 0.25, (draw, perennial)
        cereals = [tables[c] for c in draws.CEREALS]
        cereal_gap = max(np.linalg.norm(a - b) for a in cereals for b in cereals)
        assert cereal_gap < np.median(pairwise_class_distances(settings)), draw

        distances = pairwise_class_distances(settings)
        assert distances.min() > 0.01, draw  # no two classes ever the same
        spreads.append(distances.mean())

        low, high = settings.field_half_size
        assert draws.FIELD_HALF_SIZE_LOW[0] <= low <= draws.FIELD_HALF_SIZE_LOW[1]
        assert low + draws.FIELD_HALF_SIZE_SPAN[0] <= high <= low + draws.FIELD_HALF_SIZE_SPAN[1]
        assert len(settings.neighbour_count_weights) == 4
        assert np.isclose(sum(settings.neighbour_count_weights), 1, atol=1e-3)
        for key in ("texture_strength", "pixel_noise", "haze_probability", "cloud_gaps"):
            lo, hi = getattr(draws, key.upper())
            assert lo <= getattr(settings, key) <= hi, (draw, key)
        assert sum(share for _, share in settings.common_month_sets) < 1
        assert all(0.05 <= p <= 0.95 for p in settings.other_month_probability)
    # Some draws keep the classes far apart, some bring them close.
    assert max(spreads) > 1.3 * min(spreads), (min(spreads), max(spreads))


def test_file_names_carry_the_draw() -> None:
    assert synthetic_file_name(num_points=2000, seed=0, draw=3) == (
        "synthetic_ca19_n2000_seed0_draw3.h5"
    )
    assert synthetic_file_name(num_points=2000, seed=0, draw=None) == (
        "synthetic_ca19_n2000_seed0.h5"
    )
    assert synthetic_file_name(draw=0) == "synthetic_ca19_n1000_seed0_draw0.h5"
    with pytest.raises(CroplandError, match="noise=2.0, phenology_shift=1.0 cannot be set"):
        synthetic_file_name(draw=2, noise=2.0, phenology_shift=1.0)


@pytest.mark.parametrize("draw", [-1, 1.5, "3", True])
def test_refuses_a_draw_that_is_not_a_non_negative_whole_number(tmp_path: Path, draw) -> None:
    with pytest.raises(CroplandError, match="draw must be a non-negative whole number"):
        tiny_tree(tmp_path / "tree", draw=draw)
    assert list(tmp_path.iterdir()) == []


def test_the_draw_config_names_and_makes_a_drawn_file(tmp_path: Path) -> None:
    drawn = compose_config(
        "train", "data=synthetic_draw", "data.synthetic.draw=3", "data.synthetic.num_points=2000"
    ).data
    assert Path(drawn.path).name == "synthetic_ca19_n2000_seed0_draw3.h5"
    assert Path(drawn.path).name == synthetic_file_name(**drawn.synthetic)
    assert Path(compose_config("train", "data=synthetic_draw").data.path).name == (
        "synthetic_ca19_n1000_seed0_draw0.h5"
    )
    assert compose_config("train").data.synthetic.draw is None

    synthetic = {"num_points": 20, "seed": 0, "draw": 4}
    path = tmp_path / synthetic_file_name(**synthetic)
    CropSequenceDataModule(path=str(path), synthetic=synthetic).prepare_data()
    assert path.is_file()
    assert json.loads(tree_summary_path(path.with_suffix("")).read_text())["draw"] == 4

    bad = CropSequenceDataModule(path=str(path), synthetic={**synthetic, "draw": -2})
    with pytest.raises(CroplandError, match=r"^data\.synthetic\.draw must be a non-negative"):
        bad.prepare_data()


def test_a_draw_never_reads_the_tuned_file(tmp_path: Path) -> None:
    """data=synthetic with a draw: its path is the tuned tree's, which may exist already."""
    tuned = tmp_path / synthetic_file_name(num_points=20, seed=0)
    tuned.write_bytes(b"the tuned tree's file")
    module = CropSequenceDataModule(
        path=str(tuned), synthetic={"num_points": 20, "seed": 0, "draw": 1}
    )
    with pytest.raises(CroplandError, match="data=synthetic_draw data.synthetic.draw=1"):
        module.prepare_data()


def test_script_draws_and_refuses_bad_draws_in_one_line(tmp_path: Path) -> None:
    logs = f"paths.log_dir={tmp_path / 'logs'}"
    dst = tmp_path / "tree"
    made = run_script("make_synthetic.py", f"dst={dst}", "num_points=6", "draw=2", logs)
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["draw"] == 2

    for bad in ("draw=abc", "draw=-1"):
        refused = run_script("make_synthetic.py", f"dst={tmp_path / 'x'}", bad, logs)
        assert_refused(refused, "draw must be a non-negative whole number", bad.split("=")[1])
    mixed = run_script("make_synthetic.py", f"dst={tmp_path / 'x'}", "draw=1", "noise=2", logs)
    assert_refused(mixed, "draw=1", "noise=2 cannot be set")
    assert not (tmp_path / "x").exists()


def test_the_labelled_point_lies_inside_its_field_in_every_draw() -> None:
    """The label is the field at the patch centre: whatever a draw's field size, offset and
    edge wobble, the centre pixel and its 3x3 neighbourhood belong wholly to the field."""
    from cropland.data.synthetic.fields import patch_layout

    centre = slice(31, 34)
    for draw in range(20):
        settings = draw_settings(draw)
        for layout in range(40):
            weights, _ = patch_layout(np.random.default_rng([draw, layout]), settings)
            assert np.all(weights[0][centre, centre] == 1.0), (draw, layout)
