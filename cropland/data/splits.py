"""Train/validation/test assignment of sequences: stratified by class and grouped by point,
the tree's own folders, or one province held out for testing (spatial transfer)."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from cropland.data.layout import UNASSIGNED, UNKNOWN_CLASS
from cropland.data.prepared_file import SequenceTable
from cropland.errors import CroplandError

# Split ids, and the split name of each, in that order.
TRAIN, VAL, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "val", "test")
# Split id of a sequence whose crop is not one of the file's classes: no split uses it.
NO_SPLIT = -1
# The ways of splitting (data.split). "all" puts every labelled sequence in the test split: for
# scoring a trained model on data it never saw (a new region or year), never for training.
SPLIT_METHODS = ("stratified", "predefined", "province", "all")
# data.split when none is given (conf/data/prepared.yaml says the same): the tree's folders are
# not used unless asked for.
DEFAULT_SPLIT = "stratified"
SCORE_ALL = "all"
# Split id of each split folder of the dataset tree.
SPLIT_ID_OF_FOLDER = {"training": TRAIN, "validation": VAL, "test": TEST}


def stratified_group_split(
    labels: np.ndarray,
    groups: np.ndarray,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> np.ndarray:
    """Assign each sequence a split id so that no group (point) sits in two splits.

    A point may hold several sequences (one per year in the multi-year release); keeping them
    together stops a model from being tested on a field it saw in training. Each point joins
    the stratum of its most common label; within a stratum, points are shuffled and dealt to
    test, then validation, until each holds its fraction of that stratum's sequences. A class
    with at least three points gets at least one point in each split.
    """
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
        raise CroplandError(
            f"data.val_fraction={val_fraction} and data.test_fraction={test_fraction} must be "
            "in [0, 1) and leave some data for training"
        )
    labels = np.asarray(labels)
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)

    sequences_of: dict[object, list[int]] = defaultdict(list)
    for index, group in enumerate(groups.tolist()):
        sequences_of[group].append(index)
    strata: dict[int, list[object]] = defaultdict(list)
    for group, members in sequences_of.items():
        label = Counter(labels[members].tolist()).most_common(1)[0][0]
        strata[label].append(group)

    split_ids = np.full(len(labels), TRAIN, dtype=np.int64)
    for label in sorted(strata):
        stratum = strata[label]
        order = rng.permutation(len(stratum))
        total = sum(len(sequences_of[stratum[i]]) for i in order)
        targets = [(TEST, test_fraction), (VAL, val_fraction)]
        position = 0
        for split_id, fraction in targets:
            want = round(fraction * total)
            if fraction > 0 and want == 0 and len(stratum) >= 3:
                want = 1
            taken = 0
            while taken < want and position < len(order) - 1:
                members = sequences_of[stratum[order[position]]]
                split_ids[members] = split_id
                taken += len(members)
                position += 1
    return split_ids


def predefined_split(split_folders: np.ndarray) -> np.ndarray:
    """Split ids from the tree's own training/validation/test folders."""
    unknown_folders = sorted(set(split_folders.tolist()) - set(SPLIT_ID_OF_FOLDER))
    if UNASSIGNED in unknown_folders:
        raise CroplandError(
            "data.split=predefined: this file was prepared from a source without "
            "training/validation/test folders (the published HDF5, or a tree without them); "
            "use data.split=stratified instead"
        )
    if unknown_folders:
        raise CroplandError(
            f"data.split=predefined needs split folders {sorted(SPLIT_ID_OF_FOLDER)}, "
            f"found {unknown_folders}; use data.split=stratified instead"
        )
    return np.array([SPLIT_ID_OF_FOLDER[f] for f in split_folders.tolist()], dtype=np.int64)


def province_split(
    sequences: SequenceTable, test_province: str | None, val_fraction: float, seed: int
) -> np.ndarray:
    """Every sequence of ``test_province`` to test; the others split into training and
    validation as :func:`stratified_group_split` does. A model is then tested on fields of a
    region it never saw: spatial transfer, not interpolation between neighbours."""
    provinces = sorted(set(sequences.province.tolist()))
    if test_province not in provinces:
        raise CroplandError(
            f"data.split=province needs data.test_province, one of the provinces this file "
            f"holds ({', '.join(provinces)}); got {test_province!r}"
        )
    held_out = sequences.province == test_province
    if held_out.all():
        raise CroplandError(
            f"data.test_province={test_province}: every sequence is from {test_province}, "
            "which leaves nothing to train on; use data.split=stratified"
        )
    split_ids = np.full(len(sequences), TEST, dtype=np.int64)
    split_ids[~held_out] = stratified_group_split(
        sequences.label[~held_out], sequences.point[~held_out], val_fraction, 0.0, seed
    )
    return split_ids


def assign_splits(
    sequences: SequenceTable,
    split_method: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    test_province: str | None = None,
) -> np.ndarray:
    """Split id of each sequence of a prepared file (``data.split`` = ``stratified``,
    ``predefined``, ``province`` or ``all``), or ``NO_SPLIT`` where its crop is not a known
    class.

    Reads only the sequence table, so describing a large file stays cheap.
    """
    if split_method == SCORE_ALL:
        split_ids = np.full(len(sequences.label), TEST, dtype=np.int64)
    elif split_method == "predefined":
        split_ids = predefined_split(sequences.split_folder)
    elif split_method == "province":
        split_ids = province_split(sequences, test_province, val_fraction, seed)
    else:
        split_ids = stratified_group_split(
            sequences.label, sequences.point, val_fraction, test_fraction, seed
        )
    return np.where(sequences.label == UNKNOWN_CLASS, NO_SPLIT, split_ids)
