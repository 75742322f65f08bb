"""channels_last and torch.compile (``model.channels_last``, ``model.compile``): how a network
runs, set per model config. They change speed only: not the logits, not the checkpoint's
parameter names or hyperparameters; bad settings get one line naming the key."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf
from torch._dynamo.utils import counters

from cropland.training import run_options
from tests.hydra_configs import compose_config
from tests.padded_sequences import CHANNELS, pad, sequences
from tests.refusals import assert_refused
from tests.script_runs import PROJECT_ROOT, TINY_TRAINING, call_script
from tests.tiny_classifier import classifier_around

MODEL_CONFIGS = sorted(path.stem for path in (PROJECT_ROOT / "conf" / "model").glob("*.yaml"))


def net_config(model: str) -> dict:
    return OmegaConf.to_container(compose_config("train", f"model={model}").model.net)


@pytest.mark.parametrize("model", MODEL_CONFIGS)
def test_every_model_config_has_both_switches(model: str):
    cfg = compose_config(
        "train", f"model={model}", "model.channels_last=true", "model.compile=true"
    )
    assert cfg.model.channels_last is True and cfg.model.compile is True


def test_single_date_runs_channels_last_by_default_and_the_others_do_not():
    """The measured choice (benchmarks/convlstm.py): only the single-date CNN gains from it."""
    chosen = {m: compose_config("train", f"model={m}").model.channels_last for m in MODEL_CONFIGS}
    assert {m for m, on in chosen.items() if on} == {"single_date", "single_date_full"}


@pytest.mark.parametrize("model", ["convlstm", "lrcn", "single_date", "tae"])
def test_channels_last_gives_the_same_logits_and_gradients(model: str):
    image, lengths, months = pad(sequences(size=19))
    assert image.shape[2] == CHANNELS
    results = []
    for channels_last in (False, True):
        classifier = classifier_around(net_config(model), channels_last=channels_last).train()
        torch.manual_seed(1)  # the same dropout draws for both
        logits = classifier(image, lengths, months)
        logits.square().sum().backward()
        gradients = {n: p.grad for n, p in classifier.named_parameters()}
        results.append((logits, gradients))
    (plain, plain_gradients), (fast, fast_gradients) = results
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    for name, gradient in plain_gradients.items():
        torch.testing.assert_close(fast_gradients[name], gradient, rtol=1e-3, atol=1e-5)


def test_channels_last_puts_the_convolution_weights_in_that_layout():
    classifier = classifier_around(net_config("single_date"), channels_last=True)
    weights = [p for p in classifier.net.parameters() if p.dim() == 4]
    assert weights and all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
    assert not any(w.is_contiguous() for w in weights)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.channels_last=maybe", "model.channels_last='maybe'"),
        ("model.compile=1", "model.compile=1"),
    ],
)
def test_a_switch_that_is_not_true_or_false_is_refused_in_one_line(
    override, key, prepared_file, tmp_path
):
    settings = [f"data.path={prepared_file}", override, f"paths.log_dir={tmp_path}"]
    result = call_script("train.py", *TINY_TRAINING, *settings)
    assert_refused(result, f"{key}: expected true or false")


def test_compile_without_a_cpu_compiler_is_refused_before_training(
    prepared_file, tmp_path, monkeypatch
):
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(run_options.shutil, "which", lambda name: None)
    result = call_script(
        "train.py",
        *TINY_TRAINING,
        f"data.path={prepared_file}",
        "model.compile=true",
        f"hydra.run.dir={tmp_path}",
    )
    assert_refused(result, "model.compile=true: torch.compile on the CPU needs a C++ compiler")
    assert not list(tmp_path.glob("checkpoints/*.ckpt"))


@pytest.mark.slow
def test_a_compiled_run_trains_and_saves_the_plain_parameter_names(prepared_file, tmp_path):
    """Compiling takes seconds even for a tiny network: a TempCNN (one graph, no loop over
    time), against an uncompiled run of the same settings."""
    tempcnn = [
        *(o for o in TINY_TRAINING if not o.startswith("model")),
        f"data.path={prepared_file}",
        "model=tempcnn",
        "model.net.filters=[4,4]",
        "model.net.dense_units=4",
        "test=false",
    ]
    plain_run = call_script("train.py", *tempcnn, f"hydra.run.dir={tmp_path / 'plain'}")
    assert plain_run.returncode == 0, plain_run.stderr
    torch._dynamo.reset()
    counters.clear()
    result = call_script(
        "train.py", *tempcnn, "model.compile=true", f"hydra.run.dir={tmp_path / 'compiled'}"
    )
    assert result.returncode == 0, result.stderr
    assert counters["stats"]["unique_graphs"] > 0  # dynamo did compile the network
    compiled = torch.load(tmp_path / "compiled" / "checkpoints" / "last.ckpt", weights_only=True)
    plain = torch.load(tmp_path / "plain" / "checkpoints" / "last.ckpt", weights_only=True)
    assert list(compiled["state_dict"]) == list(plain["state_dict"])
    assert compiled["hyper_parameters"] == plain["hyper_parameters"]
