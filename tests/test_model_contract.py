"""What every network in :data:`cropland.models.networks.NETWORKS` must do, whatever its
architecture: give each sequence of a padded batch its own logits, read the months, take any
image size, refuse inputs it cannot use, get gradients everywhere, compile to TorchScript and
``torch.export``, export to ONNX and TorchScript files that match PyTorch, and train through
scripts/train.py with its conf/model config. What one architecture does beyond this (its paper,
its settings) is tested in its own file."""

from __future__ import annotations

import inspect
import json
import warnings
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from cropland.errors import CroplandError
from cropland.inference.export import EXPORTERS, check_exported
from cropland.models.networks import NETWORKS, build_network, network_class
from tests.extras import needs_extra
from tests.hydra_configs import compose_config
from tests.padded_sequences import BAD_LENGTHS, CHANNELS, one_by_one, pad, sequences
from tests.random_norms import with_random_norms
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, call_script
from tests.tiny_classifier import CLASSES, SMALL_TAE, classifier_around

CONVLSTM = "cropland.models.convlstm.ConvLSTMClassifier"
SINGLE_DATE = "cropland.models.single_date.SingleDateClassifier"
TEMPCNN = "cropland.models.tempcnn.TempCNNClassifier"
LRCN = "cropland.models.lrcn.LRCNClassifier"
CONV3D = "cropland.models.conv3d.Conv3DClassifier"
TAE = "cropland.models.tae.LTAEClassifier"

# Settings that make each network small enough for a test on the CPU.
SMALL: dict[str, dict] = {
    CONVLSTM: {"hidden_channels": [6, 8], "kernel_sizes": [3, 5], "month_encoding": True},
    SINGLE_DATE: {"hidden_channels": [4, 6], "month_encoding": True},
    TEMPCNN: {"filters": [6, 8], "kernel_size": 5, "dense_units": 8},
    LRCN: {"cnn_channels": [6, 8], "kernel_sizes": [3, 5], "hidden_size": 7},
    CONV3D: {"channels": [6, 8, 4]},
    TAE: {key: value for key, value in SMALL_TAE.items() if key != "_target_"},
}

# Each base conf/model config (the *_full ones only change sizes) and the overrides that make it
# train in seconds.
TINY_MODELS: dict[str, list[str]] = {
    "convlstm": ["model.net.hidden_channels=[4,4]"],
    "single_date": ["model.net.hidden_channels=[4,4]"],
    "tempcnn": ["model.net.filters=[4,4]", "model.net.dense_units=4"],
    "lrcn": ["model.net.cnn_channels=[4,4]", "model.net.hidden_size=4", "model.net.downsample=3"],
    "conv3d": ["model.net.channels=[4,4]", "model.net.downsample=3"],
    "tae": [
        "model.net.encoder_widths=[6,8]",
        "model.net.d_model=12",
        "model.net.n_head=3",
        "model.net.d_k=4",
        "model.net.mlp=[12,8]",
    ],
}
TRAINING = [o for o in TINY_TRAINING if not o.startswith("model")]

MODEL_CONFIGS = sorted(path.stem for path in (PROJECT_ROOT / "conf" / "model").glob("*.yaml"))


def short(target: str) -> str:
    return target.rsplit(".", 1)[1]


def settings_of(target: str) -> set[str]:
    return set(inspect.signature(network_class({"_target_": target}, "net")).parameters)


def build(target: str, **settings) -> nn.Module:
    """The small ``target`` network (4 channels, 3 classes) in eval mode, from seed 0, with
    random batch-norm statistics; ``settings`` override :data:`SMALL`'s."""
    torch.manual_seed(0)
    config = {"_target_": target, **SMALL[target], **settings}
    net = build_network(config, "model.net", in_channels=CHANNELS, num_classes=len(CLASSES))
    return with_random_norms(net).eval()


def networks(*targets: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("target", targets, ids=[short(t) for t in targets])


every_network = networks(*NETWORKS)
# Networks with a month_encoding setting (the L-TAE always reads months) and with a downsample
# setting (pooling before the network).
with_month_encoding = networks(*(t for t in NETWORKS if "month_encoding" in settings_of(t)))
with_downsample = networks(*(t for t in NETWORKS if "downsample" in settings_of(t)))


def test_every_network_is_covered_here_and_has_a_config() -> None:
    assert set(SMALL) == set(NETWORKS)
    targets = {compose_config("train", f"model={m}").model.net._target_ for m in TINY_MODELS}
    assert targets == set(NETWORKS)
    assert set(TINY_MODELS) == {m for m in MODEL_CONFIGS if not m.endswith("_full")}


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_every_model_config_builds_a_network_that_classifies_patches(model: str) -> None:
    net = compose_config("train", f"model={model}").model.net
    if model.endswith("_full"):  # the same network as its base config, larger
        base = compose_config("train", f"model={model.removesuffix('_full')}").model.net
        assert net._target_ == base._target_
    network = build_network(
        OmegaConf.to_container(net, resolve=True), "model.net", in_channels=5, num_classes=10
    ).eval()
    image = torch.randn(2, 3, 5, 65, 65)
    with torch.no_grad():
        logits = network(image, torch.tensor([3, 2]), torch.tensor([[6, 7, 9], [5, 8, 0]]))
    assert logits.shape == (2, 10)


# --- padding and months --------------------------------------------------------------------------


@every_network
def test_padded_batch_gives_each_sequence_its_own_logits(target: str) -> None:
    model, images = build(target), sequences()
    with torch.no_grad():
        padded = model(*pad(images))
        alone = one_by_one(model, images)
    torch.testing.assert_close(padded, alone, atol=1e-5, rtol=1e-5)


# Batch norm normalizes over the batch in training, so only these are per-sequence there too.
@networks(CONVLSTM, LRCN, CONV3D, TAE)
def test_padding_invariance_holds_in_training_mode_too(target: str) -> None:
    """No batch statistics: train-mode outputs (dropout off) are as per-sequence as eval's."""
    model, images = build(target, dropout=0.0).train(), sequences()
    torch.testing.assert_close(model(*pad(images)), one_by_one(model, images), atol=1e-5, rtol=1e-5)


@every_network
def test_months_change_the_prediction(target: str) -> None:
    model, image, lengths = build(target), torch.randn(1, 3, CHANNELS, 9, 9), torch.tensor([3])
    with torch.no_grad():
        early = model(image, lengths, torch.tensor([[6, 7, 8]]))
        late = model(image, lengths, torch.tensor([[8, 9, 10]]))
    assert not torch.allclose(early, late)


@with_month_encoding
def test_months_are_needed_only_with_month_encoding(target: str) -> None:
    """The L-TAE, which always reads months, says so in tests/test_model_tae.py."""
    image, lengths = torch.randn(2, 3, CHANNELS, 9, 9), torch.tensor([3, 2])
    assert build(target, month_encoding=False)(image, lengths).shape == (2, 3)
    with pytest.raises(ValueError, match="month_encoding=True: pass months"):
        build(target)(image, lengths)


# --- image sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "downsample"),
    [
        pytest.param(t, d, id=f"{short(t)}-downsample{d}")
        for t in NETWORKS
        for d in ((1, 3) if "downsample" in settings_of(t) else (None,))
    ],
)
@pytest.mark.parametrize("size", [9, 10, 65])
def test_any_image_size_works(target: str, downsample: int | None, size: int) -> None:
    """Hidden states and pooled sizes come from the input, not from a fixed image size."""
    model = build(target) if downsample is None else build(target, downsample=downsample)
    months = torch.tensor([[6, 7, 8]] * 2)
    with torch.no_grad():
        assert model(torch.randn(2, 3, CHANNELS, size, size), months=months).shape == (2, 3)


@with_downsample
def test_downsampling_past_the_image_size_is_refused_at_the_first_forward(target: str) -> None:
    """The model takes any image size, so the size is checked against the input."""
    model, months = build(target, downsample=100), torch.tensor([[6, 7]])
    with pytest.raises(CroplandError, match=r"model\.net\.downsample=100 pools the 65x65 images"):
        model(torch.rand(1, 2, CHANNELS, 65, 65), months=months)
    assert model(torch.rand(1, 2, CHANNELS, 100, 120), months=months).shape == (1, 3)


# --- inputs it cannot use ------------------------------------------------------------------------


@every_network
@pytest.mark.parametrize(
    ("lengths", "message"),
    BAD_LENGTHS,
)
def test_lengths_outside_1_to_time_raise(target: str, lengths, message: str) -> None:
    image, months = torch.rand(2, 3, CHANNELS, 9, 9), torch.tensor([[6, 7, 8], [6, 7, 0]])
    with pytest.raises(ValueError, match=message):
        build(target)(image, torch.tensor(lengths), months)


@every_network
def test_images_without_a_time_axis_or_steps_raise(target: str) -> None:
    model = build(target)
    with pytest.raises(ValueError, match=r"\(batch, time, channels, H, W\), got \(2, 3, 9, 9\)"):
        model(torch.rand(2, 3, 9, 9), months=torch.tensor([[6, 7, 8]] * 2))
    with pytest.raises(ValueError, match="no time step"):
        model(torch.rand(2, 0, 3, 9, 9), torch.tensor([1, 1]), torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("target", NETWORKS, ids=short)
def test_an_empty_batch_gives_no_logits(target: str) -> None:
    image, months = torch.rand(0, 3, CHANNELS, 9, 9), torch.zeros(0, 3, dtype=torch.long)
    assert build(target)(image, torch.zeros(0, dtype=torch.long), months).shape == (0, 3)


# --- gradients -----------------------------------------------------------------------------------


def assert_every_parameter_gets_a_gradient(model: nn.Module, image, lengths, months) -> None:
    model(image, lengths, months).logsumexp(dim=1).mean().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name


@every_network
def test_every_parameter_gets_a_gradient(target: str) -> None:
    # Two LSTM layers: dropout acts between them too.
    extra = {"lstm_layers": 2} if target == LRCN else {}
    model = build(target, dropout=0.1, **extra).train()
    assert_every_parameter_gets_a_gradient(model, *pad(sequences()))


# The ConvLSTM and the L-TAE compute on padded steps and discard the result: NaN there would give
# NaN gradients (0 * NaN). The DataModule pads with zeros.
@networks(SINGLE_DATE, TEMPCNN, LRCN, CONV3D)
def test_nan_on_the_padding_reaches_no_gradient(target: str) -> None:
    extra = {"lstm_layers": 2} if target == LRCN else {}
    model = build(target, dropout=0.1, **extra).train()
    image, lengths, months = pad(sequences())
    image[1, 2:] = float("nan")
    assert_every_parameter_gets_a_gradient(model, image, lengths, months)


# --- compiled and exported graphs ----------------------------------------------------------------


@every_network
def test_torchscript_matches_eager_and_carries_no_check(target: str) -> None:
    """The checks read tensor values: they must not enter a TorchScript graph (exported files
    do not check lengths, as their model card says)."""
    model, batch = build(target), pad(sequences())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation
        scripted = torch.jit.script(model)
    with torch.no_grad():
        torch.testing.assert_close(scripted(*batch), model(*batch))
    assert "lengths must" not in str(scripted.graph)


@every_network
def test_torch_export_matches_eager(target: str) -> None:
    model, batch = build(target), pad(sequences())
    exported = torch.export.export(model, batch).module()
    with torch.no_grad():
        torch.testing.assert_close(exported(*batch), model(*batch))


# The ConvLSTM's loop and the LRCN's LSTM unroll over the example's steps in torch.export; the
# ONNX export writes them as a Scan and an LSTM node instead (see the test below).
@networks(SINGLE_DATE, TEMPCNN, CONV3D, TAE)
def test_torch_export_keeps_batch_and_time_free(target: str) -> None:
    model = build(target)
    image, lengths, months = pad(sequences())
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    exported = torch.export.export(
        model,
        # Copies: a slice keeps the strides of the 5-step batch, which export would guard on.
        (image[:2, :4].clone(), lengths[:2].clamp(max=4), months[:2, :4].clone()),
        dynamic_shapes={
            "image": {0: batch, 1: time},
            "lengths": {0: batch},
            "months": {0: batch, 1: time},
        },
    ).module()
    with torch.no_grad():
        torch.testing.assert_close(exported(image, lengths, months), model(image, lengths, months))


@every_network
@pytest.mark.parametrize(
    "format", [pytest.param("onnx", marks=[pytest.mark.slow, needs_extra("export")]), "torchscript"]
)
def test_exports_match_pytorch_on_every_length(target: str, format: str, tmp_path: Path) -> None:
    """The route of scripts/export.py, and its own check: padded batches of 1 and 3 sequences,
    1 to 5 steps, so batch and time stay free in the file."""
    if format == "onnx":
        # torch.export caches aten.lstm's decomposition into unrolled steps (torch 2.13): after a
        # torch.export test in this process, the ONNX exporter would fix the time axis. A fresh
        # process, as scripts/export.py is, starts without it.
        for overload in torch.ops.aten.lstm.overloads():
            getattr(torch.ops.aten.lstm, overload)._dispatch_cache.clear()
    model = classifier_around({"_target_": target, **SMALL[target]})
    with_random_norms(model.net)
    path = tmp_path / f"model.{format}"
    EXPORTERS[format](model, path)
    assert check_exported(format, path, model) < 1e-4


# --- the training script -------------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(TINY_MODELS))
def test_training_script_trains_it(model: str, prepared_file, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = call_script(
        "train.py",
        *TRAINING,
        f"model={model}",
        *TINY_MODELS[model],
        f"data.path={prepared_file}",
        f"hydra.run.dir={run_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"test/acc", "test/f1_macro"} <= set(metrics)
    checkpoint = torch.load(
        run_dir / "checkpoints" / "last.ckpt", weights_only=True, map_location="cpu"
    )
    target = compose_config("train", f"model={model}").model.net._target_
    assert checkpoint["hyper_parameters"]["net"]["_target_"] == target


@pytest.mark.parametrize(
    ("model", "overrides", "key"),
    [
        pytest.param(
            "convlstm",
            ["model.net.hidden_channels=[]", "model.net.kernel_sizes=[]"],
            "hidden_channels=[]",
            id="convlstm-no_layers",
        ),
        pytest.param(
            "convlstm",
            ["model.net.kernel_sizes=[3]"],
            "model.net.kernel_sizes=[3]",
            id="convlstm-kernel_sizes_mismatch",
        ),
        pytest.param(
            "convlstm", ["model.net.dropout=1.5"], "model.net.dropout=1.5", id="convlstm-dropout"
        ),
        pytest.param(
            "convlstm",
            ["model.net.downsample=100"],
            "model.net.downsample=100 pools the 65x65 images",
            id="convlstm-downsample",
        ),
        pytest.param(
            "single_date", ["model.net.date=latest"], "model.net.date='latest'", id="single_date"
        ),
        pytest.param(
            "tempcnn",
            ["model.net.pooling=flatten"],
            "model.net.pooling='flatten'",
            id="tempcnn-pooling",
        ),
        pytest.param(
            "tempcnn",
            ["model.net.centre=100"],
            "model.net.centre=100 is larger than the 65x65 images",
            id="tempcnn-centre",
        ),
        pytest.param(
            "lrcn", ["model.net.kernel_sizes=[3,4]"], "model.net.kernel_sizes=[3, 4]", id="lrcn"
        ),
        pytest.param(
            "conv3d", ["model.net.downsample=100"], "model.net.downsample=100", id="conv3d"
        ),
        pytest.param(
            "tae",
            ["model.net.n_head=5"],
            "model.net.d_model=12 must be divisible by model.net.n_head=5",
            id="tae",
        ),
    ],
)
def test_training_script_names_a_bad_setting_in_one_line(
    model: str, overrides: list[str], key: str, prepared_file, tmp_path: Path
) -> None:
    result = call_script(
        "train.py",
        *TRAINING,
        f"model={model}",
        *TINY_MODELS[model],
        f"data.path={prepared_file}",
        f"paths.log_dir={tmp_path}",
        *overrides,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and key in errors[0], result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == errors[0]
