"""The non-deep baseline: a random forest on month x channel centre means.

A sequence becomes one feature per (month, channel): the mean of the channel over the patch's
centre, or NaN when the sequence has no image that month (scikit-learn's forests split on
missing values). The split, channels and classes are the DataModule's, so the forest's scores
compare with a network's run for run; ``metrics.json`` uses the same keys.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from cropland.data.layout import MONTHS
from cropland.data.sequence_dataset import CropSequenceDataset
from cropland.errors import CroplandError
from cropland.io import write_json_atomic, write_text_atomic
from cropland.training.metrics import classification_metrics, flatten_metrics
from cropland.training.report import classification_report, save_confusion_figures

log = logging.getLogger(__name__)


def month_channel_means(dataset: CropSequenceDataset, centre: int) -> np.ndarray:
    """(sequences, months x channels) centre means on the [0, 1] scale; NaN for a month the
    sequence has no image in."""
    features = []
    for item in range(len(dataset)):
        sample = dataset[item]
        image = sample["image"].numpy().astype(np.float32) / 255
        size = image.shape[-1]
        low = max((size - centre) // 2, 0)
        means = image[:, :, low : low + centre, low : low + centre].mean(axis=(-2, -1))
        row = np.full((len(MONTHS), image.shape[1]), np.nan, dtype=np.float32)
        for step, month in enumerate(sample["months"].tolist()):
            if month in MONTHS:  # the dataset's months; any other has no feature
                row[MONTHS.index(month)] = means[step]
        features.append(row.ravel())
    return np.stack(features) if features else np.zeros((0, len(MONTHS)), dtype=np.float32)


def train_forest(cfg: DictConfig) -> dict[str, float]:
    """Fit the forest on the training split, score validation and test; write metrics.json,
    report.txt and confusion figures into the run folder, as ``train`` does."""
    try:
        from sklearn.ensemble import RandomForestClassifier
    except ImportError as error:
        raise CroplandError(
            "the random forest needs scikit-learn: .venv/bin/python -m pip install -e "
            "'.[baseline]' (scripts/setup.sh installs it)"
        ) from error
    settings = cfg.forest
    if not isinstance(settings.centre, int) or settings.centre < 1:
        raise CroplandError(f"forest.centre={settings.centre!r}: expected pixels, at least 1")
    if not isinstance(settings.trees, int) or settings.trees < 1:
        raise CroplandError(f"forest.trees={settings.trees!r}: expected at least 1 tree")
    output_dir = Path(cfg.paths.output_dir)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    features = {
        name: month_channel_means(dataset, settings.centre)
        for name, dataset in datamodule.datasets.items()
    }
    forest = RandomForestClassifier(
        n_estimators=settings.trees,
        class_weight="balanced",
        random_state=settings.seed,
        n_jobs=settings.jobs,
    )
    started = time.perf_counter()
    forest.fit(features["train"], datamodule.datasets["train"].labels)
    metrics: dict[str, float] = {"time/seconds_to_fit": time.perf_counter() - started}

    confusion = None
    for stage in ("val", "test"):
        labels = datamodule.datasets[stage].labels
        if not len(labels):
            continue
        predicted = forest.predict(features[stage])
        collection = classification_metrics(len(datamodule.classes))
        collection.update(torch.from_numpy(predicted), torch.from_numpy(labels))
        computed = {f"{stage}/{k}": v for k, v in collection.compute().items()}
        metrics.update(flatten_metrics(computed, f"{stage}/", datamodule.classes))
        confusion = computed[f"{stage}/confusion"].numpy()
    if confusion is not None and len(datamodule.datasets["test"].labels):
        metrics["test/sequences"] = int(confusion.sum())
        report = classification_report(confusion, datamodule.classes)
        Console().print(f"\n[bold]Test set, random forest[/bold]\n{report}\n", highlight=False)
        write_text_atomic(output_dir / "report.txt", report + "\n")
        save_confusion_figures(confusion, datamodule.classes, output_dir)
    write_json_atomic(output_dir / "metrics.json", dict(sorted(metrics.items())))
    log.info("Run folder: %s", output_dir)
    return metrics
