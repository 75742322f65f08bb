"""Data pipeline speed and memory at the 2019 dataset's size, against the project's targets
(the loader far faster than the model, flat memory).

    .venv/bin/python -m benchmarks.data [--quick] [--workdir DIR]

(from the repository root). Four parts, one table each, then the targets:

1. prepare: a synthetic tree of the real 2019 tree's size (6,000 points: about 22,000 records,
   5,300 sequences, 132,000 PNGs; made once with scripts/make_synthetic.py and reused from
   ``--workdir``), converted with scripts/prepare.py in a fresh process: seconds, PNGs/s and
   peak RSS. Target: at most 2 minutes.
2. loader: the DataModule's training loader on that file (RGB + NDVI45 + GNDVI, batch 16),
   each batch scaled and augmented in the main process as ``on_after_batch_transfer`` does
   while training, for ``in_memory`` true/false x ``num_workers`` 0/2 (and the published
   recipe's augmentation once); sequences/s after a warm-up, best of two rounds taken in turn,
   the first batch (worker start-up) timed apart.
3. model: train steps (Adam, fp32) of the published ConvLSTM (``experiment=published_convlstm``:
   64 then 128 channels, full 65x65 patches, no months) on batches of the same loader, whose
   sequences/s the loader must exceed 50 times.
4. training memory: scripts/train.py on that file with the default model, a few batches, in a
   fresh process: peak RSS, for ``data.in_memory=auto`` and ``true``. Target: at most 1.2 GB.

``--quick`` does the same on a 200-point tree with fewer and smaller batches, to check that it
runs.

Peak RSS is the child's ``VmHWM`` from ``/proc/self/status`` (Linux only), read as it exits:
see benchmarks/prepare_memory.py for why not ``ru_maxrss``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.utils import instantiate

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.prepare import prepare_summary_path
from cropland.data.sequence_dataset import to_unit_range
from cropland.training.train import build_classifier

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = PROJECT_ROOT / "conf"
CHANNELS = "rgb_ndvi45_gndvi"
BATCH_SIZE = 16

# The loader must never be what a run waits for, and memory must stay flat at full size.
LOADER_OVER_MODEL = 50
PEAK_RSS_BYTES = 1.2e9
PREPARE_SECONDS = 120

MIB = 1024 * 1024

OPENMP_VARIABLES = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")


@dataclass(frozen=True)
class Scale:
    """How much data and how many batches or steps each part uses."""

    points: int
    warmup_batches: int
    loader_batches: int
    rounds: int  # of every loader setting, in turn
    warmup_steps: int
    model_steps: int
    model_batch: int  # sequences per timed model step
    train_limits: tuple[int, int, int]  # train, val, test batches of the training runs


# 6,000 points give about the real 2019 tree: ~22,000 records in ~5,300 sequences.
FULL = Scale(6000, 3, 60, 2, 1, 3, BATCH_SIZE, (20, 5, 5))
# --quick only checks that every part runs: a step of the published ConvLSTM on 2 sequences.
QUICK = Scale(200, 1, 6, 1, 0, 1, 2, (2, 1, 1))

# Runs in the child: a script, as `python <script> <args>` would run it, then the child's peak
# RSS (VmHWM, this process only) into a JSON file as it exits, however it exits.
_MEASURED = """
import atexit, json, re, runpy, sys
from pathlib import Path

peak_file, script = Path(sys.argv[1]), sys.argv[2]

def report():
    status = Path("/proc/self/status").read_text()
    peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", status)[1])
    peak_file.write_text(json.dumps({"peak_kib": peak}))

atexit.register(report)
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""


def run_measured(script: str, overrides: list[str], workdir: Path, name: str) -> dict:
    """``python scripts/<script> <overrides>`` in a fresh process, its Hydra run folder under
    ``workdir``: wall seconds, peak RSS and output. Raises with the output when it fails."""
    peak_file = workdir / f"{name}.peak.json"
    peak_file.unlink(missing_ok=True)
    run_dir = workdir / "runs" / name
    args = [*overrides, f"hydra.run.dir={run_dir}"]
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED, str(peak_file), str(PROJECT_ROOT / script), *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"{script} {' '.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    peak_kib = json.loads(peak_file.read_text())["peak_kib"]
    return {
        "seconds": seconds,
        "peak_bytes": peak_kib * 1024,
        "output": result.stdout + result.stderr,
    }


def make_tree(points: int, workdir: Path) -> tuple[Path, dict, float | None]:
    """The synthetic tree of ``points`` points (reused when there), its generation summary and
    the seconds generating it took (None when reused)."""
    tree = workdir / f"tree_{points}"
    summary_file = tree.with_name(f"{tree.name}.synthetic.json")
    seconds = None
    if not summary_file.exists():
        overrides = [f"dst={tree}", f"num_points={points}", "progress=false", "overwrite=true"]
        generated = run_measured("scripts/make_synthetic.py", overrides, workdir, "generate")
        seconds = generated["seconds"]
    return tree, json.loads(summary_file.read_text()), seconds


def prepare(tree: Path, workdir: Path) -> tuple[Path, dict, dict]:
    prepared = workdir / f"{tree.name}.h5"
    overrides = [f"src={tree}", f"dst={prepared}", "overwrite=true", "progress=false"]
    measured = run_measured("scripts/prepare.py", overrides, workdir, "prepare")
    summary = json.loads(prepare_summary_path(prepared).read_text())
    return prepared, summary, measured


def compose_train_config(*overrides: str):
    """``conf/train.yaml`` with ``overrides``, as scripts/train.py composes it."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            return compose("train", overrides=list(overrides))
    finally:
        GlobalHydra.instance().clear()


def augmented(datamodule: CropSequenceDataModule, batch: dict) -> torch.Tensor:
    """What ``on_after_batch_transfer`` makes of a training batch's images."""
    return datamodule.augmentation(to_unit_range(batch["image"]))


def loader_speed(datamodule: CropSequenceDataModule, scale: Scale) -> dict:
    """Sequences/s of the training loader, batches augmented, after the warm-up batches; the
    first batch (worker start-up included) timed apart."""
    loader = datamodule.train_dataloader()
    warmup = min(scale.warmup_batches, len(loader) - 1)
    timed = min(scale.loader_batches, len(loader) - max(warmup, 1))
    started = time.perf_counter()
    batches = iter(loader)
    augmented(datamodule, next(batches))
    first = time.perf_counter() - started
    for _ in range(warmup - 1):
        augmented(datamodule, next(batches))
    sequences = 0
    started = time.perf_counter()
    for _ in range(timed):
        batch = next(batches)
        augmented(datamodule, batch)
        sequences += len(batch["label"])
    seconds = time.perf_counter() - started
    # Persistent workers live as long as the loader's iterator: end them before the next row.
    del batches, loader
    gc.collect()
    return {"first_batch_s": first, "sequences": sequences, "per_second": sequences / seconds}


def model_speed(datamodule: CropSequenceDataModule, published, scale: Scale) -> dict:
    """Sequences/s of training steps of the published ConvLSTM (Adam, fp32, gradient clipping
    at 1 as in training) on augmented batches of the training loader."""
    torch.manual_seed(0)
    model = build_classifier(published, datamodule.model_inputs())
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = iter(datamodule.train_dataloader())
    batches = []
    for _ in range(scale.warmup_steps + scale.model_steps):
        batch = next(loader)
        batch = {key: value[: scale.model_batch] for key, value in batch.items()}
        batches.append({**batch, "image": augmented(datamodule, batch)})
    del loader

    def step(batch: dict) -> None:
        logits = model(batch["image"], batch["lengths"], batch["months"])
        loss = F.cross_entropy(logits, batch["label"], weight=model.class_weights)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for batch in batches[: scale.warmup_steps]:
        step(batch)
    timed = batches[scale.warmup_steps :]
    started = time.perf_counter()
    for batch in timed:
        step(batch)
    seconds = time.perf_counter() - started
    sequences = sum(len(b["label"]) for b in timed)
    steps = [int(b["image"].shape[1]) for b in timed]
    return {
        "per_second": sequences / seconds,
        "seconds_per_step": seconds / len(timed),
        "steps": steps,
    }


# The loader settings measured: in_memory, num_workers, augmentation (ours: data=prepared's
# flips and 90-degree turns, one draw per sequence; published: experiment=published_convlstm's
# rotation and shift with zero fill, a new draw per time step).
LOADER_SETTINGS = (
    (True, 0, "ours"),
    (True, 2, "ours"),
    (True, 0, "published"),
    (False, 0, "ours"),
    (False, 2, "ours"),
)


def loader_and_model(prepared: Path, scale: Scale) -> tuple[list[dict], dict]:
    """Every loader setting, ``scale.rounds`` times in turn (the best round counts: other work
    on the machine only slows a round down), then the model's train steps."""
    data_overrides = ["data=prepared", f"data.path={prepared}", f"data.channels={CHANNELS}"]
    data_overrides.append(f"data.batch_size={BATCH_SIZE}")
    ours = compose_train_config(*data_overrides)
    published = compose_train_config("experiment=published_convlstm", *data_overrides)

    datamodules, setup_s = {}, {}
    for in_memory in (True, False):
        datamodules[in_memory] = instantiate(ours.data, in_memory=in_memory, num_workers=0)
        started = time.perf_counter()
        datamodules[in_memory].setup("fit")
        setup_s[in_memory] = time.perf_counter() - started
    augmentations = {
        "ours": datamodules[True].augmentation,
        "published": instantiate(published.data).augmentation,
    }

    rounds: dict[tuple, list[dict]] = {setting: [] for setting in LOADER_SETTINGS}
    for _ in range(scale.rounds):
        for setting in LOADER_SETTINGS:
            in_memory, num_workers, augmentation = setting
            datamodule = datamodules[in_memory]
            # Set here rather than in new DataModules, whose setup (reading pixels, statistics)
            # would repeat for nothing; the loader and the batch transform read them when used.
            datamodule.num_workers = num_workers
            datamodule.augmentation = augmentations[augmentation]
            rounds[setting].append(loader_speed(datamodule, scale))
    rows = []
    for setting, measured in rounds.items():
        in_memory, num_workers, augmentation = setting
        rows.append(
            {
                "in_memory": in_memory,
                "num_workers": num_workers,
                "augmentation": augmentation,
                "setup_s": setup_s[in_memory],
                # Worker start-up as a run meets it: the first round's.
                "first_batch_s": measured[0]["first_batch_s"],
                "sequences": measured[0]["sequences"],
                "per_second": max(m["per_second"] for m in measured),
            }
        )
    datamodule = datamodules[True]
    datamodule.num_workers = 0
    datamodule.augmentation = augmentations["published"]
    model = model_speed(datamodule, published, scale)
    del datamodules, datamodule
    gc.collect()
    return rows, model


def training_memory(prepared: Path, scale: Scale, workdir: Path) -> list[dict]:
    """Peak RSS of scripts/train.py (default model and settings otherwise: data.num_workers=0,
    callbacks and test included) for one short epoch, by ``data.in_memory``."""
    train, val, test = scale.train_limits
    rows = []
    for in_memory in ("auto", "true"):
        overrides = [
            "data=prepared",
            f"data.path={prepared}",
            f"data.channels={CHANNELS}",
            f"data.in_memory={in_memory}",
            "trainer.max_epochs=1",
            f"trainer.limit_train_batches={train}",
            f"trainer.limit_val_batches={val}",
            f"trainer.limit_test_batches={test}",
            "logger=csv",
            "callbacks.rich_progress_bar=null",
        ]
        measured = run_measured("scripts/train.py", overrides, workdir, f"train_{in_memory}")
        from_file = "sequence by sequence" in measured["output"]
        rows.append(
            {
                "in_memory": in_memory,
                "read": "from the file" if from_file else "into memory",
                "seconds": measured["seconds"],
                "peak_bytes": measured["peak_bytes"],
            }
        )
    return rows


def cpu_description() -> tuple[str, str]:
    """The CPU's model name and flags line from /proc/cpuinfo (first CPU)."""
    model = flags = "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return model, flags
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and flags == "unknown":
            flags = value.strip()
    return model, flags


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print(" | ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(f"{v!s:>{w}}" for v, w in zip(row, widths, strict=True)))


def met(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 200-point tree, few batches")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "cropland-benchmark-data",
        help="where the tree, the prepared file and the runs go (the tree is reused)",
    )
    args = parser.parse_args()
    # Each table as soon as it is measured, also into a file or a pipe: the run takes minutes.
    sys.stdout.reconfigure(line_buffering=True)
    scale = QUICK if args.quick else FULL
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    model_name, flags = cpu_description()
    print(f"CPU: {model_name}; {os.cpu_count()} cores; torch threads {torch.get_num_threads()}")
    print(f"flags: {flags}")
    # torch's OpenMP threads spin while they wait, which slows small operations badly on a
    # machine busy with other work (OMP_WAIT_POLICY=PASSIVE avoids it). Shown so that runs can
    # be compared.
    openmp = ", ".join(f"{k}={os.environ.get(k, 'unset')}" for k in OPENMP_VARIABLES)
    print(f"environment: {openmp}")
    print(f"load average at start (1, 5, 15 min): {' '.join(f'{v:.2f}' for v in os.getloadavg())}")

    tree, generated, generate_s = make_tree(scale.points, workdir)
    prepared, summary, prepare_run = prepare(tree, workdir)
    pngs = generated["images_written"]
    prepare_s = prepare_run["seconds"]
    table(
        f"1. prepare ({tree})",
        (
            "points",
            "PNGs",
            "records",
            "sequences",
            "generate s",
            "prepare s",
            "PNGs/s",
            "peak RSS MiB",
        ),
        [
            (
                scale.points,
                pngs,
                summary["records"],
                summary["sequences"],
                "reused" if generate_s is None else f"{generate_s:.1f}",
                f"{prepare_s:.1f}",
                f"{pngs / prepare_s:.0f}",
                f"{prepare_run['peak_bytes'] / MIB:.0f}",
            )
        ],
    )

    loaders, model = loader_and_model(prepared, scale)
    table(
        f"2. loader, training split, batch {BATCH_SIZE}, {CHANNELS}, augmented "
        f"({loaders[0]['sequences']} sequences timed after {scale.warmup_batches} warm-up batches, "
        f"best of {scale.rounds} rounds)",
        (
            "in_memory",
            "num_workers",
            "augmentation",
            "setup s",
            "first batch s",
            "sequences/s",
            "x model",
            f">= {LOADER_OVER_MODEL}x",
        ),
        [
            (
                row["in_memory"],
                row["num_workers"],
                row["augmentation"],
                f"{row['setup_s']:.1f}",
                f"{row['first_batch_s']:.2f}",
                f"{row['per_second']:.0f}",
                f"{row['per_second'] / model['per_second']:.0f}",
                met(row["per_second"] >= LOADER_OVER_MODEL * model["per_second"]),
            )
            for row in loaders
        ],
    )
    print(
        "augmentation ours: data=prepared's (flips, 90-degree turns, one draw per sequence); "
        "published: experiment=published_convlstm's (rotation, shift, zero fill, per step)"
    )
    table(
        "3. model: published ConvLSTM (experiment=published_convlstm), Adam, fp32, train steps",
        ("batch", "time steps of the timed batches", "s per step", "sequences/s"),
        [
            (
                scale.model_batch,
                " ".join(map(str, model["steps"])),
                f"{model['seconds_per_step']:.1f}",
                f"{model['per_second']:.2f}",
            )
        ],
    )

    trains = training_memory(prepared, scale, workdir)
    limits = "/".join(map(str, scale.train_limits))
    table(
        f"4. scripts/train.py, default model, 1 epoch, {limits} train/val/test batches",
        ("data.in_memory", "pixels read", "seconds", "peak RSS MiB", "peak RSS GB"),
        [
            (
                row["in_memory"],
                row["read"],
                f"{row['seconds']:.0f}",
                f"{row['peak_bytes'] / MIB:.0f}",
                f"{row['peak_bytes'] / 1e9:.2f}",
            )
            for row in trains
        ],
    )

    slowest = min(loaders, key=lambda row: row["per_second"])
    ratio = slowest["per_second"] / model["per_second"]
    peak = max(trains, key=lambda row: row["peak_bytes"])
    print("\ntargets")
    print(
        f"  loader >= {LOADER_OVER_MODEL}x the model: {met(ratio >= LOADER_OVER_MODEL)} "
        f"(slowest setting in_memory={slowest['in_memory']} num_workers="
        f"{slowest['num_workers']} augmentation={slowest['augmentation']}: "
        f"{slowest['per_second']:.0f} sequences/s, {ratio:.0f}x the model's "
        f"{model['per_second']:.2f})"
    )
    print(
        f"  training peak RSS <= {PEAK_RSS_BYTES / 1e9:.1f} GB: "
        f"{met(peak['peak_bytes'] <= PEAK_RSS_BYTES)} (highest {peak['peak_bytes'] / 1e9:.2f} GB, "
        f"data.in_memory={peak['in_memory']})"
    )
    print(
        f"  prepare <= {PREPARE_SECONDS} s: {met(prepare_s <= PREPARE_SECONDS)} "
        f"({prepare_s:.1f} s for {pngs} PNGs)"
    )
    if args.quick:
        print(f"  (--quick: {scale.points} points, not the 2019 size; the targets are for that)")
    print(
        f"whole benchmark {time.perf_counter() - started:.0f} s; load average at the end "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
