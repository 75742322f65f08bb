"""scripts/predict.py on unlabelled trees, the published HDF5 and prepared files."""

import csv

import numpy as np
import pytest
from PIL import Image

from cropland.data.layout import CLASSES
from cropland.data.prepared_file import PreparedFile
from tests.predict_runs import run_predict, unlabelled_tree
from tests.published_format import write_published_from_tree
from tests.script_runs import call_script


def _read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _predict(checkpoint, source, output, *extra):
    result = run_predict(checkpoint, source, output, *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    return _read(output)


def _predict_fails(checkpoint, source, output):
    result = run_predict(checkpoint, source, output)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    return result


def test_unlabelled_tree_gets_one_row_per_sequence(trained_run, synthetic_tree, tmp_path):
    points = unlabelled_tree(synthetic_tree, tmp_path / "new")
    rows = _predict(trained_run.best_checkpoint, tmp_path / "new", tmp_path / "pred.csv")
    assert {int(r["point"]) for r in rows} == points  # every point, even with one image
    assert list(rows[0])[:8] == [
        "point",
        "province",
        "year",
        "months",
        "images",
        "skipped_months",
        "predicted",
        "probability",
    ]
    for row in rows:
        probabilities = np.array([float(row[f"p_{c}"]) for c in CLASSES])
        assert probabilities.sum() == pytest.approx(1, abs=1e-4)
        assert row["predicted"] == CLASSES[int(probabilities.argmax())]
        assert float(row["probability"]) == pytest.approx(probabilities.max())
        months = [int(m) for m in row["months"].split()]
        assert len(months) == int(row["images"]) and 1 <= len(months) <= 5
        assert months == sorted(months) and set(months) <= {6, 7, 8, 9, 10}
        assert row["skipped_months"] == ""  # every file of this tree is usable
    assert (tmp_path / "pred.input_summary.json").is_file()


def test_same_sequences_give_the_same_probabilities_from_any_input(
    trained_run, synthetic_tree, prepared_file, tmp_path
):
    from_prepared = {
        (r["point"], r["year"]): r
        for r in _predict(trained_run.best_checkpoint, prepared_file, tmp_path / "a.csv")
    }
    published = write_published_from_tree(synthetic_tree, tmp_path / "dataset_ca_19.hdf5")
    from_published = _predict(trained_run.best_checkpoint, published, tmp_path / "b.csv")
    # The published file also holds the short sequences the prepared file left out.
    assert len(from_published) > len(from_prepared)
    compared = 0
    for row in from_published:
        key = (row["point"], row["year"])
        if key in from_prepared:
            assert row["months"] == from_prepared[key]["months"]
            for c in CLASSES:
                assert float(row[f"p_{c}"]) == pytest.approx(
                    float(from_prepared[key][f"p_{c}"]), abs=1e-5
                )
            compared += 1
    assert compared == len(PreparedFile(prepared_file).sequences)


def test_missing_sensor_folder_names_what_the_model_needs(trained_run, synthetic_tree, tmp_path):
    unlabelled_tree(synthetic_tree, tmp_path / "new", sensors=("RGB", "GNDVI"), points=3)
    result = _predict_fails(trained_run.best_checkpoint, tmp_path / "new", tmp_path / "pred.csv")
    assert "has no NDVI45 folder; the model needs patches of RGB, NDVI45, GNDVI" in result.stderr
    assert not (tmp_path / "pred.csv").exists()


def test_wrong_image_size_names_a_file_and_the_expected_size(trained_run, synthetic_tree, tmp_path):
    unlabelled_tree(synthetic_tree, tmp_path / "new", points=2)
    for path in (tmp_path / "new").glob("*/*.png"):
        Image.open(path).resize((64, 64)).save(path)
    result = _predict_fails(trained_run.best_checkpoint, tmp_path / "new", tmp_path / "pred.csv")
    assert "65x65" in result.stderr and "wrong_size" in result.stderr
    assert "64x64 pixels" in result.stderr and ".png" in result.stderr


def test_missing_input_is_one_line(trained_run, tmp_path):
    result = call_script(
        "predict.py",
        f"ckpt_path={trained_run.best_checkpoint}",
        f"input={tmp_path / 'x'}",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    )
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr
