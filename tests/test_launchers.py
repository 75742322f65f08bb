"""Multirun launchers: joblib on this machine, submitit for SLURM (Hydra's plugins)."""

from __future__ import annotations

import csv

import pytest
import torch
from omegaconf import OmegaConf

from cropland.models.networks import build_network
from tests.extras import needs_extra
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, run_script

# The launchers' and the sweeper's configs come with their plugins.
pytestmark = needs_extra("sweeps")


def _launcher(option: str):
    cfg = compose_config("train", f"hydra/launcher={option}", return_hydra_config=True)
    return cfg.hydra.launcher


def test_slurm_and_joblib_launchers_compose():
    slurm = _launcher("slurm")
    assert slurm._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert slurm.gpus_per_node == 1 and slurm.timeout_min == 240
    joblib = _launcher("joblib")
    assert joblib._target_ == "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"


def test_joblib_multirun_runs_jobs_in_parallel_and_summarizes_them(prepared_file, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "optimizer.lr=1e-3,3e-4",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["job"], r["status"]) for r in rows] == [("0", "completed"), ("1", "completed")]
    assert all(float(r["test/acc"]) >= 0 for r in rows)


def test_optuna_search_composes_over_lr_weight_decay_widths_and_dropout():
    cfg = compose_config(
        "train", "hparams_search=convlstm_optuna", "search.first_width=16", return_hydra_config=True
    )
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == "maximize"
    assert set(sweeper.params) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "model.net.dropout",
        "search.first_width",
        "search.second_width",
    }
    # The widths Optuna draws are the network's.
    assert list(cfg.model.net.hidden_channels) == [16, cfg.search.second_width]
    assert cfg.optimized_metric == "val/f1_macro"


MODELS = sorted(
    p.stem for p in (PROJECT_ROOT / "conf" / "model").glob("*.yaml") if not p.stem.endswith("_full")
)


@pytest.mark.parametrize("model", MODELS)
def test_every_model_has_an_optuna_search_whose_draws_build_its_network(model):
    search = PROJECT_ROOT / "conf" / "hparams_search" / f"{model}_optuna.yaml"
    assert search.is_file(), f"no hparams_search={model}_optuna"
    cfg = compose_config("train", f"hparams_search={model}_optuna", return_hydra_config=True)
    drawn = dict(cfg.hydra.sweeper.params)
    assert cfg.hydra.runtime.choices.model == model
    assert {"optimizer.lr", "optimizer.weight_decay", "model.net.dropout"} <= set(drawn)
    widths = [key for key in drawn if key.startswith("search.")]
    assert widths, "the search draws no size of the network"
    # Every width choice, at its smallest and largest, builds the network.
    for pick in (min, max):
        overrides = [f"hparams_search={model}_optuna"] + [
            f"{key}={pick(_choices(drawn[key]))}" for key in widths
        ]
        net = compose_config("train", *overrides).model.net
        built = build_network(
            OmegaConf.to_container(net, resolve=True), "model.net", in_channels=5, num_classes=10
        )
        image = torch.randn(2, 3, 5, 65, 65)
        logits = built(image, torch.tensor([3, 2]), torch.tensor([[6, 7, 9], [5, 8, 0]]))
        assert logits.shape == (2, 10)


def _choices(spec: str) -> list[int]:
    """The values of an Optuna ``choice(a, b, c)``."""
    assert spec.startswith("choice(") and spec.endswith(")"), spec
    return [int(v) for v in spec[len("choice(") : -1].split(",")]


def test_an_optuna_search_runs_its_trials_and_reports_the_best(prepared_file, tmp_path):
    tiny = [o for o in TINY_TRAINING if not o.startswith("model")]  # the search picks it
    result = run_script(
        "train.py",
        "hparams_search=tempcnn_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.n_startup_trials=1",
        *tiny,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["status"] for r in rows] == ["completed", "completed"]
    # Each trial drew its own settings, and the network trained was the one drawn.
    for row in rows:
        config = OmegaConf.load(sweep / row["job"] / "config.yaml")
        assert f"search.filters={config.model.net.filters[0]}" in row["overrides"]
        assert config.model.net._target_.endswith("TempCNNClassifier")
    best = OmegaConf.load(sweep / "optimization_results.yaml")
    assert best.best_value == max(float(r["best/val/f1_macro"]) for r in rows)
