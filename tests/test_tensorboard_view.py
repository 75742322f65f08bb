"""What TensorBoard shows of a training run: the Custom Scalars layout of the headline curves,
per-class scores in groups of their own, no ``epoch`` and no single-point ``final/`` cards, and
an HParams session whose settings and metrics are there to show."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import metadata as layout_metadata
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.util import tensor_util

from cropland.training.train import train
from tests.hydra_configs import run_config
from tests.script_runs import TINY_TRAINING, run_script

TRAINING = [o for o in TINY_TRAINING if not o.startswith(("logger=", "trainer.max_epochs="))]


@pytest.fixture(scope="module")
def run_folder(prepared_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    cfg = run_config(
        "train",
        out,
        *TRAINING,
        f"data.path={prepared_file}",
        "trainer.max_epochs=2",
        "logger=tensorboard",
        "optimizer.lr=0.002",
    )
    train(cfg)
    return out


@pytest.fixture(scope="module")
def metrics(run_folder) -> dict:
    return json.loads((run_folder / "metrics.json").read_text())


@pytest.fixture(scope="module")
def events(run_folder) -> EventAccumulator:
    # The run folder is one TensorBoard run, whatever number of event files it holds.
    accumulator = EventAccumulator(str(run_folder / "tensorboard"), size_guidance={"tensors": 0})
    accumulator.Reload()
    return accumulator


def test_scalars_hold_the_curves_and_per_class_groups_without_epoch_or_final(events, metrics):
    scalars = set(events.Tags()["scalars"])
    curves = {"train/loss", "val/loss", "val/f1_macro", "val/f1_macro_best", "train/lr-Adam"}
    assert curves <= scalars
    assert {"val_per_class/f1_BARLEY", "train_per_class/recall_CORN"} <= scalars
    assert "epoch" not in scalars
    # The test split's per-class scores are single points: metrics.json keeps them.
    assert not [tag for tag in scalars if tag.startswith("test_per_class/")]
    assert not [tag for tag in scalars if tag.startswith("final/")]
    # The headline groups hold the headline scores only (and train the learning rate).
    headline = {tag.split("/", 1)[1] for tag in scalars if re.match(r"(train|val|test)/", tag)}
    assert headline <= {"loss", "acc", "f1_macro", "f1_macro_best", "lr-Adam"}, headline
    assert "test_per_class/precision_SPRING_WHEAT" in metrics
    assert not [key for key in metrics if key.startswith(("final/", "val/f1/", "test/f1/"))]


def test_the_custom_scalar_layout_charts_train_and_val_together(events):
    (event,) = events.Tensors(layout_metadata.CONFIG_SUMMARY_TAG)
    layout = layout_pb2.Layout.FromString(tensor_util.make_ndarray(event.tensor_proto).item())
    first = layout.category[0]
    charts = {chart.title: list(chart.multiline.tag) for chart in first.chart}
    assert list(charts) == ["loss", "accuracy", "macro F1", "learning rate"]
    scalars = events.Tags()["scalars"]

    def drawn(title: str) -> set[str]:
        return {tag for tag in scalars if any(re.search(p, tag) for p in charts[title])}

    assert drawn("loss") == {"train/loss", "val/loss"}
    assert drawn("accuracy") == {"train/acc", "val/acc"}
    assert drawn("macro F1") == {"train/f1_macro", "val/f1_macro", "val/f1_macro_best"}
    assert drawn("learning rate") == {"train/lr-Adam"}


def test_the_hparams_session_compares_settings_on_scalars_the_run_has(events):
    content = events.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
    experiment = hparams_metadata.parse_experiment_plugin_data(
        content[hparams_metadata.EXPERIMENT_TAG]
    )
    session = hparams_metadata.parse_session_start_info_plugin_data(
        content[hparams_metadata.SESSION_START_INFO_TAG]
    )
    assert session.hparams["optimizer.lr"].number_value == pytest.approx(0.002)
    assert session.hparams["data.channels"].string_value == "rgb_ndvi45_gndvi"
    assert session.hparams["model"].string_value == "ConvLSTMClassifier"
    assert session.hparams["seed"].number_value == 42
    assert session.hparams["model.parameters"].number_value > 0
    # What this run overrides is compared too, though not a setting compared by default.
    assert session.hparams["trainer.limit_train_batches"].number_value == 2
    infos = {info.name: info for info in experiment.hparam_infos}
    assert set(infos) == set(session.hparams)
    # TensorBoard shows those flagged first; a single run sweeps nothing.
    first = {name for name, info in infos.items() if info.differs}
    assert first == {"model", "optimizer.lr", "data.channels", "seed"}
    metrics = [info.name.tag for info in experiment.metric_infos]
    assert metrics[0] == "val/f1_macro_best"
    assert {"val/f1_macro", "test/f1_macro", "test/acc"} <= set(metrics)
    # Their values come from these scalars' last points; none was written for the view alone.
    assert set(metrics) <= set(events.Tags()["scalars"])


@pytest.mark.slow
def test_a_sweep_shows_its_swept_settings_first(prepared_file, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "model.net.dropout=0.1,0.3",
        *TRAINING,
        "trainer.max_epochs=1",
        "logger=tensorboard",
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for job in sorted((tmp_path / "train" / "multiruns").glob("*/[0-9]")):
        accumulator = EventAccumulator(str(job / "tensorboard"))
        accumulator.Reload()
        content = accumulator.PluginTagToContent(hparams_metadata.PLUGIN_NAME)
        experiment = hparams_metadata.parse_experiment_plugin_data(
            content[hparams_metadata.EXPERIMENT_TAG]
        )
        first = {info.name for info in experiment.hparam_infos if info.differs}
        # The overrides every job shares (data.batch_size=4, ...) are compared, not first.
        assert first == {"model.net.dropout", "model", "optimizer.lr", "data.channels", "seed"}
        assert "data.batch_size" in {info.name for info in experiment.hparam_infos}
