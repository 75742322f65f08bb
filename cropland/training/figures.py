"""Every figure training draws: confusion matrices (saved beside a run's report, and drawn into
TensorBoard) and a few validation sequences with what the model said of them.

The TensorBoard callbacks draw on the first epoch and every ``every_n_epochs``-th after it:
drawing costs more than a default-run epoch's training steps. The matrices themselves are
computed every epoch by the LightningModule (``pl_module.confusion``); only the drawing waits.
"""

from __future__ import annotations

import calendar
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from cropland.data.layout import MONTHS, UNKNOWN_CLASS
from cropland.data.sequence_dataset import pad_sequences
from cropland.display_stretch import rgb_display_stretch, rgb_for_display
from cropland.errors import CroplandError
from cropland.io import save_figure_atomic
from cropland.models.sequence_inputs import is_whole
from cropland.plotting import plt

# Whatever channels the model uses, the sequence figures show red, green, blue and NDVI.
_SHOWN_SENSORS = ("RGB", "NDVI")
# TensorBoard shows a figure at the pixel size of its PNG, scaled down to the card: figures
# are drawn a few inches wide at this resolution, with fonts that stay readable there.
_DPI = 100


def check_every_n_epochs(value: object, key: str) -> int:
    """``value`` as a whole number >= 1, or one line naming ``key``."""
    if not is_whole(value) or value < 1:
        raise CroplandError(
            f"{key}={value!r}: expected a whole number of epochs >= 1 (1 draws every epoch), "
            f"e.g. {key}=5"
        )
    return value


def is_figure_epoch(trainer: L.Trainer, every_n_epochs: int) -> bool:
    """Epochs 0, n, 2n, ...: the first shows the untrained start, the rest the progress."""
    return trainer.current_epoch % every_n_epochs == 0


def confusion_title(split: str, weights: str, sequences: int) -> str:
    """``val, N=400`` over ``epoch 3 (step 120)``: which sequences, scored by which weights."""
    return f"{split}, N={sequences}\n{weights}"


def confusion_matrix_figure(
    confusion: np.ndarray, classes: list[str], title: str, normalize: bool = False
) -> Figure:
    """Heat map with the count (or the row's percentage) in each cell, blank for none; rows
    are true classes. Sized so that a card of TensorBoard's default width reads it."""
    confusion = np.asarray(confusion, dtype=np.float64)
    values = confusion
    if normalize:
        rows = confusion.sum(axis=1, keepdims=True)
        values = np.divide(100 * confusion, rows, out=np.zeros_like(confusion), where=rows > 0)
    count = len(classes)
    side = 1.6 + 0.24 * count
    figure, axes = plt.subplots(figsize=(side, side), dpi=_DPI, layout="constrained")
    # No colour bar: every cell says its value, and the bar would take a fifth of the width.
    axes.imshow(values, cmap="Blues", vmin=0)
    ticks = np.arange(count)
    axes.set_xticks(ticks, classes, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(ticks, classes, fontsize=8)
    axes.set_xlabel("predicted", fontsize=8)
    axes.set_ylabel("true", fontsize=8)
    if normalize:
        first, newline, rest = title.partition("\n")
        title = f"{first}, % of each row{newline}{rest}"
    axes.set_title(title, fontsize=8)
    texts = np.vectorize(lambda v: f"{v:.0f}" if v > 0 else "")(values)
    # Four digits and more take a smaller font to stay inside their cell.
    size = 7 if max((len(t) for t in texts.ravel()), default=0) <= 3 else 5
    threshold = values.max() / 2 if values.size else 0
    for (row, column), value in np.ndenumerate(values):
        color = "white" if value > threshold else "black"
        text = texts[row, column]
        axes.text(column, row, text, ha="center", va="center", fontsize=size, color=color)
    return figure


def save_confusion_figures(
    confusion: np.ndarray,
    classes: list[str],
    folder: Path,
    split: str,
    weights: str,
    overwrite: bool = False,
) -> None:
    """``confusion_matrix.png`` (counts) and ``confusion_matrix_norm.png`` (row shares), titled
    with ``split``, ``weights`` (which model scored it) and the number of sequences; ones
    already there are replaced only with ``overwrite``."""
    title = confusion_title(split, weights, int(np.asarray(confusion).sum()))
    for normalize, name in ((False, "confusion_matrix.png"), (True, "confusion_matrix_norm.png")):
        figure = confusion_matrix_figure(confusion, classes, title, normalize=normalize)
        # The same drawing, sharper: files are looked at full size.
        save_figure_atomic(figure, Path(folder) / name, overwrite=overwrite, dpi=150)
        plt.close(figure)


class ConfusionMatrixFigures(L.Callback):
    """Logs ``val/confusion_matrix`` on the first epoch and every ``every_n_epochs``-th after
    it, and ``test/confusion_matrix`` after testing."""

    def __init__(self, every_n_epochs: int = 5) -> None:
        self.every_n_epochs = check_every_n_epochs(
            every_n_epochs, "callbacks.confusion_figures.every_n_epochs"
        )

    # on_*_end, not on_*_epoch_end: Lightning calls callbacks' epoch-end hooks before the
    # LightningModule's, which computes the matrix.
    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking and is_figure_epoch(trainer, self.every_n_epochs):
            self._log(trainer, pl_module, "val")

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module, "test")

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        confusion = pl_module.confusion.get(stage)
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if confusion is None or not loggers:
            return
        if stage == "val":
            weights = f"epoch {trainer.current_epoch} (step {trainer.global_step})"
        else:
            weights = tested_weights(trainer.ckpt_path)
        title = confusion_title(stage, weights, int(confusion.sum()))
        figure = confusion_matrix_figure(confusion.numpy(), list(pl_module.classes), title)
        for logger in loggers:
            logger.experiment.add_figure(
                f"{stage}/confusion_matrix", figure, global_step=trainer.global_step
            )
        plt.close(figure)


def tested_weights(checkpoint: str | None) -> str:
    """How a test figure or report names the weights it scored."""
    return f"checkpoint {Path(checkpoint).name}" if checkpoint else "weights of the last epoch"


class ValidationSequenceFigures(L.Callback):
    """Logs ``val/sequences`` to TensorBoard after the first validation epoch and every
    ``every_n_epochs``-th after it: one row per sequence, its RGB patch in each month (June to
    October, blank where the month has no image), its mean NDVI over the months, and the true
    and predicted class. The same sequences each time, so TensorBoard's step slider shows the
    model learning.

    ``num_sequences`` are picked once, one per class in turn (seeded), from the validation
    split, so rare classes show up too.
    """

    def __init__(self, num_sequences: int = 6, seed: int = 0, every_n_epochs: int = 5) -> None:
        self.num_sequences = num_sequences
        self.every_n_epochs = check_every_n_epochs(
            every_n_epochs, "callbacks.sequence_figures.every_n_epochs"
        )
        self.seed = seed
        # The chosen sequences as the model sees them and their RGB and NDVI, read once.
        self._samples: list[dict] | None = None
        self._shown: list[np.ndarray] | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        datamodule = trainer.datamodule
        if trainer.sanity_checking or not loggers or datamodule is None:
            return
        if not is_figure_epoch(trainer, self.every_n_epochs):
            return
        dataset = datamodule.datasets.get("val")
        if dataset is None or len(dataset) == 0:
            return
        if self._samples is None:
            positions = _pick_per_class(dataset.labels, self.num_sequences, self.seed)
            chosen = [int(dataset.indices[i]) for i in positions]
            self._samples = datamodule.read_sequences(chosen)
            shown = datamodule.read_sequences(chosen, list(_SHOWN_SENSORS))
            self._shown = [sample["image"].numpy() for sample in shown]
        samples = self._samples
        batch = datamodule.on_after_batch_transfer(pad_sequences(samples), 0)
        with torch.no_grad():
            logits = pl_module(
                batch["image"].to(pl_module.device),
                batch["lengths"].to(pl_module.device),
                batch["months"].to(pl_module.device),
            )
        probabilities = torch.softmax(logits.float(), dim=1).cpu().numpy()
        figure = sequence_figure(self._shown, samples, probabilities, list(pl_module.classes))
        for logger in loggers:
            logger.experiment.add_figure("val/sequences", figure, global_step=trainer.global_step)
        plt.close(figure)


def _pick_per_class(labels: np.ndarray, count: int, seed: int) -> list[int]:
    """Up to ``count`` positions, cycling through the classes present."""
    rng = np.random.default_rng(seed)
    pools = {
        label: list(rng.permutation(np.flatnonzero(labels == label)))
        for label in np.unique(labels[labels != UNKNOWN_CLASS])
    }
    chosen: list[int] = []
    while len(chosen) < count and any(pools.values()):
        for pool in pools.values():
            if pool and len(chosen) < count:
                chosen.append(int(pool.pop()))
    return chosen


def sequence_figure(
    shown: list[np.ndarray], samples: list[dict], probabilities: np.ndarray, classes: list[str]
) -> Figure:
    """One row per sequence: its true class, RGB per month, the NDVI curve and the predicted
    class with its probability."""
    rows = len(shown)
    panel = 0.7  # inches per month panel
    figure, axes = plt.subplots(
        rows,
        len(MONTHS) + 1,
        figsize=(panel * (len(MONTHS) + 2), panel * rows + 0.6),
        dpi=_DPI,
        squeeze=False,
        layout="constrained",
        gridspec_kw={"width_ratios": [1] * len(MONTHS) + [2]},
    )
    # One gain for the whole figure, so its months and sequences stay comparable.
    gain = rgb_display_stretch(pixels[:, :3] for pixels in shown).gain
    for row, (pixels, sample, probs) in enumerate(zip(shown, samples, probabilities, strict=True)):
        months = sample["months"].tolist()
        for column, month in enumerate(MONTHS):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(calendar.month_abbr[month], fontsize=9)
            if month in months:
                ax.imshow(rgb_for_display(pixels[months.index(month), :3], gain))
        label = int(sample["label"])
        predicted = int(probs.argmax())
        axes[row, 0].set_ylabel(classes[label] if label != UNKNOWN_CLASS else "unknown", fontsize=8)
        curve = axes[row, -1]
        # Index PNGs store uint8(index * 255).
        ndvi = pixels[:, 3].reshape(len(months), -1).mean(axis=1) / 255
        curve.plot(months, ndvi, marker="o", color="tab:green")
        curve.set_xlim(MONTHS[0] - 0.5, MONTHS[-1] + 0.5)
        curve.set_ylim(0, 1)
        curve.set_xticks(list(MONTHS), [calendar.month_abbr[m][0] for m in MONTHS], fontsize=7)
        curve.tick_params(axis="y", labelsize=7)
        curve.yaxis.tick_right()
        if row == 0:
            curve.set_ylabel("mean NDVI", fontsize=7)
            curve.yaxis.set_label_position("right")
        curve.set_title(
            f"{classes[predicted]} {probs[predicted]:.2f}",
            fontsize=8,
            color="black" if predicted == label else "tab:red",
        )
    figure.suptitle(
        "true class, RGB per month; mean NDVI, predicted class (red: wrong)", fontsize=8
    )
    return figure
