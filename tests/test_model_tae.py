import json

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from cropland.errors import CroplandError
from cropland.models.networks import build_network
from cropland.models.tae import LTAEClassifier
from tests.conftest import PROJECT_ROOT, TINY_TRAINING, call_script
from tests.padded_sequences import padded_batch

TINY = {"encoder_widths": [6, 8], "d_model": 12, "n_head": 3, "d_k": 4, "mlp": [12, 8]}


@pytest.fixture
def model() -> LTAEClassifier:
    torch.manual_seed(0)
    return LTAEClassifier(in_channels=4, num_classes=3, downsample=2, **TINY).eval()


def test_padded_batch_gives_each_sequence_its_own_logits(model):
    sequences, months, batch, lengths, batch_months = padded_batch()
    with torch.no_grad():
        padded = model(batch, lengths, batch_months)
        alone = torch.cat(
            [
                model(s[None], torch.tensor([len(s)]), m[None])
                for s, m in zip(sequences, months, strict=True)
            ]
        )
        # Other garbage, NaN and padded months included, changes nothing either.
        batch[1:, -1], batch_months[1:, -1] = float("nan"), 11
        regarbaged = model(batch, lengths, batch_months)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(regarbaged, alone, atol=1e-5, rtol=1e-5)


def test_months_change_the_prediction(model):
    x = torch.randn(1, 3, 4, 9, 9)
    with torch.no_grad():
        early = model(x, months=torch.tensor([[6, 7, 8]]))
        skipped = model(x, months=torch.tensor([[6, 8, 9]]))
    assert not torch.allclose(early, skipped)


@pytest.mark.parametrize("size", [65, 9])
def test_output_shape_for_any_image_size(model, size):
    logits = model(torch.randn(2, 3, 4, size, size), months=torch.tensor([[6, 7, 8]] * 2))
    assert logits.shape == (2, 3)


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
    ("lengths", "months", "message"),
    [
        ([0, 3], [[6, 7, 8]] * 2, "lengths must be from 1"),
        ([4, 3], [[6, 7, 8]] * 2, "lengths must be from 1"),
        ([2, 3], None, "needs each step's month"),
        ([2, 3], [[6, 7, 0], [6, 13, 8]], r"months must be from 1 to 12.*\[13\]"),
        ([2, 3], [[6, 7]] * 2, "one month per step"),
    ],
)
def test_bad_inputs_raise(model, lengths, months, message):
    months = None if months is None else torch.tensor(months)
    with pytest.raises(ValueError, match=message):
        model(torch.randn(2, 3, 4, 9, 9), torch.tensor(lengths), months)


def test_pooling_to_nothing_is_refused(model):
    with pytest.raises(CroplandError, match="model.net.downsample=2 pools the 1x1"):
        model(torch.randn(1, 2, 4, 1, 1), months=torch.tensor([[6, 7]]))


def test_every_parameter_gets_a_gradient(model):
    _, _, batch, lengths, months = padded_batch()
    model.train()
    model(batch, lengths, months).logsumexp(dim=1).sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


def test_exported_program_matches_eager_on_a_padded_batch(model):
    _, _, batch, lengths, months = padded_batch()
    batch_dim, time_dim = torch.export.Dim("batch"), torch.export.Dim("time")
    exported = torch.export.export(
        model,
        (batch, lengths, months),
        dynamic_shapes=(
            {0: batch_dim, 1: time_dim},
            {0: batch_dim},
            {0: batch_dim, 1: time_dim},
        ),
    )
    with torch.no_grad():
        torch.testing.assert_close(
            exported.module()(batch, lengths, months), model(batch, lengths, months)
        )
        # Batch and time stay free: two sequences of four steps.
        short = batch[:2, :4], lengths[:2].clamp(max=4), months[:2, :4]
        torch.testing.assert_close(exported.module()(*short), model(*short))


def test_torchscript_matches_eager_on_a_padded_batch(model):
    _, _, batch, lengths, months = padded_batch()
    with torch.no_grad():
        torch.testing.assert_close(
            torch.jit.script(model)(batch, lengths, months), model(batch, lengths, months)
        )


def test_training_script_runs_with_tae(prepared_file, tmp_path):
    tiny = [
        f"model.net.{key}=[{','.join(map(str, v))}]"
        for key, v in TINY.items()
        if isinstance(v, list)
    ]
    tiny += [f"model.net.{key}={v}" for key, v in TINY.items() if not isinstance(v, list)]
    result = call_script(
        "train.py",
        *[o for o in TINY_TRAINING if not o.startswith("model")],
        *tiny,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "model=tae",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (metrics,) = (tmp_path / "train" / "runs").glob("*/metrics.json")
    assert "test/acc" in json.loads(metrics.read_text())


def test_full_config_composes_with_the_papers_sizes():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=tae_full"])
    net = cfg.model.net
    assert net._target_ == "cropland.models.tae.LTAEClassifier"
    assert (net.n_head, net.d_k, net.d_model, list(net.mlp)) == (16, 8, 256, [256, 128])
    assert net.dropout == 0.2
    network = build_network(OmegaConf.to_container(net), "model.net", in_channels=5, num_classes=10)
    assert network.temporal.projection.in_features == 128
