import shutil

import h5py
import numpy as np
import pytest
import torch

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError


def _datamodule(path, **kwargs) -> CropSequenceDataModule:
    dm = CropSequenceDataModule(path=str(path), batch_size=8, **kwargs)
    dm.setup("fit")
    return dm


def test_channels_select_and_fuse_sensors(prepared_file):
    dm = _datamodule(prepared_file, channels="rgb_ndvi")
    assert dm.channel_names == ["red", "green", "blue", "ndvi"]
    assert dm.datasets["train"][0]["image"].shape[1:] == (4, 65, 65)
    assert _datamodule(prepared_file, channels=["gndvi", "rgb"]).channel_names == [
        "gndvi",
        "red",
        "green",
        "blue",
    ]
    assert len(_datamodule(prepared_file, channels="all").channel_names) == 8


def test_unknown_channel_lists_the_valid_ones(prepared_file):
    with pytest.raises(CroplandError, match="rgb, ndvi, ndvi45, gndvi, osavi, psri"):
        CropSequenceDataModule(path=str(prepared_file), channels="rgb_evi")


def test_missing_file_says_how_to_make_it(tmp_path):
    with pytest.raises(CroplandError, match="scripts/prepare.py"):
        _datamodule(tmp_path / "absent.h5")


def test_no_point_in_two_splits(prepared_file):
    dm = _datamodule(prepared_file)
    points = PreparedFile(prepared_file).sequences.point
    seen = {name: set(points[d.indices].tolist()) for name, d in dm.datasets.items()}
    assert not seen["train"] & seen["val"]
    assert not seen["train"] & seen["test"]
    assert not seen["val"] & seen["test"]


def test_predefined_split_follows_the_tree_folders(prepared_file):
    dm = _datamodule(prepared_file, split="predefined")
    folders = PreparedFile(prepared_file).sequences.split_folder
    for name, folder in (("train", "training"), ("val", "validation"), ("test", "test")):
        assert set(folders[dm.datasets[name].indices].tolist()) <= {folder}


def test_normalization_comes_from_the_training_split_only(prepared_file, tmp_path):
    dm = _datamodule(prepared_file)
    train_images = torch.cat(
        [dm.datasets["train"][i]["image"] for i in range(len(dm.datasets["train"]))]
    )
    expected = (train_images.double() / 255).mean(dim=(0, 2, 3))
    np.testing.assert_allclose(dm.channel_mean, expected.numpy(), rtol=1e-5)

    # Blank out every validation and test image: the statistics must not move.
    altered = tmp_path / "altered.h5"
    shutil.copy(prepared_file, altered)
    source = PreparedFile(prepared_file)
    with h5py.File(altered, "r+") as f:
        for name in ("val", "test"):
            for sequence in dm.datasets[name].indices:
                start = source.sequences.start[sequence]
                f["pixels"][start : start + source.sequences.length[sequence]] = 255
    again = _datamodule(altered)
    np.testing.assert_array_equal(again.channel_mean, dm.channel_mean)
    np.testing.assert_array_equal(again.channel_std, dm.channel_std)


def test_statistics_all_reproduces_the_published_leak(prepared_file):
    dm = _datamodule(prepared_file, statistics="all")
    pixels = PreparedFile(prepared_file).read_pixels()[:, [0, 1, 2, 4, 5]]
    expected = pixels.astype(np.float64).mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(dm.channel_mean, expected, rtol=1e-5)
    assert not np.allclose(dm.channel_mean, _datamodule(prepared_file).channel_mean, rtol=1e-4)
    with pytest.raises(CroplandError, match="data.statistics"):
        CropSequenceDataModule(path=str(prepared_file), statistics="everything")


def test_batches_are_padded_with_lengths_mask_and_months(prepared_file):
    dm = _datamodule(prepared_file)
    batch = next(iter(dm.train_dataloader()))
    image, lengths = batch["image"], batch["lengths"]
    assert image.dtype == torch.uint8
    assert image.shape[1] == int(lengths.max())
    assert (lengths >= 3).all()
    for i, n in enumerate(lengths.tolist()):
        assert batch["mask"][i].tolist() == [t < n for t in range(image.shape[1])]
        assert (batch["months"][i, :n] >= 6).all() and (batch["months"][i, n:] == 0).all()
        assert not image[i, n:].any()
        # Months of a sequence are increasing: records are sorted by date.
        assert (batch["months"][i, :n].diff() > 0).all()


def test_lazy_reading_in_workers_matches_memory(prepared_file):
    in_memory = _datamodule(prepared_file)
    lazy = _datamodule(prepared_file, in_memory=False, num_workers=2)
    batches = zip(in_memory.val_dataloader(), lazy.val_dataloader(), strict=True)
    for a, b in batches:
        assert torch.equal(a["image"], b["image"])
        assert torch.equal(a["label"], b["label"])


def test_class_weights_are_balanced_on_training_labels(prepared_file):
    dm = _datamodule(prepared_file)
    labels = dm.datasets["train"].labels
    counts = np.bincount(labels, minlength=len(dm.classes))
    present = counts > 0
    # Balanced: every present class gets the same total weight.
    totals = counts[present] * dm.class_weights[present]
    np.testing.assert_allclose(totals, totals[0], rtol=1e-5)
    assert (dm.class_weights[~present] == 0).all()


@pytest.mark.parametrize("in_memory", [True, False])
def test_selected_channels_hold_the_file_pixels_in_the_asked_order(prepared_file, in_memory):
    dm = _datamodule(prepared_file, channels=["gndvi", "rgb"], in_memory=in_memory)
    source = PreparedFile(prepared_file)
    dataset = dm.datasets["train"]
    sequence = dataset.indices[0]
    start = source.sequences.start[sequence]
    with h5py.File(prepared_file) as f:
        raw = f["pixels"][start : start + source.sequences.length[sequence]]
    gndvi, red, green, blue = (source.channels.index(c) for c in ("gndvi", "red", "green", "blue"))
    assert torch.equal(dataset[0]["image"], torch.from_numpy(raw[:, [gndvi, red, green, blue]]))


def test_in_memory_setting_is_checked(prepared_file):
    with pytest.raises(CroplandError, match="data.in_memory"):
        CropSequenceDataModule(path=str(prepared_file), in_memory="sometimes")


def test_synthetic_data_is_never_generated_under_a_path_of_the_users(tmp_path):
    dm = CropSequenceDataModule(
        path=str(tmp_path / "my_fields.h5"), synthetic={"num_points": 30, "seed": 0}
    )
    with pytest.raises(CroplandError, match="data=prepared"):
        dm.prepare_data()
    assert list(tmp_path.iterdir()) == []
