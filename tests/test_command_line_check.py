"""Mistyped settings are refused before any work with the nearest valid one, and --help says
what each script does, its groups, the other scripts and where the docs are."""

import pytest

from cropland.command_line_check import refuse_unknown_settings
from tests.script_runs import call_script


@pytest.mark.parametrize(
    ("script", "settings", "meant"),
    [
        ("train.py", ["trainer.max_epoch=2"], "did you mean trainer.max_epochs?"),
        ("train.py", ["data.chanels=rgb"], "did you mean data.channels?"),
        ("train.py", ["model=convlstmm"], "did you mean model=convlstm?"),
        ("train.py", ["modle=tae"], "did you mean model?"),
        ("train.py", ["-m", "optimizer.lr=1e-3,3e-3", "optimizer.lrr=1e-3"], "optimizer.lr?"),
        ("eval.py", ["ckpt_path=x", "bootstrap.resample=10"], "bootstrap.resamples?"),
        ("predict.py", ["ckpt_path=x", "inptu=tree"], "did you mean input?"),
        ("map.py", ["ckpt_path=x", "input=x", "strid=16"], "did you mean stride?"),
    ],
)
def test_a_mistyped_setting_is_refused_with_the_nearest_one(script, settings, meant, tmp_path):
    result = call_script(script, *settings, f"paths.log_dir={tmp_path}")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert meant in lines[0]
    assert list(tmp_path.iterdir()) == []  # refused before Hydra made a run folder


def test_hydras_own_advice_is_kept_in_one_line(tmp_path):
    result = call_script("train.py", "+trainer.max_epochs=3", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: Could not append to config. An item is already at 'trainer.max_epochs'. "
        "Either remove + prefix: 'trainer.max_epochs=3'"
    ]


@pytest.mark.parametrize(
    "settings",
    [
        ["model=convlstm", "data.channels=rgb_ndvi", "trainer.max_epochs=3"],
        ["-m", "optimizer.lr=1e-3,3e-3", "model=tae,tempcnn", "seed=range(1,3)"],
        ["-m", "optimizer.lr=interval(1e-4,1e-2)", "model=glob(t*)"],
        ["-m", "hparams_search=tae_optuna", "hydra/launcher=joblib"],
        ["+extra_tag=1", "~tags", "--cfg", "job"],
    ],
)
def test_valid_settings_and_sweeps_pass_the_check(settings):
    refuse_unknown_settings("train", settings)  # raises SystemExit when it refuses


def test_help_names_the_script_its_settings_groups_scripts_and_docs():
    result = call_script("train.py", "--help")
    assert result.returncode == 0
    text = result.stdout
    assert text.startswith("train.py: train a crop classifier")
    for expected in ("model=convlstm", "optimizer.lr", "data.channels", "== Config groups"):
        assert expected in text
    assert "model: conv3d, conv3d_full, convlstm" in text
    assert "scripts/map.py" in text and "docs/" in text
    assert "powered by Hydra" not in text
    assert call_script("eval.py", "--help").stdout.startswith("eval.py: score a checkpoint")
