"""logger=mlflow: a training run's metrics in mlruns/ inside its run folder."""

from __future__ import annotations

import pytest

from tests.hydra_configs import compose_config
from tests.script_runs import TINY_TRAINING, run_script


def test_mlflow_logs_into_the_run_folder_unless_given_a_server():
    cfg = compose_config("train", "logger=mlflow", return_hydra_config=True)
    assert cfg.logger.mlflow._target_ == "lightning.pytorch.loggers.MLFlowLogger"
    assert cfg.logger.mlflow.tracking_uri is None
    assert cfg.hydra.job.env_set.MLFLOW_ALLOW_FILE_STORE == "true"
    given = compose_config("train", "logger=mlflow", "logger.mlflow.tracking_uri=http://host:5000")
    assert given.logger.mlflow.tracking_uri == "http://host:5000"


def test_a_run_with_logger_mlflow_writes_its_metrics_into_mlruns(prepared_file, tmp_path):
    pytest.importorskip("mlflow", reason="logger=mlflow needs the mlflow extra (mlflow-skinny)")
    run_dir = tmp_path / "run"
    tiny = [o for o in TINY_TRAINING if not o.startswith("logger")]
    result = run_script(
        "train.py",
        *tiny,
        "logger=mlflow",
        f"data.path={prepared_file}",
        f"hydra.run.dir={run_dir}",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = [p for p in (run_dir / "mlruns").glob("*/*") if (p / "metrics").is_dir()]
    for name in ("train/loss", "val/f1_macro", "test/acc"):
        lines = (run / "metrics" / name).read_text().splitlines()
        value = float(lines[-1].split()[1])
        assert 0 <= value <= 1 or name == "train/loss", (name, value)
    assert (run / "params" / "optimizer" / "lr").is_file()
