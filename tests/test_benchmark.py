"""The benchmark: experiment=benchmark and experiment=benchmark_baseline as multiruns, and the
table that scripts/benchmark_table.py joins from them."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from cropland.evaluation import benchmark_table
from cropland.evaluation.benchmark_table import MAX_CLASSES, MAX_PREDICTION_BYTES
from cropland.models.networks import build_network
from cropland.training.scores import accuracy_and_macro_f1
from tests.extras import needs_extra
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, call_script, run_script

QUICK = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "data.batch_size=4",
    "callbacks.rich_progress_bar=null",
]


def _sweep(config_name: str, overrides: list[str]) -> dict[str, list[str]]:
    cfg = compose_config(config_name, *overrides, return_hydra_config=True)
    return {key: value.split(",") for key, value in cfg.hydra.sweeper.params.items()}


def test_the_benchmark_sweeps_every_model_seeds_channel_sets_data_sets_and_splits():
    sweep = _sweep("train", ["experiment=benchmark"])
    models = {p.stem for p in (PROJECT_ROOT / "conf" / "model").glob("*.yaml")}
    assert set(sweep["model"]) == {m for m in models if not m.endswith("_full")}
    assert sweep["seed"] == ["1", "2", "3"]
    assert sweep["data.channels"] == ["rgb", "rgb_ndvi", "rgb_ndvi45_gndvi", "all"]
    assert sweep["data"] == ["synthetic", "synthetic_hard"]
    assert sweep["data.split"] == ["stratified", "province"]
    # The province split needs its test province, in every data set swept.
    for data in sweep["data"]:
        for config, experiment in (
            ("train", "benchmark"),
            ("train_baseline", "benchmark_baseline"),
        ):
            cfg = compose_config(
                config, f"experiment={experiment}", f"data={data}", return_hydra_config=True
            )
            assert cfg.data.test_province == "SK"
    baselines = _sweep("train_baseline", ["experiment=benchmark_baseline"])
    assert {k: v for k, v in baselines.items() if k != "baseline"} == {
        k: v for k, v in sweep.items() if k != "model"
    }
    assert set(baselines["baseline"]) == {
        p.stem for p in (PROJECT_ROOT / "conf" / "baseline").glob("*.yaml")
    }
    # The swept seed is the estimators' random_state.
    cfg = compose_config("train_baseline", "experiment=benchmark_baseline", "seed=7")
    assert cfg.baseline.estimator.random_state == 7


def _metrics(job: Path) -> dict[str, float]:
    return json.loads((job / "metrics.json").read_text())


def _jobs(sweep: Path, override: str = "") -> list[Path]:
    """The job folders of ``sweep`` whose overrides contain ``override``."""
    return [
        j for j in sweep.glob("[0-9]*") if override in (j / ".hydra/overrides.yaml").read_text()
    ]


# Small enough to take a second on the tiny set; hgb's hold-out is large enough to have a
# sequence of each of its ten classes.
QUICK_BASELINES = {
    "rf": ["baseline.estimator.n_estimators=20", "baseline.estimator.n_jobs=1"],
    "hgb": ["baseline.estimator.max_iter=20", "baseline.estimator.validation_fraction=0.25"],
}


@needs_extra("baseline")
def test_benchmark_multiruns_give_mean_and_std_over_seeds_and_the_margin_over_the_best_baseline(
    prepared_file, tmp_path
):
    data = ["data=prepared", f"data.path={prepared_file}", "data.channels=rgb"]
    networks = run_script(
        "train.py",
        "experiment=benchmark",
        *data,
        "data.split=stratified",
        "model=tempcnn,single_date",
        "seed=1,2",
        f"paths.log_dir={tmp_path}",
        *QUICK,
    )
    assert networks.returncode == 0, networks.stderr[-3000:]
    baseline_sweeps = {}
    for baseline, quick in QUICK_BASELINES.items():
        log_dir = tmp_path / baseline
        result = run_script(
            "train_baseline.py",
            "experiment=benchmark_baseline",
            f"baseline={baseline}",
            *data,
            "data.split=stratified",
            "seed=1,2",
            *quick,
            f"paths.log_dir={log_dir}",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        (baseline_sweeps[baseline],) = (log_dir / "train_baseline" / "multiruns").iterdir()
    (network_sweep,) = (tmp_path / "train" / "multiruns").iterdir()
    # Each multirun writes its own table at the end.
    assert (network_sweep / "benchmark.md").is_file()
    assert "| prepared" not in (network_sweep / "benchmark.md").read_text()  # named by file

    joined = call_script(
        "benchmark_table.py",
        f"multiruns=[{network_sweep},{baseline_sweeps['rf']},{baseline_sweeps['hgb']}]",
        f"paths.log_dir={tmp_path}",
    )
    assert joined.returncode == 0, joined.stderr[-3000:]
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    with open(folder / "benchmark.csv") as handle:
        rows = {row["model"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"tempcnn", "single_date", "random_forest", "gradient_boosting"}
    for model, jobs in (
        ("tempcnn", _jobs(network_sweep, "model=tempcnn")),
        ("random_forest", _jobs(baseline_sweeps["rf"])),
        ("gradient_boosting", _jobs(baseline_sweeps["hgb"])),
    ):
        accuracy = [_metrics(job)["test/acc"] for job in jobs]
        assert len(accuracy) == 2
        row = rows[model]
        assert (row["data"], row["split"], row["channels"], row["runs"], row["failed"]) == (
            prepared_file.stem,
            "stratified",
            "rgb",
            "2",
            "0",
        )
        assert float(row["test_acc_mean"]) == pytest.approx(statistics.fmean(accuracy))
        assert float(row["test_acc_std"]) == pytest.approx(statistics.stdev(accuracy))
    # The parameters are the trained network's: 3 channels (rgb), the tiny set's classes.
    config = OmegaConf.load(_jobs(network_sweep, "model=tempcnn")[0] / "config.yaml")
    net = build_network(
        OmegaConf.to_container(config.model.net), "model.net", in_channels=3, num_classes=10
    )
    assert int(rows["tempcnn"]["parameters"]) == sum(p.numel() for p in net.parameters())
    assert float(rows["tempcnn"]["seconds_per_epoch"]) > 0
    # The row to beat: the baseline with the higher mean test accuracy.
    best = max(
        ("random_forest", "gradient_boosting"), key=lambda m: float(rows[m]["test_acc_mean"])
    )
    assert {row["best_baseline"] for row in rows.values()} == {best}
    for metric in ("acc", "f1_macro"):
        assert float(rows["tempcnn"][f"{metric}_over_best_baseline"]) == pytest.approx(
            float(rows["tempcnn"][f"test_{metric}_mean"]) - float(rows[best][f"test_{metric}_mean"])
        )
    assert rows[best]["acc_over_best_baseline"] == rows[best]["f1_macro_over_best_baseline"] == ""
    # Every job's test predictions pair with the best baseline's: each other row's margins
    # have an interval, from the same test sequences.
    for sweep in (network_sweep, *baseline_sweeps.values()):
        for job in _jobs(sweep):
            assert (job / "test_predictions.csv").is_file(), job
    for model in set(rows) - {best}:
        low, high = (float(rows[model][f"acc_over_best_baseline_{end}"]) for end in ("low", "high"))
        assert -1 <= low <= high <= 1
        assert f"[{100 * low:+.1f}, {100 * high:+.1f}] pts" in (folder / "benchmark.md").read_text()
        assert rows[model]["f1_macro_over_best_baseline_low"] != ""
    assert all(rows[best][column] == "" for column in INTERVAL_COLUMNS)
    assert rows["random_forest"]["parameters"] == rows["gradient_boosting"]["parameters"] == ""
    markdown = (folder / "benchmark.md").read_text()
    assert f"| {prepared_file.stem} | stratified | rgb | tempcnn | 2 |" in markdown
    assert "benchmark.md" in joined.stderr


def _fake_job(
    sweep: Path, number: int, *, config: str, metrics: dict | None, ended: bool = True
) -> Path:
    job = sweep / str(number)
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "hydra.yaml").write_text(
        "hydra:\n  runtime:\n    choices:\n      data: synthetic\n      model: tae\n"
    )
    (job / "config.yaml").write_text(config)
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
    if ended:  # the multirun summary's record of a job that ended
        (job / "job.json").write_text(json.dumps({"status": "completed" if metrics else "failed"}))
    return job


def test_the_row_to_beat_is_the_best_baseline_and_old_forest_runs_count_as_one(tmp_path):
    sweep = tmp_path / "sweep"
    data = "data:\n  split: stratified\n  channels: rgb\n"
    scores = {  # model section of config.yaml -> (test/acc, test/f1_macro)
        "": (0.50, 0.45),  # a network (its name comes from the model group: tae)
        "forest:\n  trees: 500\n": (0.40, 0.30),  # scripts/train_forest.py's runs, retired
        "baseline:\n  name: gradient_boosting\n": (0.45, 0.50),
    }
    for number, (section, (acc, f1)) in enumerate(scores.items()):
        metrics = {"test/acc": acc, "test/f1_macro": f1}
        _fake_job(sweep, number, config=section + data, metrics=metrics)
    result = call_script("benchmark_table.py", f"multiruns=[{sweep}]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    rows = {row["model"]: row for row in csv.DictReader((folder / "benchmark.csv").open())}
    assert set(rows) == {"tae", "random_forest", "gradient_boosting"}
    assert {row["best_baseline"] for row in rows.values()} == {"gradient_boosting"}
    # Margins against the best by accuracy, in both scores, also where its F1 is not the best.
    for model, acc, f1 in (("tae", 0.05, -0.05), ("random_forest", -0.05, -0.20)):
        assert float(rows[model]["acc_over_best_baseline"]) == pytest.approx(acc)
        assert float(rows[model]["f1_macro_over_best_baseline"]) == pytest.approx(f1)
    markdown = (folder / "benchmark.md").read_text()
    assert "| acc - best baseline | F1 - best baseline |" in markdown
    assert "| gradient_boosting | 1 | 0.450 | 0.500 | row to beat |  |" in markdown
    assert "| tae | 1 | 0.500 | 0.450 | +5.0 pts | -5.0 pts |" in markdown


def test_a_failed_job_is_counted_and_a_crafted_file_is_refused_in_one_line(tmp_path):
    sweep = tmp_path / "sweep"
    config = "seed: {}\ndata:\n  split: stratified\n  channels: rgb\n"
    _fake_job(sweep, 0, config=config.format(1), metrics={"test/acc": 0.5, "test/f1_macro": 0.4})
    _fake_job(sweep, 1, config=config.format(2), metrics=None)  # failed before testing
    _fake_job(sweep, 2, config=config.format(3), metrics=None, ended=False)  # still running
    result = call_script("benchmark_table.py", f"multiruns=[{sweep}]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    (row,) = list(csv.DictReader((folder / "benchmark.csv").read_text().splitlines()))
    assert (row["model"], row["runs"], row["failed"], row["unfinished"]) == ("tae", "1", "1", "1")
    assert row["test_acc_std"] == ""  # one run: no spread
    assert "| 1 (1 failed) (1 unfinished) | 0.500 |" in (folder / "benchmark.md").read_text()

    victim = tmp_path / "victim"
    crafted = f"!!python/object/apply:os.system ['touch {victim}']\n"
    _fake_job(sweep, 3, config=crafted, metrics=None)
    result = call_script("benchmark_table.py", f"multiruns=[{sweep}]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    assert not victim.exists()
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: {sweep / '3' / 'config.yaml'}: not readable YAML")
    )


@pytest.mark.parametrize(
    ("multiruns", "expected"),
    [
        ("[{missing}]", "not a folder"),
        ("[{empty}]", "no training jobs in"),
        ("[]", "expected a list of multirun folders"),
    ],
)
def test_bad_multirun_folders_are_one_clear_line(tmp_path, multiruns, expected):
    (tmp_path / "empty").mkdir()
    value = multiruns.format(missing=tmp_path / "missing", empty=tmp_path / "empty")
    result = call_script("benchmark_table.py", f"multiruns={value}", f"paths.log_dir={tmp_path}")
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and expected in line


@pytest.mark.parametrize(
    ("hydra_record", "config", "metrics"),
    [
        ("hydra: [1, 2]\n", "data: {split: stratified, channels: rgb}\n", '{"test/acc": 0.5}'),
        ("hydra: {runtime: 3}\n", "data: {split: [a, b], channels: {x: 1}}\n", "[1, 2]"),
        ("", "data: {split: stratified, channels: rgb}\n", '{"test/acc": true, "x": "y"}'),
    ],
    ids=["hydra-not-a-mapping", "names-not-text", "metrics-not-numbers"],
)
def test_hand_edited_job_files_give_a_table_not_a_traceback(
    tmp_path, hydra_record, config, metrics
):
    job = _fake_job(tmp_path / "sweep", 0, config=config, metrics=None)
    (job / ".hydra" / "hydra.yaml").write_text(hydra_record)
    (job / "metrics.json").write_text(metrics)
    result = call_script(
        "benchmark_table.py", f"multiruns=[{tmp_path / 'sweep'}]", f"paths.log_dir={tmp_path}"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    (row,) = list(csv.DictReader((folder / "benchmark.csv").read_text().splitlines()))
    # Only a real number counts as a score; names that are not text show as "?".
    assert row["runs"] == ("1" if metrics.startswith('{"test/acc": 0.5') else "0")
    assert "?" in (row["model"], row["split"], row["data"])


def test_each_drawn_generator_is_a_data_set_of_its_own(tmp_path):
    sweep = tmp_path / "sweep"
    for number, draw in enumerate((3, 3, 7)):
        config = f"data:\n  split: stratified\n  channels: rgb\n  synthetic:\n    draw: {draw}\n"
        _fake_job(sweep, number, config=config, metrics={"test/acc": 0.5, "test/f1_macro": 0.4})
    result = call_script("benchmark_table.py", f"multiruns=[{sweep}]", f"paths.log_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    rows = list(csv.DictReader((folder / "benchmark.csv").open()))
    assert {(row["data"], row["runs"]) for row in rows} == {
        ("synthetic_3", "2"),
        ("synthetic_7", "1"),
    }


# A fake job's test sequences: ids and labels of five classes, the same in every job.
SEQUENCES = 200
LABELS = np.arange(SEQUENCES) % 5


def _job_with_predictions(
    sweep: Path, number: int, predicted: np.ndarray, *, baseline: bool, sequences=None
) -> Path:
    """A completed job whose metrics.json scores ``predicted`` and whose test_predictions.csv
    holds them (``sequences``: the file's sequence indices, 0 to 199 unless given)."""
    sequences = np.arange(SEQUENCES) if sequences is None else sequences
    section = "baseline:\n  name: random_forest\n" if baseline else ""
    confusion = np.zeros((5, 5), dtype=np.int64)
    np.add.at(confusion, (LABELS, predicted), 1)
    acc, f1 = accuracy_and_macro_f1(confusion)
    job = _fake_job(
        sweep,
        number,
        config=f"seed: {number}\n{section}data:\n  split: stratified\n  channels: rgb\n",
        metrics={"test/acc": acc, "test/f1_macro": f1, "test/sequences": SEQUENCES},
    )
    rows = np.stack([sequences, 1000 + sequences, LABELS, predicted], axis=1)
    lines = ["sequence,point,label,predicted", *(",".join(map(str, r)) for r in rows.tolist())]
    (job / "test_predictions.csv").write_text("\n".join(lines) + "\n")
    return job


def _right_on(right: np.ndarray) -> np.ndarray:
    """Predictions that are right exactly on the sequences where ``right`` is true."""
    return np.where(right, LABELS, (LABELS + 1) % 5)


def _table(tmp_path: Path, sweep: Path) -> tuple[dict[str, dict[str, str]], str, str]:
    result = call_script("benchmark_table.py", f"multiruns=[{sweep}]", f"paths.log_dir={tmp_path}")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output
    (folder,) = (tmp_path / "benchmark_table" / "runs").iterdir()
    rows = {row["model"]: row for row in csv.DictReader((folder / "benchmark.csv").open())}
    return rows, (folder / "benchmark.md").read_text(), output


INTERVAL_COLUMNS = [
    f"{metric}_over_best_baseline_{end}"
    for metric in ("acc", "f1_macro")
    for end in ("low", "high")
]


def test_a_model_right_on_k_more_sequences_has_a_paired_interval_above_zero(tmp_path):
    sweep = tmp_path / "sweep"
    baseline_right = np.arange(SEQUENCES) < 100
    k = 10
    for number in range(2):
        _job_with_predictions(sweep, number, _right_on(baseline_right), baseline=True)
    # Two seeds, each right where the baseline is plus k other sequences of their own.
    for number, extra in ((2, slice(100, 100 + k)), (3, slice(150, 150 + k))):
        right = baseline_right.copy()
        right[extra] = True
        _job_with_predictions(sweep, number, _right_on(right), baseline=False)
    rows, markdown, _ = _table(tmp_path, sweep)
    row = rows["tae"]
    assert float(row["acc_over_best_baseline"]) == pytest.approx(k / SEQUENCES)
    low, high = float(row["acc_over_best_baseline_low"]), float(row["acc_over_best_baseline_high"])
    assert 0 < low <= k / SEQUENCES <= high
    # Paired: only the k sequences the model alone gets right move the difference. Scored on
    # independent resamples, the two accuracies (about 0.5 on 200 sequences) would each vary
    # by several points, and the interval would reach below zero.
    assert high - low < 0.1
    f1_low = float(row["f1_macro_over_best_baseline_low"])
    f1_high = float(row["f1_macro_over_best_baseline_high"])
    assert f1_low <= float(row["f1_macro_over_best_baseline"]) <= f1_high
    assert f"+5.0 [{100 * low:+.1f}, {100 * high:+.1f}] pts" in markdown
    # The row to beat is not compared with itself.
    assert all(rows["random_forest"][column] == "" for column in INTERVAL_COLUMNS)


def test_identical_predictions_give_an_interval_of_zero(tmp_path):
    sweep = tmp_path / "sweep"
    predicted = _right_on(np.arange(SEQUENCES) % 3 == 0)
    for number, baseline in enumerate((True, True, False, False)):
        _job_with_predictions(sweep, number, predicted, baseline=baseline)
    rows, markdown, _ = _table(tmp_path, sweep)
    assert [float(rows["tae"][column]) for column in INTERVAL_COLUMNS] == [0, 0, 0, 0]
    assert "| +0.0 [+0.0, +0.0] pts | +0.0 [+0.0, +0.0] pts |" in markdown


@pytest.mark.parametrize("mismatch", ["other sequences", "other labels", "no file"])
def test_jobs_tested_on_different_sequences_give_no_interval(tmp_path, mismatch):
    sweep = tmp_path / "sweep"
    predicted = _right_on(np.arange(SEQUENCES) < 120)
    _job_with_predictions(sweep, 0, predicted, baseline=True)
    _job_with_predictions(sweep, 1, predicted, baseline=False)
    shifted = np.arange(SEQUENCES) + (1 if mismatch == "other sequences" else 0)
    job = _job_with_predictions(sweep, 2, predicted, baseline=False, sequences=shifted)
    if mismatch == "other labels":  # the same sequences, one labelled otherwise (and so missed)
        text = (job / "test_predictions.csv").read_text().replace("\n0,1000,0,", "\n0,1000,1,")
        (job / "test_predictions.csv").write_text(text)
        metrics = {"test/acc": 119 / SEQUENCES, "test/f1_macro": 0.5}
        (job / "metrics.json").write_text(json.dumps(metrics))
    if mismatch == "no file":
        (job / "test_predictions.csv").unlink()
    rows, markdown, output = _table(tmp_path, sweep)
    assert rows["tae"]["acc_over_best_baseline"] != ""  # the margin is still given
    assert all(rows["tae"][column] == "" for column in INTERVAL_COLUMNS)
    assert "[" not in markdown.split("\n\n")[0]
    expected = "without test_predictions.csv" if mismatch == "no file" else "different sequences"
    assert expected in output


# A crafted test_predictions.csv -> what the warning says of it.
CRAFTED = {
    "huge": "larger than",
    "too many rows": "more than 200 sequences",
    "wrong columns": "the first line is not",
    "three columns": "expected 4 columns, found 3",
    "not numbers": "whole numbers",
    "fractions": "whole numbers",
    "label out of range": "outside the class indices",
    "prediction out of range": "outside the class indices",
    "a sequence twice": "listed twice",
    "no rows": "no sequences",
    "not text": "not text",
    "other predictions": "but metrics.json says",
}


def _crafted(path: Path, kind: str) -> None:
    header = "sequence,point,label,predicted\n"
    lines = [f"{i},{1000 + i},{i % 5},{i % 5}\n" for i in range(SEQUENCES)]
    last = {
        "not numbers": "7,1007,BARLEY,0\n",
        "fractions": "7,1007,0,0.5\n",
        "label out of range": "7,1007,-1,0\n",
        "prediction out of range": f"7,1007,0,{MAX_CLASSES}\n",
        "a sequence twice": lines[0],
    }
    if kind == "huge":  # sparse: past the size limit without writing it
        with path.open("w") as handle:
            handle.truncate(MAX_PREDICTION_BYTES + 1)
    elif kind == "not text":
        path.write_bytes(header.encode() + b"\xff\xfe\n")
    elif kind == "too many rows":
        path.write_text(header + "".join(lines) + "200,1200,0,0\n")
    elif kind == "wrong columns":
        path.write_text("id,truth,guess\n" + "".join(lines))
    elif kind == "three columns":
        path.write_text(header + "1,2,3\n")
    elif kind == "no rows":
        path.write_text(header)
    elif kind in last:  # one bad row in place of the last
        path.write_text(header + "".join(lines[:-1]) + last[kind])
    else:  # well formed, but not what metrics.json scored: a stale or hand-edited file
        path.write_text(header + "".join(lines))


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_a_crafted_predictions_file_gives_no_interval_and_one_warning(tmp_path, monkeypatch, kind):
    # A row limit of the fake jobs' test set, so that passing it takes a small file.
    monkeypatch.setattr(benchmark_table, "MAX_PREDICTION_ROWS", SEQUENCES)
    sweep = tmp_path / "sweep"
    predicted = _right_on(np.arange(SEQUENCES) < 120)
    _job_with_predictions(sweep, 0, predicted, baseline=True)
    job = _job_with_predictions(sweep, 1, predicted, baseline=False)
    _crafted(job / "test_predictions.csv", kind)
    rows, _, output = _table(tmp_path, sweep)
    assert all(rows["tae"][column] == "" for column in INTERVAL_COLUMNS)
    warnings = [line for line in output.splitlines() if "test_predictions.csv:" in line]
    assert len(warnings) == 1, output
    assert str(job / "test_predictions.csv") in warnings[0]
    assert CRAFTED[kind] in warnings[0]
