"""A map-style dataset of image sequences from a prepared file, and its padding collate."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from cropland.data.prepared_file import RecordTable, SequenceTable, open_for_reading, read_records


class CropSequenceDataset(Dataset):
    """Sequences ``indices`` of a prepared file as dicts of uint8 images, months and a label.

    Pixels come from ``pixels`` when the whole file was read into memory, otherwise from the
    HDF5 file, opened lazily in each worker process: an h5py handle must not cross a fork. A
    damaged file raises :class:`~cropland.data.prepared_file.DamagedFileError` (from a
    DataLoader worker too: torch raises it again in the main process).
    """

    def __init__(
        self,
        path: Path,
        records: RecordTable,
        sequences: SequenceTable,
        indices: np.ndarray,
        channel_indices: list[int],
        pixels: np.ndarray | None = None,
    ) -> None:
        self.path = Path(path)
        self.indices = np.asarray(indices)
        self.starts = sequences.start[self.indices]
        self.lengths = sequences.length[self.indices]
        self.labels = sequences.label[self.indices]
        self.months = records.month
        self.channel_indices = channel_indices
        self.pixels = pixels
        self._file: h5py.File | None = None
        self._file_pid: int | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def _read(self, start: int, stop: int) -> np.ndarray:
        if self.pixels is not None:
            return self.pixels[start:stop]
        if self._file is None or self._file_pid != os.getpid():
            self._file = open_for_reading(self.path)
            self._file_pid = os.getpid()
        return read_records(self._file["pixels"], start, stop, self.path)[:, self.channel_indices]

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        start = int(self.starts[item])
        stop = start + int(self.lengths[item])
        return {
            "image": torch.from_numpy(np.ascontiguousarray(self._read(start, stop))),
            "months": torch.from_numpy(self.months[start:stop].astype(np.int64)),
            "label": torch.tensor(int(self.labels[item])),
            "index": torch.tensor(int(self.indices[item])),
        }

    def __getstate__(self) -> dict:
        # Workers open their own handle; never pickle an open one.
        state = self.__dict__.copy()
        state["_file"] = None
        state["_file_pid"] = None
        return state


def to_unit_range(image: Tensor) -> Tensor:
    """uint8 images as floats in [0, 1], the scale models and their statistics use."""
    return image.float().div_(255)


def pad_sequences(samples: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack samples, padding time with zeros to the longest sequence of the batch.

    Adds ``lengths`` (valid steps) and ``mask`` (True on valid steps); padded months are 0.
    """
    lengths = torch.tensor([s["image"].shape[0] for s in samples])
    steps = int(lengths.max())
    first = samples[0]["image"]
    image = first.new_zeros(len(samples), steps, *first.shape[1:])
    months = torch.zeros(len(samples), steps, dtype=torch.int64)
    for i, sample in enumerate(samples):
        image[i, : lengths[i]] = sample["image"]
        months[i, : lengths[i]] = sample["months"]
    return {
        "image": image,
        "months": months,
        "lengths": lengths,
        "mask": torch.arange(steps)[None, :] < lengths[:, None],
        "label": torch.stack([s["label"] for s in samples]),
        "index": torch.stack([s["index"] for s in samples]),
    }
