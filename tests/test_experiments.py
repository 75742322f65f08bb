"""The two real-data experiments start from the README's command and train what they say."""

import json

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import run_script

TINY_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.accelerator=cpu",
    "data.batch_size=2",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]


@pytest.mark.parametrize(
    ("experiment", "recipe"),
    [
        (
            "published_convlstm",
            {
                "data.statistics": "all",
                "data.augmentation.per_step": True,
                "model.net.readout": "last_step",
                "model.net.month_encoding": False,
                "callbacks.early_stopping.monitor": "val/loss",
                "callbacks.early_stopping.patience": 5,
                "model.scheduler._target_": "torch.optim.lr_scheduler.StepLR",
            },
        ),
        (
            "convlstm_ca19",
            {
                "data.statistics": "train",
                "data.augmentation.per_step": False,
                "model.net.readout": "last_valid",
                "model.net.month_encoding": True,
                "callbacks.early_stopping.monitor": "val/f1_macro",
            },
        ),
    ],
)
def test_experiment_trains_on_a_prepared_file(prepared_file, tmp_path, experiment, recipe):
    run_dir = tmp_path / "run"
    result = run_script(
        "train.py",
        f"experiment={experiment}",
        f"data.path={prepared_file}",
        f"hydra.run.dir={run_dir}",
        *TINY_RUN,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    config = OmegaConf.load(run_dir / "config.yaml")
    for key, value in recipe.items():
        assert OmegaConf.select(config, key) == value, key
    # Both keep the published network size and inputs, so they compare protocols.
    assert list(config.model.net.hidden_channels) == [64, 128]
    assert config.model.net.downsample == 1
    assert config.data.channels == "rgb_ndvi45_gndvi"
    assert "test/f1_macro" in json.loads((run_dir / "metrics.json").read_text())
    checkpoint = torch.load(
        run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu"
    )
    assert checkpoint["hyper_parameters"]["net"]["readout"] == recipe["model.net.readout"]
