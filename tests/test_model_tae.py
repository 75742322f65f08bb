"""LTAEClassifier beyond what every model does (tests/test_model_contract.py): NaN and months
on the padding change nothing, the month inputs it needs, the settings it refuses, and the
paper's sizes in its full config."""

import pytest
import torch
from omegaconf import OmegaConf

from cropland.errors import CroplandError
from cropland.models.networks import build_network
from cropland.models.patch_pooling import CentreAttentionPool, PatchStatistics
from cropland.models.tae import LTAEClassifier
from tests.hydra_configs import compose_config
from tests.padded_sequences import one_by_one, pad, sequences

TINY = {"encoder_widths": [6, 8], "d_model": 12, "n_head": 3, "d_k": 4, "mlp": [12, 8]}
CENTRE_AWARE = {"pooling": "centre_attention", "statistics_centre": 3}


@pytest.fixture(params=[{}, CENTRE_AWARE], ids=["mean_pooling", "centre_aware"])
def model(request) -> LTAEClassifier:
    torch.manual_seed(0)
    return LTAEClassifier(
        in_channels=4, num_classes=3, downsample=2, **TINY, **request.param
    ).eval()


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
        ({"pooling": "max"}, "model.net.pooling='max'"),
        ({"pooling": "centre_attention", "pooling_heads": 0}, "model.net.pooling_heads"),
        ({"pooling": "centre_attention", "prior_width": -1}, "model.net.prior_width"),
        ({"statistics_centre": 0}, "model.net.statistics_centre"),
        ({"statistics_centre": "17"}, "model.net.statistics_centre"),
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
    assert list(net.encoder_widths)[-1] == 128
    network = build_network(OmegaConf.to_container(net), "model.net", in_channels=5, num_classes=10)
    # Into the L-TAE: the 128 encoder channels once per pooling head, then the centre mean,
    # patch mean and std of each of the 5 input channels.
    heads = net.pooling_heads if net.pooling == "centre_attention" else 1
    statistics = 3 * 5 if net.statistics_centre else 0
    assert network.temporal.projection.in_features == 128 * heads + statistics


def test_centre_attention_starts_as_a_prior_on_the_centre():
    """Untrained, the pooling weighs the centre most: a feature map bright only at its centre
    pools to more than its mean, one bright only at the corners to less."""
    attention = CentreAttentionPool(channels=1, heads=2)
    centre, corners = torch.zeros(1, 1, 9, 9), torch.zeros(1, 1, 9, 9)
    centre[..., 3:6, 3:6] = 1.0
    corners[..., :2, :2] = corners[..., -2:, -2:] = 1.0
    with torch.no_grad():
        assert torch.all(attention(centre) > centre.mean())
        assert torch.all(attention(corners) < corners.mean())
        assert attention(centre).shape == (1, 2)


def test_patch_statistics_are_the_centre_mean_patch_mean_and_std():
    x = torch.arange(2 * 5 * 5, dtype=torch.float32).view(1, 2, 5, 5)
    stats = PatchStatistics(centre=3)(x)
    centre = x[..., 1:4, 1:4].mean(dim=(-2, -1))
    mean = x.mean(dim=(-2, -1))
    std = x.flatten(2).std(dim=-1, unbiased=False)
    torch.testing.assert_close(stats, torch.cat([centre, mean, std], dim=-1), atol=1e-4, rtol=0)
    # A centre larger than the patch is the whole patch.
    torch.testing.assert_close(PatchStatistics(centre=17)(x)[:, :2], mean)


def test_centre_aware_features_feed_the_attention():
    network = LTAEClassifier(in_channels=4, num_classes=3, **TINY, **CENTRE_AWARE)
    # Two pooling heads over the encoder's 8 channels, and 3 statistics of 4 channels.
    assert network.temporal.in_norm.normalized_shape == (2 * 8 + 3 * 4,)
