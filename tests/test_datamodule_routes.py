"""The DataModule is the one way into a prepared file: for training and testing, for
prediction (every sequence, labels not needed) and for the few sequences a figure shows."""

import numpy as np
import torch

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.prepared_file import PreparedFile
from cropland.data.split_statistics import channel_statistics


def test_predict_stage_gives_every_sequence_once_in_file_order(prepared_file):
    datamodule = CropSequenceDataModule(path=str(prepared_file), batch_size=7, split="predefined")
    datamodule.setup("predict")
    sequences = PreparedFile(prepared_file).sequences
    seen, labels = [], []
    for batch in datamodule.predict_dataloader():
        batch = datamodule.to_model_input(batch)
        assert batch["image"].dtype == torch.float32
        assert float(batch["image"].min()) >= 0 and float(batch["image"].max()) <= 1
        seen += batch["index"].tolist()
        labels += batch["label"].tolist()
    assert seen == list(range(len(sequences)))
    assert labels == sequences.label.tolist()
    # No split was made: predicting needs no training, validation or test sequences.
    assert set(datamodule.datasets) == {"predict"}


def test_predict_stage_measures_statistics_over_everything_only_when_asked(prepared_file):
    ours = CropSequenceDataModule(path=str(prepared_file), channels="rgb")
    ours.setup("predict")
    assert not hasattr(ours, "channel_mean")  # a checkpoint of ours carries its statistics
    published = CropSequenceDataModule(path=str(prepared_file), channels="rgb", statistics="all")
    published.setup("predict")
    mean, std = channel_statistics(published.datasets["predict"])
    assert np.array_equal(published.channel_mean, mean)
    assert np.array_equal(published.channel_std, std)
    assert len(mean) == 3


def test_read_sequences_gives_other_channels_than_the_model_s(prepared_file):
    datamodule = CropSequenceDataModule(path=str(prepared_file), channels="ndvi45_gndvi")
    source = PreparedFile(prepared_file)
    chosen = [4, 0, 9]
    samples = datamodule.read_sequences(chosen, ["RGB", "NDVI"])
    wanted = [source.channels.index(c) for c in ("red", "green", "blue", "ndvi")]
    for number, sample in zip(chosen, samples, strict=True):
        start, length = source.sequences.start[number], source.sequences.length[number]
        expected = source.read_records(start, start + length, wanted)
        assert np.array_equal(sample["image"].numpy(), expected)
        assert int(sample["index"]) == number
    model_channels = datamodule.read_sequences(chosen)
    assert model_channels[0]["image"].shape[1] == 2


def test_the_splits_a_description_shows_are_the_ones_training_uses(prepared_file):
    datamodule = CropSequenceDataModule(path=str(prepared_file), seed=5)
    split_ids = datamodule.sequence_splits()
    datamodule.setup("fit")
    for split_id, name in enumerate(("train", "val", "test")):
        assert np.array_equal(
            np.flatnonzero(split_ids == split_id), datamodule.datasets[name].indices
        )
