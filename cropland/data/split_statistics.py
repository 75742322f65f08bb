"""What a model keeps from the data of a split: each channel's mean and std (of the training
split, or of every sequence with ``data.statistics=all``) and class weights that balance the
training labels. The DataModule computes them; the checkpoint stores them with the model."""

from __future__ import annotations

import numpy as np

from cropland.data.sequence_dataset import CropSequenceDataset


def channel_statistics(dataset: CropSequenceDataset) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std, on the [0, 1] scale, over every image of ``dataset``.

    The sums of the uint8 values and of their squares are exact integers, added in numpy: torch's
    float64 reductions of each small sequence were far slower on a busy machine of few cores,
    where its intra-op threads wait on each other.
    """
    sums = np.zeros((2, len(dataset.channel_indices)), dtype=np.int64)
    count = 0
    for item in range(len(dataset)):
        image = dataset[item]["image"].numpy().astype(np.int64)
        sums[0] += image.sum(axis=(0, 2, 3))
        sums[1] += np.square(image).sum(axis=(0, 2, 3))
        count += image.shape[0] * image.shape[2] * image.shape[3]
    mean = sums[0] / (255 * count)
    std = np.sqrt(np.clip(sums[1] / (255**2 * count) - np.square(mean), 0, None))
    return mean.astype(np.float32), np.maximum(std, 1e-6).astype(np.float32)


def balanced_class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``n / (k * count_c)`` as in scikit-learn's 'balanced'; 0 for a class absent in training."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    present = counts > 0
    weights = np.zeros(num_classes)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.astype(np.float32)
