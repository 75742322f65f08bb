"""LRCNClassifier: padding invariance, months, sizes, settings, gradients, export, training."""

import json
import warnings

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from cropland.errors import CroplandError
from cropland.models.lrcn import LRCNClassifier
from tests.conftest import PROJECT_ROOT, TINY_TRAINING, call_script
from tests.padded_sequences import padded_batch

SMALL = dict(cnn_channels=[6, 8], kernel_sizes=[3, 5], hidden_size=7)


@pytest.fixture
def model() -> LRCNClassifier:
    torch.manual_seed(0)
    return LRCNClassifier(in_channels=4, num_classes=3, **SMALL).eval()


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
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_padding_invariance_holds_in_training_mode_too():
    """No batch statistics: train-mode outputs (dropout off) are as per-sequence as eval's."""
    torch.manual_seed(0)
    net = LRCNClassifier(in_channels=4, num_classes=3, **SMALL).train()
    sequences, months, batch, lengths, batch_months = padded_batch()
    padded = net(batch, lengths, batch_months)
    alone = torch.cat(
        [
            net(s[None], torch.tensor([len(s)]), m[None])
            for s, m in zip(sequences, months, strict=True)
        ]
    )
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


def test_month_encoding_changes_the_prediction(model):
    x = torch.randn(1, 3, 4, 9, 9)
    with torch.no_grad():
        summer = model(x, months=torch.tensor([[6, 7, 8]]))
        skipping = model(x, months=torch.tensor([[7, 8, 10]]))
    assert not torch.allclose(summer, skipping)


def test_month_encoding_needs_months(model):
    with pytest.raises(ValueError, match="pass months"):
        model(torch.randn(1, 3, 4, 9, 9))


@pytest.mark.parametrize("size", [65, 10])
def test_any_image_size(size):
    net = LRCNClassifier(in_channels=5, num_classes=10, downsample=3, **SMALL).eval()
    with torch.no_grad():
        logits = net(torch.randn(2, 3, 5, size, size), months=torch.tensor([[6, 7, 8]] * 2))
    assert logits.shape == (2, 10)


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


def test_a_downsample_larger_than_the_image_is_refused():
    net = LRCNClassifier(in_channels=4, num_classes=3, downsample=12)
    with pytest.raises(CroplandError, match="model.net.downsample=12"):
        net(torch.randn(1, 2, 4, 9, 9), months=torch.tensor([[6, 7]]))


@pytest.mark.parametrize("lengths", [[0, 2], [2, 4]])
def test_lengths_outside_the_time_axis_are_refused(model, lengths):
    with pytest.raises(ValueError, match="lengths must be from 1"):
        model(torch.randn(2, 3, 4, 9, 9), torch.tensor(lengths), torch.tensor([[6, 7, 8]] * 2))


def test_every_parameter_gets_a_gradient():
    torch.manual_seed(0)
    net = LRCNClassifier(in_channels=4, num_classes=3, lstm_layers=2, dropout=0.1, **SMALL)
    *_, batch, lengths, months = padded_batch()
    batch[1, 2:] = float("nan")  # garbage that must not reach any gradient
    net(batch, lengths, months).logsumexp(dim=1).mean().backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


def test_torch_export_matches_eager(model):
    *_, batch, lengths, months = padded_batch()
    exported = torch.export.export(model, (batch, lengths, months))
    with torch.no_grad():
        torch.testing.assert_close(
            exported.module()(batch, lengths, months), model(batch, lengths, months)
        )


@pytest.mark.slow
def test_onnx_export_takes_any_batch_and_time(model, tmp_path):
    """The route of ``export.py format=onnx``: batch and time stay free in the file."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    *_, batch, lengths, months = padded_batch()
    sequences, steps = torch.export.Dim("batch"), torch.export.Dim("time")
    path = tmp_path / "model.onnx"
    # torch.export caches aten.lstm's decomposition into unrolled steps (torch 2.13): after the
    # torch.export test in this process, the ONNX exporter would fix the time axis. A fresh
    # process, as scripts/export.py is, starts without it.
    for overload in torch.ops.aten.lstm.overloads():
        getattr(torch.ops.aten.lstm, overload)._dispatch_cache.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.requires_grad_(False),
            (batch[:2, :2].clone(), lengths[:2].clamp(max=2), months[:2, :2].clone()),
            str(path),
            input_names=["image", "lengths", "months"],
            dynamic_shapes={
                "image": {0: sequences, 1: steps},
                "lengths": {0: sequences},
                "months": {0: sequences, 1: steps},
            },
            external_data=False,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {"image": batch.numpy(), "lengths": lengths.numpy(), "months": months.numpy()}
    with torch.no_grad():
        expected = model(batch, lengths, months)
    torch.testing.assert_close(torch.from_numpy(session.run(None, feed)[0]), expected)


def test_torchscript_matches_eager(model):
    *_, batch, lengths, months = padded_batch()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(batch, lengths, months), model(batch, lengths, months))


def test_an_empty_batch_gives_no_logits(model):
    empty = model(
        torch.rand(0, 3, 4, 9, 9),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, 3, dtype=torch.long),
    )
    assert empty.shape == (0, 3)


def test_training_script_runs_lrcn(prepared_file, tmp_path):
    overrides = [o for o in TINY_TRAINING if not o.startswith("model")]
    result = call_script(
        "train.py",
        *overrides,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "model=lrcn",
        "model.net.cnn_channels=[4,4]",
        "model.net.hidden_size=4",
        "model.net.downsample=3",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = (tmp_path / "train" / "runs").iterdir()
    assert "test/acc" in json.loads((run / "metrics.json").read_text())


def test_training_script_names_a_bad_setting_in_one_line(prepared_file, tmp_path):
    overrides = [o for o in TINY_TRAINING if not o.startswith("model")]
    result = call_script(
        "train.py",
        *overrides,
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        "model=lrcn",
        "model.net.kernel_sizes=[3,4]",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model.net.kernel_sizes=[3, 4]" in errors[0], result.stderr[-3000:]


def test_full_size_config_composes():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(PROJECT_ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["model=lrcn_full"])
    GlobalHydra.instance().clear()
    net = cfg.model.net
    assert net._target_ == "cropland.models.lrcn.LRCNClassifier"
    assert list(net.cnn_channels) == [32, 96, 128] and net.hidden_size == 128
    assert net.month_encoding is True  # inherited from conf/model/lrcn.yaml
