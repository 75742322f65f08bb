"""LightningDataModule over a prepared HDF5 file of crop image sequences."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import numpy as np
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Sampler

from cropland.data.augment import SequenceAugmentation
from cropland.data.channels import channel_indices, channel_names, parse_sensors
from cropland.data.layout import DATASET_PRODUCT_LEVEL, PRODUCT_LEVELS, UNKNOWN_CLASS
from cropland.data.loader_settings import check_loader_settings
from cropland.data.prepared_file import PreparedFile
from cropland.data.sampling import EpochShuffleSampler
from cropland.data.sequence_dataset import CropSequenceDataset, pad_sequences, to_unit_range
from cropland.data.split_statistics import balanced_class_weights, channel_statistics
from cropland.data.splits import (
    DEFAULT_SPLIT,
    SCORE_ALL,
    SPLIT_METHODS,
    SPLIT_NAMES,
    TEST,
    TRAIN,
    VAL,
    assign_splits,
)
from cropland.data.temporal_augment import TemporalAugmentation
from cropland.errors import CroplandError

log = logging.getLogger(__name__)


class CropSequenceDataModule(L.LightningDataModule):
    """Sequences of a prepared file, split, normalized on the training split, augmented on device.

    Batches are dicts: ``image`` (batch, time, channels, H, W; uint8 until
    ``on_after_batch_transfer`` turns it into floats in [0, 1] and augments the training
    batches), ``months``, ``lengths``, ``mask``, ``label``, ``index`` (sequence in the file).
    Normalization is left to the model, which stores the statistics computed here.
    """

    def __init__(
        self,
        path: str,
        channels: str | list[str] = "rgb_ndvi45_gndvi",
        split: str = DEFAULT_SPLIT,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        seed: int = 42,
        batch_size: int = 16,
        num_workers: int = 0,
        in_memory: bool | str = "auto",
        augmentation: dict | None = None,
        statistics: str = "train",
        synthetic: dict | None = None,
        shuffle_seed: int = 0,
        test_province: str | None = None,
        product_level: str = DATASET_PRODUCT_LEVEL,
    ) -> None:
        super().__init__()
        self.path = Path(path)
        check_loader_settings(batch_size, num_workers, in_memory)
        if split in ("stratified", "province") and not 0 < val_fraction < 1:
            raise CroplandError(
                f"data.val_fraction={val_fraction}: expected a fraction between 0 and 1, e.g. "
                "0.1; checkpoint selection and early stopping need a validation split"
            )
        self.sensors = parse_sensors(channels)
        if split not in SPLIT_METHODS:
            raise CroplandError(f"data.split={split!r}: expected one of {', '.join(SPLIT_METHODS)}")
        if statistics not in ("train", "all"):
            raise CroplandError(
                f"data.statistics={statistics!r}: expected 'train' (the training split) or "
                "'all' (every sequence, as the published recipe did)"
            )
        self.statistics = statistics
        self.split = split
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.seed = seed
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.in_memory = in_memory
        augmentation = dict(augmentation or {})
        # Time and space are augmented apart: dropping months changes lengths and months too.
        self.temporal_augmentation = TemporalAugmentation(
            month_dropout=augmentation.pop("month_dropout", 0.0),
            truncate=augmentation.pop("truncate", 0.0),
        )
        self.augmentation = SequenceAugmentation(**augmentation)
        self.synthetic = synthetic
        self.shuffle_seed = shuffle_seed
        self.test_province = test_province
        if product_level not in PRODUCT_LEVELS:
            raise CroplandError(
                f"data.product_level={product_level!r}: expected one of "
                f"{', '.join(PRODUCT_LEVELS)} (the Sentinel-2 level the images were made from)"
            )
        self.product_level = product_level
        self.datasets: dict[str, CropSequenceDataset] = {}
        self._prepared_file: PreparedFile | None = None

    @property
    def channel_names(self) -> list[str]:
        return channel_names(self.sensors)

    def prepare_data(self) -> None:
        """Make the synthetic dataset when ``data.synthetic`` is set and the file is missing
        (see :func:`~cropland.data.synthetic.prepared_default.ensure_synthetic_file`)."""
        self._check_path_is_not_a_folder()
        if self.synthetic is None:
            return
        # Imported here: only a synthetic run needs the generator and the preparation pipeline.
        from cropland.data.synthetic.prepared_default import ensure_synthetic_file

        ensure_synthetic_file(self.path, self.synthetic)

    def _check_path_is_not_a_folder(self) -> None:
        if self.path.is_dir():
            raise CroplandError(
                f"data.path={self.path} is a folder; give a prepared .h5 file, made from a PNG "
                f"tree with: python scripts/prepare.py src={self.path} dst=<file.h5>"
            )

    @property
    def prepared_file(self) -> PreparedFile:
        """The prepared file's tables (opened once; pixels are read on demand)."""
        if self._prepared_file is None:
            self._check_path_is_not_a_folder()
            self._prepared_file = PreparedFile(self.path)
        return self._prepared_file

    def sequence_splits(self) -> np.ndarray:
        """Each sequence's split id (``TRAIN``, ``VAL``, ``TEST``, or ``NO_SPLIT`` where its crop
        is unknown), as ``data.split`` and its settings assign them: the one assignment that
        training, evaluation and descriptions of the file all use."""
        return assign_splits(
            self.prepared_file.sequences,
            self.split,
            self.val_fraction,
            self.test_fraction,
            self.seed,
            self.test_province,
        )

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict":
            self._setup_predict()
            return
        if self.split == SCORE_ALL and stage != "test":
            raise CroplandError(
                f"data.split=all puts every labelled sequence of {self.path} in the test split, "
                "for scoring a trained model (scripts/eval.py); to train, use data.split="
                "stratified, predefined or province"
            )
        if any(name in self.datasets for name in SPLIT_NAMES):
            return
        source = self.prepared_file
        self.classes = source.classes
        indices = channel_indices(self.sensors, source.channels)
        sequences = source.sequences

        if not (sequences.label != UNKNOWN_CLASS).any():
            raise CroplandError(f"{self.path} holds no sequence with a known class label")
        self.split_ids = self.sequence_splits()
        pixels = self._pixels_in_memory(source, indices)

        for split_id, name in zip((TRAIN, VAL, TEST), SPLIT_NAMES, strict=True):
            members = np.flatnonzero(self.split_ids == split_id)
            self.datasets[name] = CropSequenceDataset(
                self.path, source.records, sequences, members, indices, pixels
            )
        for name in SPLIT_NAMES:
            if len(self.datasets[name]) == 0 and name != "test" and self.split != SCORE_ALL:
                raise CroplandError(
                    f"the {name} split of {self.path} is empty ({len(sequences)} sequences); "
                    "use a larger file or larger data.val_fraction"
                )

        # Scoring everything: no training split, so statistics and weights come from the
        # labelled sequences scored (a checkpoint of ours normalizes with its own statistics).
        train = self.datasets["test" if self.split == SCORE_ALL else "train"]
        if self.statistics == "all":
            # The published recipe's leak, kept only to reproduce it: test images shape the
            # normalization.
            everything = np.arange(len(sequences))
            measured = CropSequenceDataset(
                self.path, source.records, sequences, everything, indices, pixels
            )
        else:
            measured = train
        self.channel_mean, self.channel_std = channel_statistics(measured)
        self.class_weights = balanced_class_weights(train.labels, len(self.classes))
        log.info(
            "Sequences: %s",
            ", ".join(f"{n} {len(self.datasets[n])}" for n in SPLIT_NAMES),
        )

    def _setup_predict(self) -> None:
        """Every sequence of the file, labelled or not, in file order. Normalization statistics
        only with ``statistics="all"`` (the published weights need them from the data they see);
        a checkpoint of ours carries its own."""
        if "predict" in self.datasets:
            return
        source = self.prepared_file
        self.classes = source.classes
        indices = channel_indices(self.sensors, source.channels)
        pixels = self._pixels_in_memory(source, indices)
        self.datasets["predict"] = CropSequenceDataset(
            self.path,
            source.records,
            source.sequences,
            np.arange(len(source.sequences)),
            indices,
            pixels,
        )
        if self.statistics == "all":
            self.channel_mean, self.channel_std = channel_statistics(self.datasets["predict"])

    def read_sequences(
        self, sequence_indices: list[int], sensors: list[str] | None = None
    ) -> list[dict]:
        """A few sequences (their numbers in the file, any split) as the datasets give them:
        uint8 ``image``, ``months``, ``label``, ``index``. ``sensors`` picks other channels than
        the model's, e.g. ``["RGB", "NDVI"]`` for figures of what a model saw."""
        source = self.prepared_file
        dataset = CropSequenceDataset(
            self.path,
            source.records,
            source.sequences,
            np.asarray(sequence_indices, dtype=np.int64),
            channel_indices(sensors or self.sensors, source.channels),
        )
        return [dataset[item] for item in range(len(dataset))]

    def _pixels_in_memory(self, source: PreparedFile, indices: list[int]) -> np.ndarray | None:
        """The pixels of channels ``indices``, read once, when ``in_memory`` says so; else None
        (the datasets read each sequence from the file)."""
        return source.read_pixels(indices) if self._fits_in_memory(source, len(indices)) else None

    def _fits_in_memory(self, source: PreparedFile, channels: int) -> bool:
        """``in_memory``: true, false, or auto (at once when under half the free memory)."""
        if self.in_memory != "auto":
            return bool(self.in_memory)
        needed = source.pixel_bytes(channels)
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        if needed < free / 2:
            return True
        log.info(
            "Reading %s sequence by sequence: its pixels (%.1f GB) exceed half the free memory",
            self.path,
            needed / 1e9,
        )
        return False

    def model_inputs(self) -> dict:
        """What a classifier needs from the data: plain lists, stored in its checkpoint."""
        return {
            "classes": list(self.classes),
            "channels": self.channel_names,
            "channel_mean": self.channel_mean.tolist(),
            "channel_std": self.channel_std.tolist(),
            "class_weights": self.class_weights.tolist(),
            "product_level": self.product_level,
        }

    def _loader(self, name: str, sampler: Sampler | None = None) -> DataLoader:
        return DataLoader(
            self.datasets[name],
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            collate_fn=pad_sequences,
            persistent_workers=self.num_workers > 0,
            # Worker seeds come from here, not from the global generator, whose draws belong to
            # augmentation and dropout (see cropland.training.callbacks.EpochSeeding).
            generator=torch.Generator().manual_seed(self.shuffle_seed),
        )

    def train_dataloader(self) -> DataLoader:
        # The order depends on the seed and epoch only; a resumed run starts at its epoch.
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        sampler = EpochShuffleSampler(self.datasets["train"], self.shuffle_seed, epoch)
        return self._loader("train", sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def test_dataloader(self) -> DataLoader:
        trainer = self.trainer
        if trainer is None or trainer.world_size == 1:
            return self._loader("test")
        # Lightning's DistributedSampler pads the last batch with repeated sequences, which
        # test scores would count twice; this one gives each sequence to exactly one process.
        sampler = UnrepeatedDistributedSampler(
            self.datasets["test"],
            num_replicas=trainer.world_size,
            rank=trainer.global_rank,
            shuffle=False,
        )
        return self._loader("test", sampler)

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        image = to_unit_range(batch["image"])
        if self.trainer is not None and self.trainer.training:
            image = self.augmentation(image)
            batch = self.temporal_augmentation({**batch, "image": image})
            image = batch["image"]
        batch["image"] = image
        return batch

    def to_model_input(self, batch: dict) -> dict:
        """A loader's batch as a model takes it outside a Trainer (evaluation, prediction):
        floats in [0, 1], never augmented."""
        return {**batch, "image": to_unit_range(batch["image"])}
