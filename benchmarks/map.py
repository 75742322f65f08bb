"""How fast scripts/map.py maps a scene on this machine, where the time goes, and its memory.

Not a test: ``python -m benchmarks.map`` (from the repository root)

- makes a synthetic scene (``scripts/make_scene.py``) at each of two sizes (default 768 and
  1536 px: 59 and 236 km²);
- makes a checkpoint of each model at its default size (one training step on the default
  synthetic data: speed does not depend on how well a model was trained), and of the ConvLSTM;
- maps every scene with every checkpoint, one ``scripts/map.py`` process at a time (side by
  side on one machine, nothing else of ours running), at ``stride`` 32;
- reports per model and size: km² per minute of mapping (the sidecar's seconds per stage,
  without the process's start), the share of read / preprocess / model / blend / write, the
  process's wall time and its peak resident memory; then the cost per km² at the larger size
  over the smaller one (1.0 = linear) and the time a full Sentinel-2 tile (10,980 x 10,980 px,
  12,056 km²) would take at the larger size's rate, marked as extrapolated.

``--quick`` maps two tiny scenes with two models, to check that it runs. The tables are
written as ``map_benchmark.md`` and ``.json`` in ``--out``. Timings on a shared machine are
indicative: compare rows of one run, not runs.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from cropland.mapping.stage_clock import STAGES

ROOT = Path(__file__).resolve().parents[1]
FULL_TILE_PX = 10980
FULL_TILE_KM2 = FULL_TILE_PX**2 * 100 / 1e6
TARGET_MINUTES = 5.0
TARGET_RSS_GB = 2.0
# Models at their default size (conf/model/<name>.yaml); the ConvLSTM is the published kind.
MODELS = ("tae", "tempcnn", "lrcn", "conv3d", "single_date", "convlstm")
ONE_STEP = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "test=false",
    "logger=csv",
    "callbacks.rich_progress_bar=null",
    "trainer.accelerator=cpu",
]


def _python(script: str, *settings: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(ROOT / "scripts" / script), *settings]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{script} {' '.join(settings)} failed:\n{result.stderr[-3000:]}")
    return result


def _checkpoint(model: str, out: Path) -> Path:
    folder = out / "checkpoints" / model
    if not folder.exists():
        _python("train.py", f"model={model}", *ONE_STEP, f"hydra.run.dir={folder}")
    (best,) = [p for p in (folder / "checkpoints").glob("*.ckpt") if p.name != "last.ckpt"]
    return best


def _scene(size: int, out: Path) -> Path:
    dst = out / f"scene_{size}"
    if not dst.exists():
        _python("make_scene.py", f"dst={dst}", f"size={size}", "seed=0", "progress=false",
                f"hydra.run.dir={out / 'runs' / f'make_scene_{size}'}")  # fmt: skip
    return dst / "scene"


def _map(checkpoint: Path, scene: Path, output: Path, stride: int, device: str) -> dict:
    """One map.py process: its sidecar, wall seconds and peak resident memory (bytes)."""
    settings = [f"ckpt_path={checkpoint}", f"input={scene}", f"output={output}",
                f"stride={stride}", f"device={device}", "progress=false", "overwrite=true",
                f"hydra.run.dir={output.parent / 'run'}"]  # fmt: skip
    command = [sys.executable, str(ROOT / "scripts" / "map.py"), *settings]
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # wait4: this child's own peak memory, not the largest of all children so far.
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace")
    process.stdout.close()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"map.py failed on {scene}:\n{stderr[-3000:]}")
    sidecar = json.loads(output.with_suffix(".json").read_text())
    return {"sidecar": sidecar, "wall": wall, "peak_rss": usage.ru_maxrss * 1024}


def _row(model: str, size: int, run: dict) -> dict:
    seconds = run["sidecar"]["seconds"]
    mapping = sum(seconds.values())
    km2 = size**2 * 100 / 1e6
    return {
        "model": model,
        "size_px": size,
        "km2": round(km2, 1),
        "km2_per_minute": round(km2 / (mapping / 60), 1),
        "mapping_s": round(mapping, 2),
        "wall_s": round(run["wall"], 2),
        "peak_rss_mb": round(run["peak_rss"] / 2**20),
        **{f"{stage}_share": round(seconds[stage] / mapping, 3) for stage in STAGES},
    }


def _scaling(rows: list[dict]) -> list[dict]:
    """Per model: cost per km² at the larger size over the smaller, and the full tile at the
    larger size's rate (extrapolated)."""
    scaling = []
    for model in dict.fromkeys(row["model"] for row in rows):
        small, large = sorted((r for r in rows if r["model"] == model), key=lambda r: r["km2"])
        per_km2 = [r["mapping_s"] / r["km2"] for r in (small, large)]
        tile_minutes = per_km2[1] * FULL_TILE_KM2 / 60
        scaling.append(
            {
                "model": model,
                "cost_per_km2_ratio": round(per_km2[1] / per_km2[0], 2),
                "rss_ratio": round(large["peak_rss_mb"] / small["peak_rss_mb"], 2),
                "full_tile_minutes_extrapolated": round(tile_minutes, 1),
                "tile_target_met": tile_minutes <= TARGET_MINUTES,
                "rss_target_met": large["peak_rss_mb"] <= TARGET_RSS_GB * 1024,
            }
        )
    return scaling


def _markdown(rows: list[dict], scaling: list[dict], header: dict) -> str:
    lines = [f"Measured {header['date']} on {header['machine']}; {header['versions']}.",
             f"Command: `{header['command']}`", ""]  # fmt: skip
    columns = list(rows[0])
    lines += ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows]
    columns = list(scaling[0])
    lines += ["", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in scaling]
    return "\n".join(lines) + "\n"


def _machine() -> str:
    cpus = os.cpu_count()
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {cpus} CPUs, {torch.get_num_threads()} torch threads"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=(768, 1536))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--stride", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "benchmarks" / "map")
    parser.add_argument("--quick", action="store_true", help="two tiny scenes, two models")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.models = (130, 195), ["tae", "tempcnn"]
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console(width=max(Console().width, 170))
    scenes = {size: _scene(size, args.out) for size in args.sizes}
    rows = []
    for model in args.models:
        checkpoint = _checkpoint(model, args.out)
        for size, scene in scenes.items():
            output = args.out / "maps" / f"{model}_{size}" / "map.tif"
            output.parent.mkdir(parents=True, exist_ok=True)
            run = _map(checkpoint, scene, output, args.stride, args.device)
            rows.append(_row(model, size, run))
            console.print(f"{model} at {size} px: {rows[-1]['km2_per_minute']} km²/min")
    scaling = _scaling(rows)
    header = {
        "date": datetime.date.today().isoformat(),
        "machine": _machine(),
        "versions": f"Python {platform.python_version()}, torch {torch.__version__}",
        "command": "python -m benchmarks.map " + " ".join(sys.argv[1:]),
    }
    for title, table_rows in (("maps", rows), ("scaling", scaling)):
        table = Table(title=title)
        for column in table_rows[0]:
            table.add_column(column)
        for row in table_rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)
    console.print(f"{header['date']}, {header['machine']}, {header['versions']}")
    (args.out / "map_benchmark.md").write_text(_markdown(rows, scaling, header))
    record = {**header, "rows": rows, "scaling": scaling}
    (args.out / "map_benchmark.json").write_text(json.dumps(record, indent=2) + "\n")
    console.print(f"wrote {args.out / 'map_benchmark.md'}")


if __name__ == "__main__":
    main()
