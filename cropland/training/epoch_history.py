"""One line per epoch that stays on screen and in ``train.log``, and the same table as
``history.csv`` in the run folder: the record of a run to look back at once the progress bar
has been redrawn over it."""

from __future__ import annotations

import csv
import io
import logging
import math
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, RichProgressBar
from lightning.pytorch.utilities import rank_zero_only

from cropland.io import write_text_atomic

HISTORY_FILE = "history.csv"
# Written to train.log only: conf/hydra/default.yaml gives this logger the file handler alone,
# since the line reaches the screen through the progress bar's console.
file_log = logging.getLogger("cropland.epoch_history")

_SCORES = ("loss", "acc", "f1_macro")
COLUMNS = (
    "epoch",
    *(f"{stage}_{score}" for stage in ("train", "val") for score in _SCORES),
    "lr",
    "seconds",
    "best",
    "best_epoch",
)


class EpochHistory(Callback):
    """Records each epoch's headline scores, learning rate, duration and the best monitored
    score so far.

    An epoch's row is complete only once its training scores are logged, which Lightning does
    after the callbacks' ``on_train_epoch_end``; so a row is written when the next epoch starts,
    and the last one when training ends.
    """

    def __init__(self, output_dir: str | Path | None = None) -> None:
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.rows: list[dict[str, float | int | str]] = []
        self._pending: dict | None = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finish_pending(trainer)
        optimizers = trainer.optimizers
        lr = optimizers[0].param_groups[0]["lr"] if optimizers else math.nan
        self._pending = {"epoch": trainer.current_epoch, "lr": lr, "started": time.perf_counter()}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is not None:
            self._pending["seconds"] = time.perf_counter() - self._pending["started"]

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._finish_pending(trainer)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        # An interrupted epoch has no complete row; the finished ones are already written.
        self._pending = None

    def _finish_pending(self, trainer: L.Trainer) -> None:
        pending, self._pending = self._pending, None
        if pending is None or "seconds" not in pending:
            return
        scores = trainer.callback_metrics
        row: dict[str, float | int | str] = {"epoch": pending["epoch"] + 1}
        for stage in ("train", "val"):
            for score in _SCORES:
                value = scores.get(f"{stage}/{score}")
                row[f"{stage}_{score}"] = float(value) if value is not None else math.nan
        row["lr"] = pending["lr"]
        row["seconds"] = pending["seconds"]
        self.rows.append(row)
        row["best"], row["best_epoch"] = self._best_so_far(trainer)
        self._report(trainer, row)

    def _best_so_far(self, trainer: L.Trainer) -> tuple[float, int | str]:
        """The monitored score's best value and the epoch (1-based) it came from."""
        checkpoint = next(
            (
                c
                for c in trainer.callbacks
                if isinstance(c, ModelCheckpoint) and c.monitor and c.best_model_score is not None
            ),
            None,
        )
        if checkpoint is None:
            return math.nan, ""
        # The best value came from the row whose monitored score equals it.
        name = checkpoint.monitor.replace("/", "_")
        best = float(checkpoint.best_model_score)
        epochs = [r["epoch"] for r in self.rows if name in r and math.isclose(r[name], best)]
        return best, epochs[-1] if epochs else ""

    @rank_zero_only
    def _report(self, trainer: L.Trainer, row: dict) -> None:
        line = format_row(row, trainer.max_epochs)
        if len(self.rows) == 1:
            line = f"{HEADER}\n{line}"
        bar = trainer.progress_bar_callback
        if isinstance(bar, RichProgressBar) and bar.progress is not None:
            # Printed above the live bar, so the bar keeps its place at the bottom.
            bar.progress.console.print(line, highlight=False, markup=False)
        else:
            print(line, flush=True)
        file_log.info(line)
        if self.output_dir is not None and self.output_dir.is_dir():
            write_text_atomic(
                self.output_dir / HISTORY_FILE, history_csv(self.rows), overwrite=True
            )


# Columns: epoch, then loss, accuracy and macro F1 of train and of val, learning rate, seconds,
# and the best monitored score so far with its epoch.
_WIDTHS = (7, 6, 6, 6, 6, 6, 6, 7, 5)
HEADER = (
    " ".join(
        f"{name:>{width}}"
        for name, width in zip(
            ("epoch", "t.loss", "t.acc", "t.f1", "v.loss", "v.acc", "v.f1", "lr", "sec"),
            _WIDTHS,
            strict=True,
        )
    )
    + " best"
)


def format_row(row: dict, max_epochs: int | None) -> str:
    """A row under :data:`HEADER`, narrow enough for an 80-column terminal; scores not measured
    this epoch show as ``-``."""
    of = f"/{max_epochs}" if max_epochs and max_epochs > 0 else ""
    lr = row["lr"]
    cells = [
        str(row["epoch"]) + of,
        *(_number(row[f"{stage}_{s}"]) for stage in ("train", "val") for s in _SCORES),
        "-" if math.isnan(lr) else f"{lr:.1e}",
        f"{row['seconds']:.1f}",
    ]
    line = " ".join(f"{cell:>{width}}" for cell, width in zip(cells, _WIDTHS, strict=True))
    if not math.isnan(row["best"]):
        line += f" {row['best']:.3f} ({row['best_epoch']})"
    return line


def _number(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _csv_value(value):
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def _number(value: float) -> str:
    return "    -" if math.isnan(value) else f"{value:.3f}"


def history_csv(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return text.getvalue()
