"""The two real-data experiments start from the documented command, train what they say, and
compose to what the recipe table in docs/data.md says."""

import json
import re

import pytest
import torch
import yaml
from omegaconf import OmegaConf

from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, run_script

TINY_RUN = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
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
                "scheduler._target_": "torch.optim.lr_scheduler.StepLR",
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


# What the recipe table in docs/data.md (under "Real data") says, cell by cell, in config keys:
# (row, column) -> {words the cell holds: the composed values they stand for}. The "both"
# row's one cell holds for both experiments. A `key=value` quoted in a cell is checked as well.
RECIPE_TABLE = {
    ("normalization statistics", "published_convlstm"): {
        "every sequence, test included": {"data.statistics": "all"},
    },
    ("normalization statistics", "convlstm_ca19"): {
        "training split only": {"data.statistics": "train"},
    },
    ("split", "published_convlstm"): {
        "80/10/10 stratified, seed 42": {
            "data.split": "stratified",
            "data.val_fraction": 0.1,
            "data.test_fraction": 0.1,
            "data.seed": 42,
        },
    },
    ("split", "convlstm_ca19"): {
        "the same": {
            "data.split": "stratified",
            "data.val_fraction": 0.1,
            "data.test_fraction": 0.1,
            "data.seed": 42,
        },
    },
    ("augmentation", "published_convlstm"): {
        # The moves it lists, and no 90-degree turns (ours adds them).
        "flip, rotation +-15 deg, shift 10%": {
            "data.augmentation.flip": True,
            "data.augmentation.rotate90": False,
            "data.augmentation.rotation_degrees": 15,
            "data.augmentation.translate_fraction": 0.1,
        },
        "zero fill": {"data.augmentation.fill": "zeros"},
        "a new draw per time step": {"data.augmentation.per_step": True},
    },
    ("augmentation", "convlstm_ca19"): {
        "the same moves": {
            "data.augmentation.flip": True,
            "data.augmentation.rotation_degrees": 15,
            "data.augmentation.translate_fraction": 0.1,
        },
        "plus 90-degree turns": {"data.augmentation.rotate90": True},
        "reflection fill": {"data.augmentation.fill": "reflection"},
        "one draw per sequence": {"data.augmentation.per_step": False},
    },
    ("final state", "published_convlstm"): {
        "after the batch's last padded step": {"model.net.readout": "last_step"},
    },
    ("final state", "convlstm_ca19"): {
        "at each sequence's own last step": {"model.net.readout": "last_valid"},
    },
    ("months", "published_convlstm"): {
        "unknown to the model": {"model.net.month_encoding": False},
    },
    ("months", "convlstm_ca19"): {
        "sin/cos of each step's month": {"model.net.month_encoding": True},
    },
    ("optimizer, schedule", "published_convlstm"): {
        "Adam 1e-3": {
            "optimizer._target_": "torch.optim.Adam",
            "optimizer.lr": 1e-3,
            "optimizer.weight_decay": 0.0,
        },
        "StepLR(20, 0.1)": {
            "scheduler._target_": "torch.optim.lr_scheduler.StepLR",
            "scheduler.step_size": 20,
            "scheduler.gamma": 0.1,
        },
    },
    ("optimizer, schedule", "convlstm_ca19"): {
        "AdamW 1e-3 (weight decay 0.01)": {
            "optimizer._target_": "torch.optim.AdamW",
            "optimizer.lr": 1e-3,
            "optimizer.weight_decay": 0.01,
        },
        "cosine": {"scheduler._target_": "torch.optim.lr_scheduler.CosineAnnealingLR"},
    },
    ("dropout before the head", "published_convlstm"): {"none": {"model.net.dropout": 0.0}},
    ("dropout before the head", "convlstm_ca19"): {"0.2": {"model.net.dropout": 0.2}},
    ("selection, early stopping", "published_convlstm"): {
        "validation loss": {
            "callbacks.model_checkpoint.monitor": "val/loss",
            "callbacks.model_checkpoint.mode": "min",
            "callbacks.early_stopping.monitor": "val/loss",
            "callbacks.early_stopping.mode": "min",
        },
        "patience 5": {"callbacks.early_stopping.patience": 5},
    },
    ("selection, early stopping", "convlstm_ca19"): {
        "validation macro F1": {
            "callbacks.model_checkpoint.monitor": "val/f1_macro",
            "callbacks.model_checkpoint.mode": "max",
            "callbacks.early_stopping.monitor": "val/f1_macro",
            "callbacks.early_stopping.mode": "max",
        },
        "patience 8": {"callbacks.early_stopping.patience": 8},
    },
    ("both", "published_convlstm"): {
        "gradient clipping at 1": {"trainer.gradient_clip_val": 1.0},
        "batch 16": {"data.batch_size": 16},
        "up to 50 epochs": {"trainer.max_epochs": 50},
    },
}
BOTH_ROW = "both"


def readme_recipe_table() -> dict[tuple[str, str], str]:
    """docs/data.md's table comparing the experiments: (row, experiment) -> the cell's text."""
    lines = (PROJECT_ROOT / "docs" / "data.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| | `experiment="))

    def cells(line: str) -> list[str]:
        return [cell.strip() for cell in line.strip().strip("|").split("|")]

    columns = [re.search(r"experiment=(\w+)", cell) for cell in cells(lines[start])]
    table = {}
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        row, *rest = cells(line)
        for column, text in zip(columns[1:], rest, strict=True):
            if column:
                table[(row, column.group(1))] = text
    return table


@pytest.mark.parametrize("experiment", ["published_convlstm", "convlstm_ca19"])
def test_experiment_composes_to_the_readme_recipe(experiment):
    table = readme_recipe_table()
    assert {row for row, _ in table} == {row for row, _ in RECIPE_TABLE}, "a row changed"
    config = compose_config("train", f"experiment={experiment}")
    cells = {row: column for row, column in RECIPE_TABLE if column == experiment}
    cells[BOTH_ROW] = "published_convlstm"
    for row, column in cells.items():
        text = table[(row, column)]
        said = [
            (key, yaml.safe_load(value)) for key, value in re.findall(r"`([\w.]+)=([^`]+)`", text)
        ]
        for words, values in RECIPE_TABLE[(row, column)].items():
            assert words in text, f"docs/data.md, {row!r}: {text!r} no longer says {words!r}"
            said += values.items()
        for key, value in said:
            composed = OmegaConf.select(config, key)
            assert composed == value, f"docs/data.md, {row!r}: {key}={value}, config {composed}"
