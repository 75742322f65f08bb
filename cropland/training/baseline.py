"""The non-deep baselines behind ``scripts/train_baseline.py``: a scikit-learn classifier on
per-month statistics of each sequence (``cropland.training.baseline_features``).

The estimator comes from ``conf/baseline/<choice>.yaml`` through ``_target_``. The split,
channels and classes are the DataModule's, so a baseline's scores compare with a network's run
for run; ``metrics.json`` uses the same keys, plus ``model/name``. Only the training split is
fitted on: an estimator that stops early holds out its own fraction of it (gradient
boosting's ``validation_fraction``), so the validation split stays a held-out score here too.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from rich.console import Console

from cropland.data.datamodule import CropSequenceDataModule
from cropland.errors import CroplandError
from cropland.io import write_json_atomic, write_text_atomic
from cropland.training.baseline_features import check_feature_settings, sequence_features
from cropland.training.figures import save_confusion_figures
from cropland.training.hparams import run_tags
from cropland.training.scores import classification_metrics, classification_report, flatten_metrics
from cropland.training.test_predictions import write_test_predictions

log = logging.getLogger(__name__)

# scikit-learn's words for a parameter it refuses (InvalidParameterError's message).
_INVALID_PARAMETER = re.compile(
    r"The '(?P<key>\w+)' parameter of (?P<estimator>\w+) must be (?P<expected>.+)\. "
    r"Got (?P<got>.+) instead\."
)
# What only the data can refuse: early stopping's stratified hold-out (train_test_split) needs
# two sequences of every class and at least one per class in the hold-out.
_TOO_FEW_TO_HOLD_OUT = re.compile(
    r"least populated class|greater or equal to the number of classes"
)


def train_baseline(cfg: DictConfig) -> dict[str, Any]:
    """Fit the baseline on the training split, score validation and test; write metrics.json,
    report.txt, confusion figures and test_predictions.csv into the run folder, as ``train``
    does."""
    try:
        from sklearn.base import BaseEstimator, is_classifier
    except ImportError as error:
        raise CroplandError(
            "the baselines need scikit-learn: .venv/bin/python -m pip install -e "
            "'.[baseline]' (scripts/setup.sh installs it)"
        ) from error
    kinds, centre = check_feature_settings(
        OmegaConf.to_container(cfg.features.kinds)
        if OmegaConf.is_list(cfg.features.kinds)
        else cfg.features.kinds,
        cfg.features.centre,
    )
    name = cfg.baseline.get("name")
    if not isinstance(name, str) or not name:
        raise CroplandError(
            f"baseline.name={name!r}: expected the model's name in metrics.json and benchmark "
            f"tables, e.g. random_forest; set it in {_baseline_file()}"
        )
    # Built and checked before any data is read, so a typo costs no read.
    estimator = _build_estimator(cfg.baseline.get("estimator"))
    if not (isinstance(estimator, BaseEstimator) and is_classifier(estimator)):
        raise CroplandError(
            f"baseline.estimator._target_={cfg.baseline.estimator._target_}: expected a "
            f"scikit-learn classifier, e.g. sklearn.ensemble.RandomForestClassifier"
        )

    output_dir = Path(cfg.paths.output_dir)
    datamodule: CropSequenceDataModule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_text_atomic(output_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    started = time.perf_counter()
    features = {
        split: sequence_features(dataset, kinds, centre)
        for split, dataset in datamodule.datasets.items()
    }
    metrics: dict[str, Any] = {"time/seconds_for_features": time.perf_counter() - started}
    log.info("Features: %d per sequence (%s)", features["train"].shape[1], ", ".join(kinds))
    started = time.perf_counter()
    _fit(estimator, features["train"], datamodule.datasets["train"].labels)
    metrics["time/seconds_to_fit"] = time.perf_counter() - started
    metrics["model/name"] = name
    metrics["model/features"] = features["train"].shape[1]
    if hasattr(estimator, "n_iter_"):  # boosting rounds run before early stopping ended them
        metrics["model/iterations"] = int(estimator.n_iter_)

    confusion = None
    for stage in ("val", "test"):
        labels = datamodule.datasets[stage].labels
        if not len(labels):
            continue
        predicted = estimator.predict(features[stage])
        collection = classification_metrics(len(datamodule.classes))
        collection.update(torch.from_numpy(predicted), torch.from_numpy(labels))
        computed = {f"{stage}/{k}": v for k, v in collection.compute().items()}
        metrics.update(flatten_metrics(computed, f"{stage}/", datamodule.classes))
        confusion = computed[f"{stage}/confusion"].numpy()
    if confusion is not None and len(datamodule.datasets["test"].labels):
        metrics["test/sequences"] = int(confusion.sum())
        report = classification_report(confusion, datamodule.classes)
        Console().print(f"\n[bold]Test set, {name}[/bold]\n{report}\n", highlight=False)
        write_text_atomic(output_dir / "report.txt", report + "\n")
        weights = f"{name} baseline"
        save_confusion_figures(confusion, datamodule.classes, output_dir, "test", weights)
        test = datamodule.datasets["test"]
        write_test_predictions(output_dir, datamodule, test.indices, test.labels, predicted)
    else:
        log.warning("The test split is empty (data.test_fraction=0?): nothing to test.")
    record = {**metrics, "tags": run_tags(cfg)}
    write_json_atomic(output_dir / "metrics.json", dict(sorted(record.items())))
    log.info("Run folder: %s", output_dir)
    return metrics


def _build_estimator(settings: DictConfig | None) -> Any:
    """The estimator of ``baseline.estimator``, its parameters checked by scikit-learn."""
    if not isinstance(settings, DictConfig) or "_target_" not in settings:
        raise CroplandError(
            f"baseline.estimator: expected a mapping with a _target_, e.g. _target_: "
            f"sklearn.ensemble.RandomForestClassifier; see {_baseline_file()}"
        )
    try:
        estimator = instantiate(settings)
    except InstantiationException as error:
        reason = error.__cause__ if error.__cause__ is not None else error
        first = str(reason).strip().splitlines()[0] if str(reason).strip() else type(reason)
        raise CroplandError(
            f"baseline.estimator (_target_={settings._target_}) could not be built: {first}; "
            f"fix {_baseline_file()} or the baseline.estimator.* overrides"
        ) from error
    # The check scikit-learn runs first thing in fit; run here, before the data is read.
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None:
        try:
            validate()
        except (ValueError, TypeError) as error:
            refusal = _parameter_refusal(error)
            if refusal is None:
                raise
            raise refusal from error
    return estimator


def _fit(estimator: Any, features: np.ndarray, labels: np.ndarray) -> None:
    try:
        estimator.fit(features, labels)
    except (ValueError, TypeError) as error:
        refusal = _parameter_refusal(error)
        if refusal is not None:
            raise refusal from error
        if not _TOO_FEW_TO_HOLD_OUT.search(str(error)):
            raise
        raise CroplandError(
            f"baseline={_baseline_choice()}: the training split ({len(labels)} sequences) is "
            f"too small for the estimator's stratified hold-out: {str(error).splitlines()[0]}; "
            "use more data, a larger baseline.estimator.validation_fraction, or "
            "baseline.estimator.early_stopping=false"
        ) from error


def _parameter_refusal(error: Exception) -> CroplandError | None:
    """scikit-learn's refusal of a parameter as one line naming the config key; None for any
    other error."""
    match = _INVALID_PARAMETER.search(str(error))
    if match is None:
        return None
    key = match["key"]
    return CroplandError(
        f"baseline.estimator.{key}={match['got']}: {match['estimator']} expects "
        f"{match['expected']}; set it in {_baseline_file()} or on the command line "
        f"(baseline.estimator.{key}=...)"
    )


def _baseline_choice() -> str:
    """The ``baseline=`` option of this run (rf, hgb); "?" outside a Hydra run."""
    try:
        return str(HydraConfig.get().runtime.choices.get("baseline", "?"))
    except ValueError:
        return "?"


def _baseline_file() -> str:
    return f"conf/baseline/{_baseline_choice()}.yaml"
