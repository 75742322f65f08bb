"""Conv3DClassifier beyond what every model does (tests/test_model_contract.py): group norm over
valid steps only, the settings it refuses, its full-size config."""

import pytest
import torch

from cropland.errors import CroplandError
from cropland.models.conv3d import Conv3DClassifier, MaskedGroupNorm
from tests.hydra_configs import compose_config


def test_masked_group_norm_ignores_padded_steps():
    norm = MaskedGroupNorm(6)
    x = torch.randn(1, 6, 3, 4, 4)
    padded = torch.cat([x, torch.full((1, 6, 2, 4, 4), 7.0)], dim=2)
    valid = torch.tensor([True, True, True, False, False])[None, None, :, None, None]
    torch.testing.assert_close(norm(padded, valid)[:, :, :3], torch.group_norm(x, 2))


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        (dict(channels=[]), "model.net.channels=[]"),
        (dict(channels=[8, -1]), "model.net.channels=[8, -1]"),
        (dict(channels=[8, 2.5]), "model.net.channels=[8, 2.5]"),
        (dict(dropout=-0.1), "model.net.dropout=-0.1"),
        (dict(downsample=True), "model.net.downsample=True"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(setting, key):
    with pytest.raises(CroplandError, match=r"e\.g\.|expected") as error:
        Conv3DClassifier(in_channels=4, num_classes=3, **setting)
    assert key in str(error.value)


def test_full_size_config_composes():
    net = compose_config("train", "model=conv3d_full").model.net
    assert net._target_ == "cropland.models.conv3d.Conv3DClassifier"
    assert list(net.channels) == [32, 64, 128] and net.downsample == 1
    assert net.month_encoding is True  # inherited from conf/model/conv3d.yaml
