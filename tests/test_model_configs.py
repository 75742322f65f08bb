"""Every model config builds the LightningModule from conf/model/shared/classifier.yaml, with the
optimizer and scheduler groups given by training (not copied into the model's config), and
scheduler=none trains at a constant learning rate."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf, open_dict

from cropland.training.train import build_classifier
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT
from tests.tiny_classifier import CHANNELS, CLASSES

MODELS = sorted(p.stem for p in (PROJECT_ROOT / "conf" / "model").glob("*.yaml"))
MODEL_INPUTS = {
    "classes": CLASSES,
    "channels": CHANNELS,
    "channel_mean": [0.2, 0.3, 0.25, 0.4],
    "channel_std": [0.05, 0.1, 0.07, 0.2],
}


def _resolved(*overrides: str):
    cfg = compose_config("train", *overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = "out"  # set by Hydra at run time
    return cfg


@pytest.mark.parametrize("model", MODELS)
def test_every_model_builds_the_classifier_with_the_optimizer_and_scheduler_groups(model):
    cfg = _resolved(f"model={model}", "optimizer=sgd", "scheduler=step")
    assert set(cfg.model) == {"_target_", "net", "channels_last", "compile"}
    classifier = build_classifier(cfg, MODEL_INPUTS)
    assert classifier.hparams.optimizer == OmegaConf.to_container(cfg.optimizer)
    assert classifier.hparams.scheduler["_target_"] == "torch.optim.lr_scheduler.StepLR"
    assert classifier.hparams.scheduler["step_size"] == 20
    # Only single_date turns channels_last on; the rest keep the shared defaults.
    assert cfg.model.channels_last is model.startswith("single_date")
    assert cfg.model.compile is False


@pytest.mark.parametrize("override", ["scheduler=none", "~scheduler"])
def test_no_scheduler_gives_a_constant_learning_rate(override):
    cfg = _resolved("model=tempcnn", "model.net.filters=[4,4,4]", override)
    assert cfg.get("scheduler") is None
    classifier = build_classifier(cfg, MODEL_INPUTS)
    assert classifier.hparams.scheduler is None
    optimizer = classifier.configure_optimizers()
    assert isinstance(optimizer, torch.optim.Adam)


def test_the_cosine_schedule_follows_the_run_length():
    cfg = _resolved("model=tempcnn", "trainer.max_epochs=7")
    configured = build_classifier(cfg, MODEL_INPUTS).configure_optimizers()
    assert configured["lr_scheduler"]["scheduler"].T_max == 7
