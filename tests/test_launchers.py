"""Multirun launchers: joblib on this machine, submitit for SLURM (Hydra's plugins)."""

from __future__ import annotations

import csv

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from tests.conftest import PROJECT_ROOT, TINY_TRAINING, run_script


def _launcher(option: str):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={option}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
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
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hparams_search=convlstm_optuna", "search.first_width=16"],
            return_hydra_config=True,
        )
    GlobalHydra.instance().clear()
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
