"""Every option of every config group composes and resolves, so no typo waits for a user."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf, open_dict

from cropland.data.synthetic import synthetic_file_name
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT

GROUPS = [
    "data",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "callbacks",
    "logger",
    "experiment",
    "debug",
    "hparams_search",
]
OPTIONS = [
    (group, path.stem)
    for group in GROUPS
    for path in sorted((PROJECT_ROOT / "conf" / group).glob("*.yaml"))
]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_resolves(group, option):
    extra = ["data.path=x.h5"] if group == "data" else []
    cfg = compose_config("train", f"{group}={option}", *extra)
    with open_dict(cfg):
        cfg.paths.output_dir = "out"  # set by Hydra at run time
    OmegaConf.resolve(cfg)
    assert cfg.optimizer._target_.startswith("torch.optim.")
    assert cfg.model._target_.endswith("CropSequenceClassifier")


def test_synthetic_default_path_is_the_name_the_datamodule_generates():
    cfg = compose_config("train", "data.synthetic.num_points=77", "data.synthetic.seed=5")
    assert Path(cfg.data.path).name == synthetic_file_name(num_points=77, seed=5)
