"""Training through the real Hydra configs, in-process and as users run it."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from cropland.data.datamodule import CropSequenceDataModule
from cropland.training.module import CropSequenceClassifier
from cropland.training.scores import accuracy_and_macro_f1, is_stage_score
from cropland.training.train import train
from tests.hydra_configs import run_config
from tests.script_runs import TINY_TRAINING, call_script, run_script

QUICK = [
    "model=convlstm",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "data.batch_size=4",
    "callbacks.rich_progress_bar=null",
]


def _tags(run_dir: Path) -> tuple[set[str], set[str]]:
    scalars, images = set(), set()
    for events in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        scalars |= set(accumulator.Tags()["scalars"])
        images |= set(accumulator.Tags()["images"])
    return scalars, images


def _hparams_content(run_dir: Path) -> dict[str, bytes]:
    """The HParams view's records of a run, by tag."""
    accumulator = EventAccumulator(str(run_dir / "tensorboard"))
    accumulator.Reload()
    return accumulator.PluginTagToContent("hparams")


@pytest.fixture(scope="module")
def fitted_run(prepared_file, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("run")
    cfg = run_config("train", out, "data=prepared", f"data.path={prepared_file}", *QUICK)
    return out, train(cfg)


def test_train_writes_metrics_report_and_figures(fitted_run):
    out, metrics = fitted_run
    saved = json.loads((out / "metrics.json").read_text())
    assert saved.pop("tags") == ["dev"]  # the run's tags, beside the scores
    assert saved == pytest.approx(metrics)
    for key in ("test/acc", "test/f1_macro", "val/acc", "val/f1_macro", "best/val/f1_macro"):
        assert 0.0 <= saved[key] <= 1.0, key
    report = (out / "report.txt").read_text()
    for word in (
        "precision",
        "recall",
        "f1-score",
        "support",
        "accuracy",
        "macro avg",
        "weighted avg",
        "SPRING_WHEAT",
    ):
        assert word in report
    assert (out / "confusion_matrix.png").stat().st_size > 0
    assert (out / "config.yaml").exists()


def test_test_predictions_are_the_best_checkpoints_on_the_tested_sequences(
    fitted_run, prepared_file
):
    out, metrics = fitted_run
    path = out / "test_predictions.csv"
    assert path.read_text().splitlines()[0] == "sequence,point,label,predicted"
    sequences, points, labels, predicted = np.loadtxt(
        path, delimiter=",", skiprows=1, dtype=np.int64, ndmin=2
    ).T
    dm = CropSequenceDataModule(str(prepared_file), channels="rgb_ndvi45_gndvi", batch_size=4)
    dm.setup()
    # trainer.limit_test_batches=2: the first two batches of the (unshuffled) test loader.
    loader = iter(dm.test_dataloader())
    batches = [dm.on_after_batch_transfer(next(loader), 0) for _ in range(2)]
    tested = torch.cat([batch["index"] for batch in batches]).numpy()
    assert len(sequences) == metrics["test/sequences"] == len(tested)
    np.testing.assert_array_equal(sequences, np.sort(tested))
    table = dm.prepared_file.sequences
    np.testing.assert_array_equal(points, table.point[sequences])
    np.testing.assert_array_equal(labels, table.label[sequences])
    # The predictions of the checkpoint that was tested, which give its logged scores.
    (best,) = [p for p in (out / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    model = CropSequenceClassifier.load_from_checkpoint(best, map_location="cpu").eval()
    with torch.no_grad():
        expected = {
            int(index): int(logit.argmax())
            for batch in batches
            for index, logit in zip(
                batch["index"],
                model(batch["image"], batch["lengths"], batch["months"]),
                strict=True,
            )
        }
    assert predicted.tolist() == [expected[int(s)] for s in sequences]
    confusion = np.zeros((len(dm.classes),) * 2, dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    acc, f1 = accuracy_and_macro_f1(confusion)
    assert acc == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert f1 == pytest.approx(metrics["test/f1_macro"], abs=1e-6)


def test_checkpoints_load_with_weights_only(fitted_run):
    out, _ = fitted_run
    checkpoints = sorted((out / "checkpoints").glob("*.ckpt"))
    assert checkpoints
    for path in checkpoints:
        checkpoint = torch.load(path, weights_only=True, map_location="cpu")
        hparams = checkpoint["hyper_parameters"]
        assert hparams["channels"] == ["red", "green", "blue", "ndvi45", "gndvi"]
        assert len(hparams["channel_mean"]) == 5
        assert "channel_mean" in checkpoint["state_dict"]


def test_checkpoint_rebuilds_the_model_without_the_training_config(fitted_run, prepared_file):
    out, _ = fitted_run
    model = CropSequenceClassifier.load_from_checkpoint(
        out / "checkpoints" / "last.ckpt", map_location="cpu"
    )
    dm = CropSequenceDataModule(str(prepared_file), channels="rgb_ndvi45_gndvi")
    dm.setup()
    batch = dm.on_after_batch_transfer(next(iter(dm.test_dataloader())), 0)
    logits = model.eval()(batch["image"], batch["lengths"], batch["months"])
    assert logits.shape == (len(batch["label"]), len(model.classes))
    assert torch.isfinite(logits).all()


def test_tensorboard_has_train_val_test_scalars_lr_and_confusion_figure(fitted_run):
    out, _ = fitted_run
    scalars, images = _tags(out)
    expected = {
        "train/loss",
        "train/acc",
        "val/loss",
        "val/acc",
        "val/f1_macro",
        "test/acc",
        "test/f1_macro",
        "val_per_class/f1_BARLEY",
        "train/lr-Adam",
    }
    assert expected <= scalars, expected - scalars
    assert {"val/confusion_matrix", "val/sequences"} <= images


def test_hparams_view_holds_settings_and_final_scores(fitted_run):
    out, metrics = fitted_run
    content = _hparams_content(out)
    session = HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    settings = session.session_start_info.hparams
    assert settings["optimizer.lr"].number_value == pytest.approx(1e-3)
    assert settings["model.net.hidden_channels"].string_value == "[24, 32]"
    assert settings["model"].string_value == "ConvLSTMClassifier"  # which network, by name
    assert settings["model.parameters"].number_value == metrics["model/parameters"]
    assert "hp_metric" not in content
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    shown = {info.name.tag for info in experiment.metric_infos}
    assert {"test/acc", "test/f1_macro", "val/f1_macro", "val/f1_macro_best"} <= shown
    assert metrics["model/parameters"] == 91850 and metrics["time/seconds_per_epoch"] > 0
    # The view reads the last point of scalars the run logs anyway.
    scalars, _ = _tags(out)
    assert shown <= scalars


def test_multirun_gives_each_job_its_folder_and_metric_and_a_summary(prepared_file, tmp_path):
    result = run_script(
        "train.py",
        "-m",
        "optimizer.lr=1e-3,-0.1,3e-4",
        "data=prepared",
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        *QUICK,
    )
    # The failed job fails the multirun, after the others ran.
    assert result.returncode == 1, result.stderr[-3000:]
    (sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    jobs = sorted(sweep.glob("[0-9]*"))
    assert [j.name for j in jobs] == ["0", "1", "2"]
    learning_rates = set()
    for job in (jobs[0], jobs[2]):
        assert "test/acc" in json.loads((job / "metrics.json").read_text())
        learning_rates.add(OmegaConf.load(job / "config.yaml").optimizer.lr)
    assert learning_rates == {1e-3, 3e-4}

    with open(sweep / "summary.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["job"], r["status"]) for r in rows] == [
        ("0", "completed"),
        ("1", "failed"),
        ("2", "completed"),
    ]
    assert rows[1]["error"].startswith("CroplandError: optimizer.lr=-0.1")
    assert rows[1]["overrides"].startswith("optimizer.lr=-0.1")
    for row in (rows[0], rows[2]):
        metrics = json.loads((sweep / row["job"] / "metrics.json").read_text())
        assert float(row["test/acc"]) == metrics["test/acc"]
    assert "Multirun summary: 3 jobs, 1 failed" in result.stderr
    # The HParams view shows the swept setting first, and compares the shared overrides too.
    content = _hparams_content(jobs[0])
    experiment = HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
    first = {info.name for info in experiment.hparam_infos if info.differs}
    assert first == {"optimizer.lr", "model", "data.channels", "seed"}
    assert "data.batch_size" in {info.name for info in experiment.hparam_infos}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.channels=rgb_evi"], ["data.channels='rgb_evi'", "ndvi45"]),
        (["data.split=random"], ["data.split='random'", "predefined"]),
        (["data.batch_size=0"], ["data.batch_size=0", "at least 1"]),
        (["data.num_workers=-1"], ["data.num_workers=-1"]),
        (["data.val_fraction=0"], ["data.val_fraction=0", "validation split"]),
        (["data.augmentation.month_dropout=1.5"], ["data.augmentation.month_dropout=1.5"]),
        (["optimizer.lr=-0.1"], ["optimizer.lr=-0.1", "positive"]),
        (["optimizer._target_=os.system"], ["optimizer._target_='os.system'"]),
        (["data.path={folder}"], ["is a folder", "scripts/prepare.py src="]),
    ],
)
def test_bad_setting_is_one_clear_line(prepared_file, tmp_path, overrides, expected):
    logs = tmp_path / "outputs"
    overrides = [o.format(folder=tmp_path) for o in overrides]
    result = call_script(
        "train.py",
        "data=prepared",
        f"data.path={prepared_file}",
        f"paths.log_dir={logs}",
        *overrides,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert all(text in line for text in expected), line
    assert not list(logs.glob("train/runs/*/config.yaml"))


def test_missing_data_path_says_what_to_set(tmp_path):
    result = call_script("train.py", "data=prepared", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == "error: missing data.path; give a value on the command line: data.path=..."
    )


@pytest.mark.slow
def test_default_data_is_generated_once_then_reused(tmp_path):
    overrides = [
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'out'}",
        "data.synthetic.num_points=60",
        "trainer.max_epochs=1",
        "callbacks.rich_progress_bar=null",
    ]
    first = run_script("train.py", *overrides)
    assert first.returncode == 0, first.stderr[-3000:]
    prepared = tmp_path / "data" / "synthetic_ca19_n60_seed0.h5"
    stamp = prepared.stat().st_mtime_ns
    second = run_script("train.py", *overrides)
    assert second.returncode == 0, second.stderr[-3000:]
    assert prepared.stat().st_mtime_ns == stamp
    assert "accuracy" in second.stdout and "macro avg" in second.stdout
    assert len(list((tmp_path / "out" / "train" / "runs").iterdir())) == 2


def test_a_run_without_a_test_split_trains_and_says_so(prepared_file, tmp_path):
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "data.test_fraction=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "The test split is empty" in result.stdout + result.stderr
    (run,) = (tmp_path / "train" / "runs").iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert "val/f1_macro" in metrics and not any(is_stage_score(k, "test") for k in metrics)
