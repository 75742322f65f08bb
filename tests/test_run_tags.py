"""The config's tags reach metrics.json (a list) and the TensorBoard HParams view (a string)."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from cropland.run_metrics import read_run_metrics
from cropland.training.hparams import compared_settings, run_tags
from tests.hydra_configs import compose_config


def test_a_training_run_writes_its_tags_into_metrics_json(trained_run):
    metrics_file = trained_run.folder / "metrics.json"
    assert json.loads(metrics_file.read_text())["tags"] == ["dev"]
    # The tables that gather runs read past it.
    metrics, problem = read_run_metrics(metrics_file)
    assert problem is None and "tags" not in metrics and "test/acc" in metrics


@pytest.mark.parametrize(
    ("tags", "expected"),
    [("[convlstm,ca19]", ["convlstm", "ca19"]), ("ca19", ["ca19"]), ("[]", []), ("null", [])],
)
def test_tags_from_the_command_line(tags, expected):
    cfg = compose_config("train", f"tags={tags}")
    assert run_tags(cfg) == expected
    settings = compared_settings(cfg)
    if expected:
        assert settings["tags"] == ", ".join(expected)
    else:
        assert "tags" not in settings


def test_an_experiments_tags_are_compared():
    cfg = compose_config("train", "experiment=convlstm_ca19")
    assert compared_settings(cfg)["tags"] == "convlstm, ca19"
    assert OmegaConf.to_container(cfg.tags) == ["convlstm", "ca19"]
