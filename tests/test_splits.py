from collections import Counter

import numpy as np
import pytest

from cropland.data.layout import UNKNOWN_CLASS
from cropland.data.prepared_file import PreparedFile, SequenceTable
from cropland.data.splits import (
    NO_SPLIT,
    TEST,
    TRAIN,
    VAL,
    assign_splits,
    predefined_split,
    stratified_group_split,
)
from cropland.errors import CroplandError


def _dataset(seed: int = 0):
    rng = np.random.default_rng(seed)
    # 600 points, some with two sequences (two years), imbalanced classes incl. a rare one.
    points = np.concatenate([np.arange(600), rng.choice(600, 150, replace=False)])
    class_of_point = rng.choice(5, 600, p=[0.4, 0.3, 0.15, 0.12, 0.03])
    return class_of_point[points], points


def test_no_point_sits_in_two_splits():
    labels, points = _dataset()
    split_ids = stratified_group_split(labels, points, 0.1, 0.1, seed=42)
    for point in np.unique(points):
        assert len(set(split_ids[points == point])) == 1


def test_each_class_is_split_in_proportion():
    labels, points = _dataset()
    split_ids = stratified_group_split(labels, points, 0.1, 0.1, seed=42)
    for label in np.unique(labels):
        of_class = split_ids[labels == label]
        for split_id, fraction in ((TRAIN, 0.8), (VAL, 0.1), (TEST, 0.1)):
            share = np.mean(of_class == split_id)
            # Whole points move, so allow a few sequences of slack on small classes.
            assert abs(share - fraction) <= 0.05 + 3 / len(of_class), (label, split_id, share)
        assert {TRAIN, VAL, TEST} <= set(of_class.tolist())


def test_split_is_seeded():
    labels, points = _dataset()
    first = stratified_group_split(labels, points, 0.1, 0.1, seed=1)
    assert np.array_equal(first, stratified_group_split(labels, points, 0.1, 0.1, seed=1))
    assert not np.array_equal(first, stratified_group_split(labels, points, 0.1, 0.1, seed=2))


def test_bad_fractions_name_the_keys():
    labels, points = _dataset()
    with pytest.raises(CroplandError, match="data.val_fraction"):
        stratified_group_split(labels, points, 0.6, 0.5, seed=1)


def test_predefined_split_uses_folders():
    folders = np.array(["training", "test", "validation", "training"], dtype=object)
    assert predefined_split(folders).tolist() == [TRAIN, TEST, VAL, TRAIN]
    with pytest.raises(CroplandError, match="predefined"):
        predefined_split(np.array(["training", "other"], dtype=object))


def test_province_split_tests_on_one_province_only(prepared_file):
    sequences = PreparedFile(prepared_file).sequences
    province = Counter(sequences.province.tolist()).most_common(1)[0][0]
    split_ids = assign_splits(sequences, "province", 0.1, 0.0, seed=0, test_province=province)
    known = sequences.label != UNKNOWN_CLASS
    assert set(sequences.province[(split_ids == TEST) & known].tolist()) == {province}
    assert province not in set(sequences.province[(split_ids != TEST) & known].tolist())
    assert (split_ids[known] == VAL).any() and (split_ids[known] == TRAIN).any()
    # Grouped by point: no point in training and validation both.
    train_points = set(sequences.point[split_ids == TRAIN].tolist())
    assert not train_points & set(sequences.point[split_ids == VAL].tolist())


def test_province_split_names_the_provinces_it_can_hold_out(prepared_file):
    sequences = PreparedFile(prepared_file).sequences
    with pytest.raises(CroplandError, match=r"data.test_province, one of the provinces .*'YT'"):
        assign_splits(sequences, "province", 0.1, 0.0, seed=0, test_province="YT")


def test_sequences_of_unknown_class_get_no_split():
    labels = np.array([0, UNKNOWN_CLASS, 1, 0, UNKNOWN_CLASS, 1])
    folders = np.array(["training", "test", "validation", "test", "training", "training"])
    sequences = SequenceTable(
        start=np.arange(6),
        length=np.ones(6, dtype=np.int64),
        point=np.arange(6),
        province=np.full(6, "QC", dtype=object),
        year=np.full(6, 2019),
        label=labels,
        split_folder=folders.astype(object),
    )
    for split_method in ("stratified", "predefined"):
        split_ids = assign_splits(sequences, split_method, 0.2, 0.2, seed=0)
        assert (split_ids == NO_SPLIT).tolist() == (labels == UNKNOWN_CLASS).tolist()
        assert set(split_ids[labels != UNKNOWN_CLASS].tolist()) <= {TRAIN, VAL, TEST}
