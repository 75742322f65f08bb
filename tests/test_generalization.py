"""experiment=generalization: the same five drawn generators and three seeds for the networks
and the baselines, one table over both."""

from __future__ import annotations

import csv

import pytest

from tests.extras import needs_extra
from tests.hydra_configs import compose_config
from tests.script_runs import run_script

DRAWS = ["0", "1", "2", "3", "4"]


@pytest.mark.parametrize("config", ["train", "train_baseline"])
def test_both_scripts_sweep_the_same_draws_and_seeds(config):
    cfg = compose_config(config, "experiment=generalization", return_hydra_config=True)
    params = {k: v.split(",") for k, v in cfg.hydra.sweeper.params.items()}
    assert params == {"data.synthetic.draw": DRAWS, "seed": ["1", "2", "3"]}
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.data.synthetic.num_points == 2000
    # Each draw has a file of its own, never the tuned tree's.
    assert cfg.data.path.endswith("_n2000_seed0_draw0.h5")


@needs_extra("baseline")
@pytest.mark.slow
def test_a_tiny_generalization_grid_gives_one_table_per_draw(tmp_path):
    """Two draws, one seed, a network and a baseline, on 60-point trees: the joined table has
    a row per (draw, model) with its margin over the baseline."""
    shared = [
        "experiment=generalization",
        "data.synthetic.num_points=60",
        "data.synthetic.draw=0,1",
        "seed=1",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    network = run_script(
        "train.py",
        *shared,
        "model=tempcnn",
        "model.net.filters=[4,4]",
        "model.net.dense_units=4",
        "trainer.max_epochs=1",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "data.batch_size=8",
        "callbacks.rich_progress_bar=null",
        f"paths.log_dir={tmp_path / 'networks'}",
    )
    assert network.returncode == 0, network.stderr[-3000:]
    baseline = run_script(
        "train_baseline.py",
        *shared,
        "baseline=rf",
        "baseline.estimator.n_estimators=10",
        "baseline.estimator.n_jobs=1",
        f"paths.log_dir={tmp_path / 'baselines'}",
    )
    assert baseline.returncode == 0, baseline.stderr[-3000:]
    (networks,) = (tmp_path / "networks" / "train" / "multiruns").iterdir()
    (baselines,) = (tmp_path / "baselines" / "train_baseline" / "multiruns").iterdir()
    table = run_script(
        "benchmark_table.py",
        f"multiruns=[{networks},{baselines}]",
        f"paths.log_dir={tmp_path / 'tables'}",
    )
    assert table.returncode == 0, table.stderr[-3000:]
    (folder,) = (tmp_path / "tables" / "benchmark_table" / "runs").iterdir()
    rows = list(csv.DictReader((folder / "benchmark.csv").open()))
    assert {(row["data"], row["model"]) for row in rows} == {
        (f"synthetic_draw_{draw}", model)
        for draw in (0, 1)
        for model in ("tempcnn", "random_forest")
    }
    for row in rows:
        assert row["best_baseline"] == "random_forest"
        # The network's margin is against the forest of its own draw; the forest is the row
        # to beat.
        assert (row["acc_over_best_baseline"] != "") == (row["model"] == "tempcnn")
