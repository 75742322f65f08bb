"""Screenshots of what TensorBoard shows of a small sweep, to check by eye what opens where.

    python scripts/dev/tensorboard_screenshots.py SHOTS_FOLDER [--runs FOLDER]

Trains a two-job Hydra multirun (two learning rates, three epochs of a tiny ConvLSTM on a
small synthetic file) into a temporary folder (or ``--runs``, kept), starts TensorBoard on it,
and saves headless-Chromium screenshots of the Time Series (all cards, then the figures
alone), Scalars, Custom Scalars and HParams tabs into SHOTS_FOLDER. Needs Chromium (Debian:
``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from cropland.data.prepare import prepare_dataset
from cropland.data.synthetic import generate_tree

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# The headline curves and the learning rate, as the Time Series tag filter of the docs.
CURVES_FILTER = r"^(train|val)/(loss|acc|f1_macro|lr-)"
# Pages of TensorBoard: file name, tab, tag filter (None: all cards), and the window's width
# (the HParams table puts its metric columns after the settings).
PAGES = (
    ("time_series.png", "timeseries", None, 1400),
    ("time_series_curves.png", "timeseries", CURVES_FILTER, 1400),
    ("time_series_figures.png", "timeseries", "confusion|sequences", 1400),
    ("scalars.png", "scalars", None, 1400),
    ("custom_scalars.png", "custom_scalars", None, 1400),
    ("hparams.png", "hparams", None, 2000),
)
# Headless Chromium sometimes shoots before every card is drawn: each page is shot this many
# times and the biggest file kept (an empty card compresses to almost nothing).
TRIES = 3
# Plugins whose data must be loaded before the screenshots mean anything.
NEEDED_PLUGINS = ("scalars", "custom_scalars", "images", "hparams")
SWEEP = [
    "-m",
    "optimizer.lr=0.001,0.003",
    "trainer.max_epochs=3",
    "data=prepared",
    "data.batch_size=8",
    "model=convlstm",
    "model.net.hidden_channels=[8,8]",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.accelerator=cpu",
    "trainer.precision=32-true",
    "callbacks.rich_progress_bar=null",
    "callbacks.sequence_figures.every_n_epochs=1",
    "callbacks.confusion_figures.every_n_epochs=1",
]


def train_sweep(folder: Path) -> Path:
    """The multirun folder of a two-job sweep trained into ``folder``, or the one already
    there (to take the screenshots again)."""
    multiruns = folder / "outputs" / "train" / "multiruns"
    if multiruns.is_dir():
        (sweep,) = multiruns.iterdir()
        return sweep
    data = folder / "data"
    generate_tree(data / "tree", num_points=160, seed=3, progress=False)
    prepare_dataset(data / "tree", data / "tiny.h5", progress=False)
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "scripts" / "train.py"),
            *SWEEP,
            f"data.path={data / 'tiny.h5'}",
            f"paths.log_dir={folder / 'outputs'}",
        ],
        check=True,
        cwd=PROJECT_ROOT,
        stdout=subprocess.DEVNULL,
    )
    (sweep,) = multiruns.iterdir()
    return sweep


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_plugins(url: str, server: subprocess.Popen, seconds: float = 60) -> None:
    """Until TensorBoard says each of :data:`NEEDED_PLUGINS` has data."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"TensorBoard stopped (exit {server.returncode})")
        try:
            with urllib.request.urlopen(f"{url}/data/plugins_listing", timeout=5) as answer:
                listing = json.load(answer)
            if all(listing.get(name, {}).get("enabled") for name in NEEDED_PLUGINS):
                return
        except OSError:
            pass
        time.sleep(1)
    raise SystemExit(f"TensorBoard at {url} did not list {', '.join(NEEDED_PLUGINS)} in time")


def screenshot(chromium: str, url: str, path: Path, width: int) -> None:
    """The most complete of :data:`TRIES` shots of ``url``, as ``path``."""
    with tempfile.TemporaryDirectory() as folder:
        shots = [Path(folder) / f"{try_number}.png" for try_number in range(TRIES)]
        for shot in shots:
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--hide-scrollbars",
                    f"--window-size={width},1000",
                    # Virtual time: the page's requests finish before the shot is taken.
                    "--virtual-time-budget=30000",
                    f"--screenshot={shot}",
                    url,
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        shutil.copyfile(max(shots, key=lambda shot: shot.stat().st_size), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shots", type=Path, help="folder for the PNG screenshots")
    parser.add_argument(
        "--runs", type=Path, help="train into this folder and keep it (a sweep there is reused)"
    )
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("error: no chromium on PATH; install it (Debian: apt-get install chromium)")
        raise SystemExit(2)
    args.shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.runs or Path(temporary)
        sweep = train_sweep(folder)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [sys.executable, "-m", "tensorboard.main", "--logdir", str(sweep)]
            + ["--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_plugins(url, server)
            for name, tab, tags, width in PAGES:
                # SVG charts: a headless browser draws the WebGL ones unreliably.
                query = {"forceSVG": "true"} | ({"tagFilter": tags} if tags else {})
                screenshot(chromium, f"{url}/?{urlencode(query)}#{tab}", args.shots / name, width)
                print(args.shots / name)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
