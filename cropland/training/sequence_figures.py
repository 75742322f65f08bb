"""TensorBoard figures of a few validation sequences: what the model saw and what it said.

Each row is one sequence: its RGB patch in each month (June to October, blank where the
month has no image), its mean NDVI over the months, and the true and predicted class. The
same sequences are drawn every epoch, so TensorBoard's step slider shows the model learning.
"""

from __future__ import annotations

import calendar

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from matplotlib.figure import Figure

from cropland.data.layout import MONTHS
from cropland.data.prepared_file import PreparedFile
from cropland.data.sequence_dataset import pad_sequences
from cropland.plotting import plt

_SHOWN_CHANNELS = ("red", "green", "blue", "ndvi")


class ValidationSequenceFigures(L.Callback):
    """Logs ``val/sequences`` to TensorBoard after each validation epoch.

    ``num_sequences`` are picked once, one per class in turn (seeded), from the validation
    split, so rare classes show up too.
    """

    def __init__(self, num_sequences: int = 6, seed: int = 0) -> None:
        self.num_sequences = num_sequences
        self.seed = seed
        self._chosen: list[int] | None = None
        self._shown: list[np.ndarray] | None = None  # their RGB and NDVI, read once

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loggers = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        datamodule = trainer.datamodule
        if trainer.sanity_checking or not loggers or datamodule is None:
            return
        dataset = datamodule.datasets.get("val")
        if dataset is None or len(dataset) == 0:
            return
        if self._chosen is None:
            self._chosen = _pick_per_class(dataset.labels, self.num_sequences, self.seed)
        samples = [dataset[i] for i in self._chosen]
        if self._shown is None:
            self._shown = _shown_pixels(datamodule.path, [int(s["index"]) for s in samples])
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
        for label in np.unique(labels[labels >= 0])
    }
    chosen: list[int] = []
    while len(chosen) < count and any(pools.values()):
        for pool in pools.values():
            if pool and len(chosen) < count:
                chosen.append(int(pool.pop()))
    return chosen


def _shown_pixels(path, sequence_indices: list[int]) -> list[np.ndarray]:
    """RGB and NDVI of each sequence, read from the file whatever channels the model uses."""
    source = PreparedFile(path)
    channels = [source.channels.index(c) for c in _SHOWN_CHANNELS]
    sequences = source.sequences
    return [
        source.read_records(sequences.start[i], sequences.start[i] + sequences.length[i], channels)
        for i in sequence_indices
    ]


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """(3, H, W) uint8 -> (H, W, 3) floats for display; real patches are dark, so stretch
    each one between its 2nd and 98th percentiles."""
    image = rgb.transpose(1, 2, 0).astype(np.float32)
    low, high = np.percentile(image, [2, 98])
    return np.clip((image - low) / max(high - low, 1.0), 0, 1)


def sequence_figure(
    shown: list[np.ndarray], samples: list[dict], probabilities: np.ndarray, classes: list[str]
) -> Figure:
    """One row per sequence: RGB per month, the NDVI curve, true vs predicted class."""
    rows = len(shown)
    figure, axes = plt.subplots(
        rows,
        len(MONTHS) + 1,
        figsize=(2 * (len(MONTHS) + 1.6), 2 * rows),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"width_ratios": [1] * len(MONTHS) + [1.6]},
    )
    for row, (pixels, sample, probs) in enumerate(zip(shown, samples, probabilities, strict=True)):
        months = sample["months"].tolist()
        for column, month in enumerate(MONTHS):
            ax = axes[row, column]
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(calendar.month_abbr[month])
            if month in months:
                ax.imshow(_stretch(pixels[months.index(month), :3]))
        label = int(sample["label"])
        predicted = int(probs.argmax())
        axes[row, 0].set_ylabel(classes[label] if label >= 0 else "unknown", fontsize=9)
        curve = axes[row, -1]
        # Index PNGs store uint8(index * 255).
        ndvi = pixels[:, 3].reshape(len(months), -1).mean(axis=1) / 255
        curve.plot(months, ndvi, marker="o", color="tab:green")
        curve.set_xlim(MONTHS[0] - 0.5, MONTHS[-1] + 0.5)
        curve.set_ylim(0, 1)
        curve.set_xticks(list(MONTHS), [calendar.month_abbr[m] for m in MONTHS], fontsize=7)
        curve.set_ylabel("mean NDVI", fontsize=8)
        verdict = "right" if predicted == label else "wrong"
        curve.set_title(
            f"true {classes[label] if label >= 0 else '?'}\n"
            f"predicted {classes[predicted]} ({probs[predicted]:.2f}, {verdict})",
            fontsize=8,
            color="black" if verdict == "right" else "tab:red",
        )
    return figure
