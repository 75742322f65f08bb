"""DDP on the CPU (gloo, two processes), started by Lightning and by torchrun; SLURM composed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lightning.fabric.plugins.environments import SLURMEnvironment

from cropland.data.datamodule import CropSequenceDataModule
from cropland.training.scores import is_stage_score
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, run_script

TWO_CPU_PROCESSES = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"]


def _tiny_synthetic_run(tmp_path: Path) -> list[str]:
    """The default synthetic data (made by the run itself), tiny, into ``tmp_path``."""
    return [
        f"paths.log_dir={tmp_path / 'outputs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        # 9 test sequences: an odd number, which a padding sampler would count as 10.
        "data.synthetic.num_points=70",
        "data.batch_size=4",
        "model=convlstm",
        "model.net.hidden_channels=[4,4]",
        "trainer.max_epochs=2",
        "trainer.precision=32-true",
        "logger=csv",
        "callbacks.rich_progress_bar=null",
    ]


def _torchrun(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    command += ["--nproc_per_node", "2", str(PROJECT_ROOT / "scripts" / "train.py"), *overrides]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["lightning", "torchrun"])
def test_ddp_on_cpu_trains_once_and_scores_like_one_process(launcher, tmp_path):
    overrides = [*TWO_CPU_PROCESSES, *_tiny_synthetic_run(tmp_path)]
    if launcher == "lightning":
        result = run_script("train.py", *overrides, cwd=tmp_path)
    else:
        result = _torchrun(*overrides, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]

    # One run folder, its files written once, the synthetic data made once.
    runs = list((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    for name in ("config.yaml", "metrics.json", "report.txt", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert output.count("Generating synthetic PNG tree") == 1
    assert output.count("Test set, best checkpoint") == 1
    assert sorted(p.name for p in (tmp_path / "data").glob("*.h5")) == [
        "synthetic_ca19_n70_seed0.h5"
    ]

    # Test metrics over both processes equal the best checkpoint scored in one process, and
    # each test sequence counts once (no repeated sequences padding a process's share).
    metrics = json.loads((run / "metrics.json").read_text())
    best = [p for p in (run / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    assert len(best) == 1, best
    evaluated = run_script(
        "eval.py", f"ckpt_path={best[0]}", f"paths.log_dir={tmp_path / 'outputs'}", cwd=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    (eval_run,) = (tmp_path / "outputs" / "eval" / "runs").iterdir()
    single = json.loads((eval_run / "metrics.json").read_text())
    shared = [k for k in metrics if is_stage_score(k, "test") and k in single]
    assert len(shared) >= 32, shared  # acc, macro F1, precision/recall/F1 of ten classes
    for key in shared:
        assert metrics[key] == pytest.approx(single[key], abs=1e-6), key

    datamodule = CropSequenceDataModule(
        str(tmp_path / "data" / "synthetic_ca19_n70_seed0.h5"), batch_size=4
    )
    datamodule.setup()
    assert len(datamodule.datasets["test"]) % 2 == 1
    assert metrics["test/sequences"] == single["test_sequences"] == len(datamodule.datasets["test"])
    report_total = re.search(r"accuracy\s+\S+\s+(\d+)", (run / "report.txt").read_text())
    assert int(report_total.group(1)) == len(datamodule.datasets["test"])


def _sbatch_overrides() -> tuple[str, list[str]]:
    script = (PROJECT_ROOT / "scripts" / "slurm_train.sbatch").read_text()
    commands = script.replace("\\\n", " ").splitlines()  # join continued lines
    (line,) = [line for line in commands if "scripts/train.py" in line]
    arguments = line.split("scripts/train.py", 1)[1].split()
    return script, [a for a in arguments if not a.startswith("$")]


def test_slurm_example_composes_a_multi_node_ddp_run(monkeypatch):
    script, overrides = _sbatch_overrides()
    assert "srun" in script and "CROPLAND_RUN_NAME" in script
    nodes = int(re.search(r"#SBATCH --nodes=(\d+)", script).group(1))
    tasks = int(re.search(r"#SBATCH --ntasks-per-node=(\d+)", script).group(1))
    cfg = compose_config("train", *overrides, "data.path=ca19.h5")
    assert cfg.trainer.strategy == "ddp"
    assert cfg.trainer.num_nodes == nodes and cfg.trainer.devices == tasks

    # What srun sets in each task: Lightning then takes ranks and world size from SLURM.
    for key, value in {
        "SLURM_NTASKS": str(nodes * tasks),
        "SLURM_NTASKS_PER_NODE": str(tasks),
        "SLURM_JOB_NAME": "cropland",
        "SLURM_NODELIST": "node[1-2]",
        "SLURM_PROCID": "3",
        "SLURM_LOCALID": "1",
        "SLURM_NODEID": "1",
    }.items():
        monkeypatch.setenv(key, value)
    assert SLURMEnvironment.detect()
    environment = SLURMEnvironment()
    assert (environment.world_size(), environment.global_rank()) == (nodes * tasks, 3)
