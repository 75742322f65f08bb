"""LTAEClassifier beyond what every model does (tests/test_model_contract.py): NaN and months
on the padding change nothing, the month inputs it needs, the settings it refuses, and the
paper's sizes in its full config."""

import pytest
import torch
from omegaconf import OmegaConf

from cropland.errors import CroplandError
from cropland.models.networks import build_network
from cropland.models.tae import LTAEClassifier
from tests.hydra_configs import compose_config
from tests.padded_sequences import one_by_one, pad, sequences

TINY = {"encoder_widths": [6, 8], "d_model": 12, "n_head": 3, "d_k": 4, "mlp": [12, 8]}


@pytest.fixture
def model() -> LTAEClassifier:
    torch.manual_seed(0)
    return LTAEClassifier(in_channels=4, num_classes=3, downsample=2, **TINY).eval()


def test_nan_and_months_on_the_padding_change_nothing(model):
    images = sequences()
    batch, lengths, batch_months = pad(images)
    batch[1:, -1], batch_months[1:, -1] = float("nan"), 11
    with torch.no_grad():
        torch.testing.assert_close(
            model(batch, lengths, batch_months), one_by_one(model, images), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"d_model": 10, "n_head": 3, "mlp": [10, 8]}, "model.net.d_model=10 must be divisible"),
        ({"mlp": [16, 8]}, "model.net.mlp=.* must start with model.net.d_model=12"),
        ({"mlp": []}, "model.net.mlp"),
        ({"encoder_widths": []}, "model.net.encoder_widths"),
        ({"encoder_widths": [4, 0]}, "model.net.encoder_widths"),
        ({"n_head": 0}, "model.net.n_head"),
        ({"d_k": 2.5}, "model.net.d_k"),
        ({"dropout": 1.0}, "model.net.dropout"),
        ({"downsample": 0}, "model.net.downsample"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(settings, key):
    with pytest.raises(CroplandError, match=key):
        LTAEClassifier(in_channels=4, num_classes=3, **{**TINY, **settings})


@pytest.mark.parametrize(
    ("months", "message"),
    [
        (None, "needs each step's month"),
        ([[6, 7, 0], [6, 13, 8]], r"months must be from 1 to 12.*\[13\]"),
        ([[6, 7]] * 2, "one month per step"),
    ],
)
def test_bad_months_raise(model, months, message):
    months = None if months is None else torch.tensor(months)
    with pytest.raises(ValueError, match=message):
        model(torch.randn(2, 3, 4, 9, 9), torch.tensor([2, 3]), months)


def test_full_config_composes_with_the_papers_sizes():
    net = compose_config("train", "model=tae_full").model.net
    assert net._target_ == "cropland.models.tae.LTAEClassifier"
    assert (net.n_head, net.d_k, net.d_model, list(net.mlp)) == (16, 8, 256, [256, 128])
    assert net.dropout == 0.2
    network = build_network(OmegaConf.to_container(net), "model.net", in_channels=5, num_classes=10)
    assert network.temporal.projection.in_features == 128
