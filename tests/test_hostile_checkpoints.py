"""Checkpoints from elsewhere are checked for content and bounded in cost before a model is built:
crafted files that load with ``weights_only=True`` (NaN weights, statistics that are not
numbers, settings nested thousands deep, a huge network over small weights, a zip bomb, weights
that do not fit, class names that would break a CSV) are refused in one line by every loader,
and by the scripts under a memory limit, before any heavy work."""

from __future__ import annotations

import copy
import os
import resource
import struct
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import lightning
import pytest
import torch
from omegaconf import OmegaConf

import cropland.torch_files as torch_files
from cropland.errors import CroplandError
from cropland.inference.model_loading import load_classifier, load_model
from cropland.models.networks import find_hydra_keys
from cropland.models.published import load_published_checkpoint
from cropland.torch_files import torch_file_problem
from cropland.training.checkpoint_reading import classifier_on_meta, read_checkpoint
from cropland.training.module import CropSequenceClassifier
from cropland.training.resume import resume_checkpoint
from tests.hydra_configs import compose_config
from tests.script_runs import PROJECT_ROOT, PUBLISHED_WEIGHTS
from tests.tiny_classifier import SMALL_TAE, classifier_around

TAE = SMALL_TAE

LOADERS: dict[str, Callable[[Path], object]] = {
    "read_checkpoint": read_checkpoint,
    "load_model": load_model,
    "load_classifier": load_classifier,
    "load_from_checkpoint": CropSequenceClassifier.load_from_checkpoint,
    "resume": lambda path: resume_checkpoint(path, path.parent / "runs", path.parent / "now"),
}

# Far below what the crafted files would take if they were loaded or built: each refusal must
# come before that.
MEMORY_LIMIT = 3 * 1024**3


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> dict:
    """A valid Lightning checkpoint of a tiny L-TAE classifier (4 channels, 3 classes), as
    scripts/train.py writes one, without a training run."""
    model = classifier_around(TAE)
    return {
        "epoch": 0,
        "global_step": 0,
        "pytorch-lightning_version": lightning.__version__,
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
    }


def _write(tmp_path: Path, name: str, content: object) -> Path:
    path = tmp_path / f"{name}.ckpt"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(20_000)  # pickling a list nested 5,000 deep recurses
    try:
        torch.save(content, path)
    finally:
        sys.setrecursionlimit(limit)
    return path


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _shared(levels: int, width: int) -> list:
    """``width ** levels`` values to walk, a few bytes to store: each level repeats one list."""
    value: list = [0] * width
    for _ in range(levels):
        value = [value] * width
    return value


def _set(section: str, dotted: str, value: object) -> Callable[[dict], None]:
    def change(checkpoint: dict) -> None:
        *parents, key = dotted.split(".")
        node = checkpoint[section]
        for parent in parents:
            node = node[parent]
        node[key] = value

    return change


def _hparam(dotted: str, value: object) -> Callable[[dict], None]:
    return _set("hyper_parameters", dotted, value)


def _weight(key: str, value: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[dict], None]:
    def change(checkpoint: dict) -> None:
        checkpoint["state_dict"][key] = value(checkpoint["state_dict"][key])

    return change


def _huge_network(checkpoint: dict) -> None:
    # Divisible by n_head=3; the weights stay those of d_model=12.
    _hparam("net.d_model", 24_000)(checkpoint)
    _hparam("net.mlp", [24_000, 8])(checkpoint)


def _drop_add_reshape(checkpoint: dict) -> None:
    state = checkpoint["state_dict"]
    del state["net.head.bias"]
    state["net.extra.weight"] = torch.zeros(3, 4)
    state["net.encoder.layers.0.weight"] = torch.zeros(7, 7)


NAN = float("nan")

# name: (change to the valid checkpoint, what the one-line refusal says)
CRAFTED: dict[str, tuple[Callable[[dict], None], list[str]]] = {
    "nan_head": (
        _weight("net.head.weight", lambda w: torch.full_like(w, NAN)),
        ["state_dict net.head.weight holds NaN or infinite values"],
    ),
    "inf_weight_deep_inside": (
        _weight(
            "net.encoder.layers.0.weight",
            lambda w: w.index_fill(0, torch.tensor([1]), float("inf")),
        ),
        ["net.encoder.layers.0.weight holds NaN or infinite"],
    ),
    "integer_weight": (
        _weight("net.head.weight", lambda w: w.long()),
        ["net.head.weight is torch.int64, expected torch.float32"],
    ),
    "nan_mean": (
        _hparam("channel_mean", [0.2, NAN, 0.25, 0.4]),
        ["hyper_parameters.channel_mean: entry 1 is nan, expected a finite number"],
    ),
    "zero_std": (
        _hparam("channel_std", [0.05, 0.0, 0.07, 0.2]),
        ["hyper_parameters.channel_std: entry 1 is 0.0, expected a number above 0"],
    ),
    "std_as_strings": (
        _hparam("channel_std", ["0.05", "0.1", "0.07", "0.2"]),
        ["hyper_parameters.channel_std: entry 0 is a str, expected a number"],
    ),
    "std_one_short": (
        _hparam("channel_std", [0.05, 0.1, 0.07]),
        ["hyper_parameters.channel_std: 3 values, expected 4, one per channel"],
    ),
    "huge_whole_number": (
        _hparam("channel_mean", [10**500, 0.3, 0.25, 0.4]),
        ["channel_mean: entry 0 is a huge number, expected a finite number"],
    ),
    "negative_class_weight": (
        _hparam("class_weights", [1.0, -1.0, 1.0]),
        ["hyper_parameters.class_weights: entry 1 is -1.0, expected a number at least 0"],
    ),
    "buffer_differs": (
        _weight("channel_std", torch.zeros_like),
        ["state_dict channel_std differs from hyper_parameters.channel_std"],
    ),
    "nested_in_net": (
        _hparam("net.mlp", _nested(5_000)),
        ["hyper_parameters.net.mlp", "(nested deeper than 16)", "refusing"],
    ),
    "nested_at_top": (
        _hparam("notes", _nested(5_000)),
        ["hyper_parameters.notes", "(nested deeper than 16)", "refusing"],
    ),
    "long_list": (
        _hparam("notes", list(range(200_000))),
        ["hyper_parameters (more than 100000 values)"],
    ),
    "shared_lists": (
        _hparam("notes", _shared(levels=12, width=4)),
        ["hyper_parameters (more than 100000 values)"],
    ),
    "long_string": (
        _hparam("net.pooling", "x" * 100_000),
        ["hyper_parameters.net.pooling (a string of 100000 characters)"],
    ),
    "key_with_line_break": (
        _hparam("notes", {"a\nb": 1}),
        ["hyper_parameters.notes (a key 'a\\nb' that is not a short printable name)"],
    ),
    "huge_network": (
        _huge_network,
        [
            "its state_dict does not fit the network its hyper_parameters describe",
            "net.temporal.projection.weight has shape (12, 28), expected (24000, 28)",
        ],
    ),
    "weights_do_not_fit": (
        _drop_add_reshape,
        [
            "missing net.head.bias (3,)",
            "unexpected net.extra.weight (3, 4)",
            "net.encoder.layers.0.weight has shape (7, 7), expected (6, 4, 3, 3)",
        ],
    ),
    "state_dict_not_a_mapping": (
        lambda checkpoint: checkpoint.update(state_dict=[1]),
        ["state_dict is a list, not a mapping of weights"],
    ),
    "not_divisible": (
        _hparam("net.d_model", 13),
        ["hyper_parameters do not build a CropSequenceClassifier", "must be divisible"],
    ),
    "unknown_setting": (
        _hparam("verbose", True),
        ["hyper_parameters do not build a CropSequenceClassifier", "verbose"],
    ),
    "hyper_parameters_not_a_mapping": (
        lambda checkpoint: checkpoint.update(hyper_parameters=[1, 2]),
        ["hyper_parameters is a list, not a mapping"],
    ),
    "repeated_class": (
        _hparam("classes", ["BARLEY", "CANOLA", "BARLEY"]),
        ["hyper_parameters.classes: entry 2 ('BARLEY') repeats an earlier class name"],
    ),
    "formula_class": (
        _hparam("classes", ["BARLEY", '=HYPERLINK("http://x","y")', "CORN"]),
        ["hyper_parameters.classes: entry 1", "starts like a spreadsheet formula"],
    ),
    "unknown_channel": (
        _hparam("channels", ["red", "green", "blue", "infrared"]),
        ["hyper_parameters.channels: entry 3 ('infrared') is not one of red, green"],
    ),
    "repeated_channel": (
        _hparam("channels", ["red", "green", "blue", "red"]),
        ["hyper_parameters.channels: entry 3 ('red') repeats an earlier channel"],
    ),
    "part_of_a_sensor": (
        _hparam("channels", ["red", "green", "ndvi45", "gndvi"]),
        ["hyper_parameters.channels: channels", "do not split into whole sensors"],
    ),
}


def _crafted_file(checkpoint: dict, tmp_path: Path, name: str) -> Path:
    change, _ = CRAFTED[name]
    crafted = copy.deepcopy(checkpoint)
    change(crafted)
    path = _write(tmp_path, name, crafted)
    # Crafted as an attacker would: it still loads with weights_only=True.
    torch.load(path, map_location="cpu", weights_only=True)
    return path


def _zip_bomb(path: Path, how: str) -> Path:
    """A zip archive laid out as torch.save lays one out, whose data.pkl inflates (or says it
    inflates) to far more than the file: ``declared``, a deflated MiB of zeros whose size fields
    say 3 GiB (cheap to make); ``deflated``, 64 MiB of zeros really deflated."""
    size = 2**20 if how == "declared" else 64 * 2**20
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive/data.pkl", bytes(size))
        archive.writestr("archive/version", "3\n")
    if how == "declared":
        declared = 3 * 2**30
        with zipfile.ZipFile(path) as archive:
            local = archive.getinfo("archive/data.pkl").header_offset
        data = bytearray(path.read_bytes())
        struct.pack_into("<I", data, local + 22, declared)  # the local header's size field
        central = data.index(b"PK\x01\x02")  # data.pkl's entry comes first in the directory
        struct.pack_into("<I", data, central + 24, declared)
        path.write_bytes(data)
        with zipfile.ZipFile(path) as archive:
            assert archive.getinfo("archive/data.pkl").file_size == declared
    return path


def test_the_valid_checkpoint_loads_everywhere(checkpoint, tmp_path):
    path = _write(tmp_path, "valid", checkpoint)
    assert torch_file_problem(path) is None
    for loader in LOADERS.values():
        assert loader(path) is not None
    model = load_classifier(path)
    assert torch.equal(model.net.head.weight, checkpoint["state_dict"]["net.head.weight"])


def test_published_weights_still_load():
    assert torch_file_problem(PUBLISHED_WEIGHTS) is None
    assert load_model(PUBLISHED_WEIGHTS).is_published
    assert load_published_checkpoint(PUBLISHED_WEIGHTS) is not None


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_read_checkpoint_refuses_crafted_content_in_one_line(checkpoint, tmp_path, name):
    path = _crafted_file(checkpoint, tmp_path, name)
    with pytest.raises(CroplandError) as refused:
        read_checkpoint(path)
    message = str(refused.value)
    assert message.startswith(f"ckpt_path={path}")
    assert "\n" not in message
    for text in CRAFTED[name][1]:
        assert text in message, message


@pytest.mark.parametrize("name", ["nan_head", "huge_network", "nested_at_top", "repeated_class"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_every_loader_refuses_them(checkpoint, tmp_path, name, loader):
    path = _crafted_file(checkpoint, tmp_path, name)
    with pytest.raises(CroplandError, match=rf"^ckpt_path={path}"):
        LOADERS[loader](path)


@pytest.mark.parametrize("how", ["declared", "deflated"])
@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path, how, loader):
    path = _zip_bomb(tmp_path / "bomb.ckpt", how)
    assert path.stat().st_size < 2**20
    with pytest.raises(CroplandError, match="zip members declare .* uncompressed, more than"):
        LOADERS[loader](path)


def test_the_published_loader_refuses_a_zip_bomb_and_nan_weights(tmp_path):
    with pytest.raises(CroplandError, match="uncompressed, more than the file's"):
        load_published_checkpoint(_zip_bomb(tmp_path / "best_model.pth", "declared"))
    state = torch.load(PUBLISHED_WEIGHTS, map_location="cpu", weights_only=True)
    state["fc.weight"] = torch.full_like(state["fc.weight"], NAN)
    torch.save(state, tmp_path / "nan.pth")
    with pytest.raises(CroplandError, match="fc.weight holds NaN or infinite values"):
        load_published_checkpoint(tmp_path / "nan.pth")


def test_legacy_format_is_refused_unread(tmp_path):
    path = tmp_path / "legacy.ckpt"
    torch.save({"state_dict": {}}, path, _use_new_zipfile_serialization=False)
    with pytest.raises(CroplandError, match="PyTorch's legacy format is not read"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    ("bound", "expected"),
    [
        ("MAX_FILE_BYTES", r"it is .*KiB, more than the 1000 bytes allowed"),
        ("MAX_PICKLE_BYTES", r"its \S+/data.pkl is .*, more than the 1000 bytes allowed"),
        ("MAX_DIRECTORY_BYTES", r"its zip directory declares .*, more than the 1000 bytes"),
    ],
)
def test_each_bound_on_the_file_is_checked(checkpoint, tmp_path, monkeypatch, bound, expected):
    path = _write(tmp_path, "valid", checkpoint)
    monkeypatch.setattr(torch_files, bound, 1000)
    with pytest.raises(CroplandError, match=expected):
        read_checkpoint(path)


def test_what_torch_save_writes_passes_the_bounds(checkpoint, tmp_path):
    """torch.save stores its members: they inflate to less than the file, whatever it holds."""
    big = {**checkpoint, "optimizer_states": [{"moments": torch.zeros(4_000_000)}]}
    path = _write(tmp_path, "big", big)
    assert torch_file_problem(path) is None


def test_the_walk_needs_no_recursion():
    found = find_hydra_keys({"notes": _nested(100_000)}, "cfg")
    assert found == ["cfg.notes" + "[0]" * 15 + " (nested deeper than 16)"]


# --- the meta-device build the weights are compared with -----------------------------------


@pytest.mark.parametrize(
    "model", sorted(p.stem for p in (PROJECT_ROOT / "conf" / "model").glob("*.yaml"))
)
def test_every_network_builds_on_meta_as_it_builds_for_real(model):
    net = OmegaConf.to_container(compose_config("train", f"model={model}").model.net, resolve=True)
    hparams = dict(classifier_around(net).hparams)
    on_meta = classifier_on_meta(hparams, "test").state_dict()
    real = classifier_around(net).state_dict()
    assert list(on_meta) == list(real)
    for key, value in real.items():
        assert on_meta[key].is_meta
        assert (on_meta[key].shape, on_meta[key].dtype) == (value.shape, value.dtype), key


# --- the scripts, in a process of their own under a memory limit ---------------------------


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run_bounded(script: str, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / script), *overrides],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=_limit_memory,
    )


def _huge_network_and_head(checkpoint: dict) -> None:
    """What a built network would take gigabytes for: a d_model x d_model layer."""
    _hparam("net.d_model", 24_000)(checkpoint)
    _hparam("net.mlp", [24_000, 24_000])(checkpoint)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "name", "expected"),
    [
        ("predict.py", "nan_head", "state_dict net.head.weight holds NaN or infinite values"),
        ("predict.py", "bomb", "zip members declare 3.0 GiB uncompressed"),
        ("eval.py", "huge_network", "expected (24000, 28)"),
        ("eval.py", "nested_at_top", "(nested deeper than 16)"),
        ("predict.py", "formula_class", "starts like a spreadsheet formula"),
    ],
)
def test_scripts_refuse_them_in_one_line_within_bounds(
    checkpoint, tmp_path, script, name, expected
):
    if name == "bomb":
        path = _zip_bomb(tmp_path / "bomb.ckpt", "declared")
    elif name == "huge_network":
        crafted = copy.deepcopy(checkpoint)
        _huge_network_and_head(crafted)
        path = _write(tmp_path, name, crafted)
    else:
        path = _crafted_file(checkpoint, tmp_path, name)
    (tmp_path / "new").mkdir()
    outputs = tmp_path / "outputs"
    overrides = {
        "predict.py": [f"input={tmp_path / 'new'}", f"output={outputs / 'predictions.csv'}"],
        "eval.py": [f"paths.log_dir={outputs}"],
    }[script]
    result = _run_bounded(
        script, f"ckpt_path={path}", *overrides, f"hydra.run.dir={tmp_path / 'hydra'}"
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: ckpt_path={path}"), result.stderr
    assert expected in lines[0], lines[0]
    written = [p for p in outputs.rglob("*") if p.is_file()] if outputs.exists() else []
    assert not written
