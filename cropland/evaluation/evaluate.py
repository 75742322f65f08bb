"""The pipeline behind ``scripts/eval.py``: score a checkpoint on the test split of a prepared file.

Writes ``metrics.json``, ``report.txt``, ``per_class.csv``, ``early_season.csv`` and the
confusion-matrix and early-season figures into the run folder.
"""

from __future__ import annotations

import calendar
import csv
import io
import logging
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import track

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.splits import SCORE_ALL
from cropland.errors import CroplandError
from cropland.evaluation.bootstrap import bootstrap_intervals
from cropland.evaluation.early_season import (
    early_season_figure,
    early_season_table,
    early_season_text,
)
from cropland.inference.batch_prediction import predict
from cropland.inference.checkpoint_choice import checkpoint_of
from cropland.inference.model_loading import LoadedModel, load_model, wrap_published
from cropland.io import save_figure_atomic, write_json_atomic, write_text_atomic
from cropland.plotting import plt
from cropland.training.figures import save_confusion_figures
from cropland.training.module import CropSequenceClassifier
from cropland.training.scores import (
    PER_CLASS,
    accuracy_and_macro_f1,
    classification_report,
    confusion_matrix,
    per_class_key,
    per_class_scores,
)

log = logging.getLogger(__name__)

# Data settings taken from the training run unless given on the command line: the same
# file, split and seed give back the same test split.
_FROM_TRAINING = (
    "path",
    "split",
    "val_fraction",
    "test_fraction",
    "test_province",
    "seed",
    "synthetic",
)


def evaluate(cfg: DictConfig, data_keys_given: set[str] | None = frozenset()) -> dict:
    """Score ``cfg.ckpt_path`` on the test split; returns what metrics.json holds.

    ``data_keys_given`` are the ``data.`` keys the user set (None: the whole group chosen);
    the file and split settings the user did not set come from the training run.
    """
    _check_bootstrap(cfg.bootstrap)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    loaded = load_model(checkpoint_of(cfg))
    trained = _trained_data(loaded)
    datamodule = _datamodule(cfg.data, loaded, trained, data_keys_given)
    datamodule.prepare_data()
    datamodule.setup("test")
    model = _classifier(loaded, datamodule)
    trained_path = Path(trained["path"]) if trained and trained.get("path") else None
    warnings = _split_warnings(loaded, datamodule, trained_path)

    def batches(description: str):
        return track(
            datamodule.test_dataloader(),
            description=f"{description:<22}",
            disable=not cfg.progress,
        )

    to_model_input = datamodule.to_model_input
    full = predict(model, batches("test, full season"), to_model_input)
    if len(full.label) == 0:
        raise CroplandError(f"the test split of {datamodule.path} is empty; nothing to score")
    num_classes = len(model.classes)
    confusion = confusion_matrix(full.label, full.predicted, num_classes)
    accuracy, macro_f1 = accuracy_and_macro_f1(confusion)
    intervals = bootstrap_intervals(
        full.label, full.predicted, num_classes, **OmegaConf.to_container(cfg.bootstrap)
    )
    season = early_season_table(
        model,
        lambda month: batches(f"test, up to {calendar.month_name[month]}"),
        to_model_input,
        full,
        num_classes,
    )

    metrics = {
        "checkpoint": str(loaded.path),
        "model": "published weights" if loaded.is_published else "cropland checkpoint",
        "data": str(datamodule.path),
        "split": datamodule.split,
        "test_sequences": int(len(full.label)),
        "test/acc": accuracy,
        "test/f1_macro": macro_f1,
        **_per_class_metrics(confusion, model.classes),
        "bootstrap": {
            "resamples": cfg.bootstrap.resamples,
            "level": cfg.bootstrap.level,
            "test/acc": list(intervals["acc"]),
            "test/f1_macro": list(intervals["f1_macro"]),
        },
        "early_season": season,
        "warnings": warnings,
    }
    _write_outputs(output_dir, metrics, confusion, model.classes, season)
    return metrics


def _check_bootstrap(settings: DictConfig) -> None:
    """Refuse settings the bootstrap cannot use before anything is loaded or written."""
    resamples, level = settings.resamples, settings.level
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 1:
        raise CroplandError(
            f"bootstrap.resamples={resamples!r}: expected a whole number of resamples of the "
            "test sequences, at least 1; leave it out for the default, 1000"
        )
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise CroplandError(
            f"bootstrap.level={level!r}: expected the share of resamples the interval covers, "
            "strictly between 0 and 1 (0.95 for a 95% interval)"
        )


def _datamodule(
    data: DictConfig, loaded: LoadedModel, trained: dict | None, given: set[str] | None
) -> CropSequenceDataModule:
    """The data group as composed, with the file and split settings of the training run (its
    config.yaml) wherever the command line does not set them."""
    settings = OmegaConf.to_container(data, resolve=True)
    settings.pop("_target_", None)
    if given is not None and trained is not None:
        if "path" in given and settings["path"] != trained.get("path"):
            given = {*given, "synthetic"}  # another file: never generate data in its place
        settings.update({k: trained[k] for k in _FROM_TRAINING if k in trained and k not in given})
    if not settings.get("path"):
        raise CroplandError(
            f"data.path: no training config.yaml beside {loaded.path} says which data it was "
            "trained on; give the prepared file to score on, e.g. data.path=data/ca19.h5"
        )
    return CropSequenceDataModule(**{**settings, **loaded.data_settings()})


def _classifier(loaded: LoadedModel, datamodule: CropSequenceDataModule) -> CropSequenceClassifier:
    if loaded.is_published:
        inputs = datamodule.model_inputs()
        return wrap_published(loaded.published_net, inputs["channel_mean"], inputs["channel_std"])
    model = loaded.classifier
    if list(datamodule.classes) != list(model.classes):
        raise CroplandError(
            f"{datamodule.path} has classes {list(datamodule.classes)} but {loaded.path} was "
            f"trained on {list(model.classes)}; score it on data prepared the same way"
        )
    return model


def _trained_data(loaded: LoadedModel) -> dict | None:
    """The data group of the model's training run (its config.yaml), if there is one."""
    config = loaded.run_folder / "config.yaml" if loaded.run_folder else None
    if config is None or not config.is_file():
        return None
    return OmegaConf.to_container(OmegaConf.load(config).data, resolve=True)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return a.resolve() == b.resolve()


def _split_warnings(
    loaded: LoadedModel, datamodule: CropSequenceDataModule, trained_path: Path | None
) -> list[str]:
    """Say when the scored sequences may hold sequences the model was trained on."""
    scoring_all = datamodule.split == SCORE_ALL
    if loaded.is_published:
        message = (
            "published weights: they were trained on the published project's own random split, "
            "which cannot be rebuilt here, so this test split may hold sequences they were "
            "trained on; the scores can be optimistic"
        )
        if scoring_all:
            message = (
                "published weights: they were trained on part of the published dataset; if "
                f"{datamodule.path} holds any of it, the scores can be optimistic"
            )
    elif scoring_all:
        if trained_path is None or not _same_file(datamodule.path, trained_path):
            return []
        message = (
            f"data.split=all on {datamodule.path}, the file this model was trained on: the "
            "scores include its training sequences; give a file it never saw"
        )
    else:
        stored = np.asarray(loaded.classifier.hparams.channel_mean)
        if np.allclose(stored, datamodule.channel_mean, rtol=1e-4, atol=1e-6):
            return []
        message = (
            "the training split computed here is not the one this model was trained on (its "
            "normalization statistics differ): the test split may hold training sequences; "
            "use the training run's data.path, data.split and data.seed, or data.split=all "
            "to score every labelled sequence of a file the model never saw"
        )
    log.warning(message)
    return [message]


def _per_class_metrics(confusion: np.ndarray, classes: list[str]) -> dict[str, float]:
    scores = per_class_scores(confusion)
    return {
        per_class_key("test", name, label): float(scores[name][i])
        for name in PER_CLASS
        for i, label in enumerate(classes)
    }


def _per_class_csv(confusion: np.ndarray, classes: list[str]) -> str:
    scores = per_class_scores(confusion)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", "precision", "recall", "f1", "support"])
    for i, name in enumerate(classes):
        writer.writerow(
            [name, *(f"{scores[k][i]:.4f}" for k in PER_CLASS), int(scores["support"][i])]
        )
    return buffer.getvalue()


def _season_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _report(metrics: dict, confusion: np.ndarray, classes: list[str], season: list[dict]) -> str:
    interval = metrics["bootstrap"]
    level = round(100 * interval["level"])
    lines = [
        f"checkpoint: {metrics['checkpoint']} ({metrics['model']})",
        f"data: {metrics['data']}, {_scored_part(metrics)}, {metrics['test_sequences']} sequences",
        *(f"warning: {w}" for w in metrics["warnings"]),
        "",
        classification_report(confusion, classes),
        "",
        f"{level}% bootstrap intervals ({interval['resamples']} resamples of the test sequences):",
        "  accuracy  {:.3f}  [{:.3f}, {:.3f}]".format(metrics["test/acc"], *interval["test/acc"]),
        "  macro F1  {:.3f}  [{:.3f}, {:.3f}]".format(
            metrics["test/f1_macro"], *interval["test/f1_macro"]
        ),
        "",
        "Early season (only the images taken up to each month):",
        early_season_text(season),
    ]
    return "\n".join(lines)


def _scored_part(metrics: dict) -> str:
    return "every labelled sequence" if metrics["split"] == SCORE_ALL else "test split"


def _write_outputs(
    folder: Path, metrics: dict, confusion: np.ndarray, classes: list[str], season: list[dict]
) -> None:
    report = _report(metrics, confusion, classes, season)
    Console().print(report, highlight=False)
    write_json_atomic(folder / "metrics.json", metrics)
    write_text_atomic(folder / "report.txt", report + "\n")
    write_text_atomic(folder / "per_class.csv", _per_class_csv(confusion, classes))
    write_text_atomic(folder / "early_season.csv", _season_csv(season))
    weights = f"{metrics['model']} {Path(metrics['checkpoint']).name}"
    save_confusion_figures(confusion, classes, folder, _scored_part(metrics), weights)
    figure = early_season_figure(season)
    save_figure_atomic(figure, folder / "early_season.png", dpi=120)
    plt.close(figure)
    log.info("Evaluation folder: %s", folder)
