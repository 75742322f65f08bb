"""``test_predictions.csv``: every test sequence's label and predicted class, written by the
networks' and the baselines' runs alike, so that two runs on the same test split can be compared
sequence by sequence (the benchmark table's paired bootstrap)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cropland.data.datamodule import CropSequenceDataModule
from cropland.io import write_text_atomic

TEST_PREDICTIONS_FILE = "test_predictions.csv"
TEST_PREDICTION_COLUMNS = ("sequence", "point", "label", "predicted")


def write_test_predictions(
    output_dir: Path,
    datamodule: CropSequenceDataModule,
    sequences: np.ndarray,
    labels: np.ndarray,
    predicted: np.ndarray,
    overwrite: bool = False,
) -> None:
    """``test_predictions.csv``: one row per test sequence (``sequences`` are indices in the
    prepared file), in file order; one already there is replaced only with ``overwrite``."""
    sequences = np.asarray(sequences, dtype=np.int64)
    points = datamodule.prepared_file.sequences.point[sequences]
    order = np.argsort(sequences, kind="stable")
    rows = np.stack([sequences, points, np.asarray(labels), np.asarray(predicted)], axis=1)
    lines = [",".join(TEST_PREDICTION_COLUMNS)]
    lines += [",".join(map(str, row)) for row in rows[order].tolist()]
    text = "\n".join(lines) + "\n"
    write_text_atomic(output_dir / TEST_PREDICTIONS_FILE, text, overwrite=overwrite)
