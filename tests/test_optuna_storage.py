"""The Optuna searches keep their study in an SQLite file in the multirun folder; a later search
given that file as its storage goes on with the same study."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, run_script

SEARCHES = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "hparams_search").glob("*_optuna.yaml"))


@pytest.mark.parametrize("search", SEARCHES)
def test_every_search_keeps_its_own_study_in_the_multirun_folder(search):
    cfg = compose_config("train", f"hparams_search={search}", return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    unresolved = OmegaConf.to_container(sweeper, resolve=False)
    assert unresolved["storage"] == "sqlite:///${hydra.sweep.dir}/optuna.db"
    assert sweeper.study_name == search.removesuffix("_optuna")
    # Hydra makes the folder only when it launches the first job, after the study is opened.
    assert cfg.hydra.callbacks.sweep_folder._target_ == "cropland.sweep_folder.MakeSweepFolder"


def _search(log_dir, *overrides: str):
    tiny = [o for o in TINY_TRAINING if not o.startswith("model")]  # the search picks it
    return run_script(
        "train.py",
        "hparams_search=tempcnn_optuna",
        "hydra.sweeper.n_trials=1",
        "search.filters=4",
        *tiny,
        f"paths.log_dir={log_dir}",
        *overrides,
        timeout=300,
    )


@pytest.mark.slow
def test_a_second_search_on_the_first_ones_storage_goes_on_with_its_study(prepared_file, tmp_path):
    import optuna

    first = _search(tmp_path / "first", f"data.path={prepared_file}")
    assert first.returncode == 0, first.stderr[-3000:]
    (first_sweep,) = (tmp_path / "first" / "train" / "multiruns").iterdir()
    database = first_sweep / "optuna.db"
    assert database.is_file()
    storage = f"sqlite:///{database}"
    # Another sampler seed: the same one would draw the first search's settings again.
    second = _search(
        tmp_path / "second",
        f"data.path={prepared_file}",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.sampler.seed=99",
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Using an existing study with name 'tempcnn'" in second.stdout + second.stderr
    (second_sweep,) = (tmp_path / "second" / "train" / "multiruns").iterdir()
    assert not (second_sweep / "optuna.db").exists()

    study = optuna.load_study(study_name="tempcnn", storage=storage)
    trials = study.trials
    assert [t.number for t in trials] == [0, 1]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert trials[0].params != trials[1].params
    # The second search reports the best trial of the whole study, the first one's included.
    best = OmegaConf.load(second_sweep / "optimization_results.yaml")
    assert best.best_value == max(t.value for t in trials)
