"""LRCNClassifier beyond what every model does (tests/test_model_contract.py): the settings it
refuses, its full-size config."""

import pytest

from cropland.errors import CroplandError
from cropland.models.lrcn import LRCNClassifier
from tests.hydra_configs import compose_config


@pytest.mark.parametrize(
    ("setting", "key"),
    [
        (dict(cnn_channels=[]), "model.net.cnn_channels=[]"),
        (dict(cnn_channels=[8, 0], kernel_sizes=[3, 3]), "model.net.cnn_channels=[8, 0]"),
        (dict(kernel_sizes=[3]), "model.net.kernel_sizes=[3]"),
        (dict(kernel_sizes=[3, 4]), "model.net.kernel_sizes=[3, 4]"),
        (dict(hidden_size=0), "model.net.hidden_size=0"),
        (dict(lstm_layers=1.5), "model.net.lstm_layers=1.5"),
        (dict(dropout=1.0), "model.net.dropout=1.0"),
        (dict(downsample=0), "model.net.downsample=0"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(setting, key):
    with pytest.raises(CroplandError, match=r"e\.g\.|expected") as error:
        LRCNClassifier(in_channels=4, num_classes=3, **setting)
    assert key in str(error.value)


def test_full_size_config_composes():
    net = compose_config("train", "model=lrcn_full").model.net
    assert net._target_ == "cropland.models.lrcn.LRCNClassifier"
    assert list(net.cnn_channels) == [32, 96, 128] and net.hidden_size == 128
    assert net.month_encoding is True  # inherited from conf/model/lrcn.yaml
