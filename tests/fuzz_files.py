"""Random mutations of a valid prepared file and of a valid checkpoint, each read the way the
scripts read them. Every case must end in one of two ways: refused with a one-line
CroplandError, or read into something usable (pixels and tables that agree; probabilities that
are finite and sum to 1). Anything else is a bug the checks let through.

Run in a subprocess by tests/test_fuzzed_files.py, under a memory limit:
    python -m tests.fuzz_files prepared|checkpoint <seed> <cases> <workdir>
prints one JSON line per case: {"case", "mutation", "outcome": refused|read|error, "detail"}.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import torch

from cropland.data.prepared_file import PreparedFile
from cropland.errors import CroplandError
from cropland.inference.model_loading import load_model
from tests.test_hostile_prepared import write_valid_file
from tests.tiny_classifier import SMALL_TAE, classifier_around

# Values a mutation puts where a number, a list or a string was.
ODD_VALUES: list[object] = [
    None,
    True,
    -1,
    0,
    1,
    7,
    10**9,
    -(10**12),
    0.5,
    float("nan"),
    float("inf"),
    "",
    "x",
    "=SUM(A1)",
    "BARLEY",
    [],
    [0],
    [1, 2, 3],
    ["a", "a"],
    [[[[1]]]],
    {"_target_": "os.system"},
    {"a": 1},
]


def _odd_value(rng: np.random.Generator) -> object:
    return ODD_VALUES[rng.integers(len(ODD_VALUES))]


def _dataset_names(f: h5py.File) -> list[str]:
    names: list[str] = []
    f.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
    return sorted(names)


def _replace(f: h5py.File, name: str, data: np.ndarray) -> None:
    del f[name]
    if data.dtype == object:
        f.create_dataset(name, data=data.astype(str).tolist(), dtype=h5py.string_dtype())
    else:
        f.create_dataset(name, data=data)


def mutate_prepared(path: Path, rng: np.random.Generator) -> str:
    """Change one thing in the prepared file at ``path``; return what, in words."""
    with h5py.File(path, "r+") as f:
        kind = rng.choice(["values", "dtype", "length", "shape", "delete", "attribute", "bytes"])
        if kind == "attribute":
            key = str(rng.choice(sorted(f.attrs.keys())))
            value = _odd_value(rng)
            if rng.random() < 0.2:
                f.attrs[key] = np.void(b"\x80\x04binary")
            else:
                f.attrs[key] = json.dumps(value)
            return f"attribute {key} = {value!r}"
        if kind == "bytes":
            pass  # after the file is closed
        else:
            name = str(rng.choice(_dataset_names(f)))
            data = f[name][()]
            if kind == "values" and data.dtype.kind in "iu":
                data = rng.integers(-(10**6), 10**6, data.shape).astype(data.dtype)
            elif kind == "values":
                value = _odd_value(rng)
                data = np.full(
                    data.shape,
                    str(value) if isinstance(value, list | dict) else value,
                    dtype=object,
                )
            elif kind == "dtype" and data.dtype.kind not in "iuf":
                data = np.arange(data.size).reshape(data.shape)
            elif kind == "dtype":
                data = data.astype(rng.choice([np.float64, np.int8, np.uint16, object]))
            elif kind == "length":
                stop = int(rng.integers(0, 2 * len(data) + 2))
                data = np.resize(data, (stop, *data.shape[1:]))
            elif kind == "shape":
                data = data.reshape(-1)[: data.size // 2 * 2].reshape(-1, 2)
            if kind == "delete":
                del f[name]
            else:
                _replace(f, name, data)
            return f"{kind} of {name}"
    size = path.stat().st_size
    offset = int(rng.integers(0, size - 16))
    with path.open("r+b") as raw:
        raw.seek(offset)
        raw.write(rng.integers(0, 256, 16, dtype=np.uint8).tobytes())
    return f"16 random bytes at {offset}"


def use_prepared(path: Path) -> str:
    """Read the file as the DataModule does; check what was read agrees with itself."""
    prepared = PreparedFile(path)
    sequences, classes = prepared.sequences, prepared.classes
    for start, length, label in zip(
        sequences.start, sequences.length, sequences.label, strict=True
    ):
        pixels = prepared.read_records(int(start), int(start + length))
        assert pixels.dtype == np.uint8 and len(pixels) == length >= 1
        assert pixels.shape[1] == len(prepared.channels)
        assert -1 <= label < len(classes)
        months = prepared.records.month[start : start + length]
        assert ((months >= 1) & (months <= 12)).all()
    return f"{len(sequences)} sequences"


def mutate_checkpoint(checkpoint: dict, rng: np.random.Generator) -> tuple[dict, str]:
    """A copy of ``checkpoint`` with one thing changed, and what, in words."""
    checkpoint = {
        **checkpoint,
        "hyper_parameters": json.loads(json.dumps(checkpoint["hyper_parameters"])),
    }
    checkpoint["state_dict"] = dict(checkpoint["state_dict"])
    kind = rng.choice(["weight", "hyperparameter", "network setting", "top level"])
    if kind == "weight":
        state = checkpoint["state_dict"]
        key = str(rng.choice(sorted(state)))
        tensor = state[key]
        change = rng.choice(["nan", "shape", "dtype", "delete", "extra", "not a tensor"])
        if change == "nan":
            state[key] = (
                torch.full_like(tensor, float("nan")) if tensor.is_floating_point() else tensor
            )
        elif change == "shape":
            state[key] = torch.zeros(*(int(n) for n in rng.integers(1, 9, rng.integers(1, 4))))
        elif change == "dtype":
            state[key] = tensor.to(torch.int64)
        elif change == "delete":
            del state[key]
        elif change == "extra":
            state[key + "_extra"] = tensor.clone()
        else:
            state[key] = _odd_value(rng)
        return checkpoint, f"{change} of weight {key}"
    if kind == "top level":
        key = str(rng.choice(["state_dict", "hyper_parameters", "epoch"]))
        checkpoint[key] = _odd_value(rng)
        return checkpoint, f"top-level {key} = {checkpoint[key]!r}"
    settings = checkpoint["hyper_parameters"]
    if kind == "network setting":
        settings = settings["net"]
    key = str(rng.choice(sorted(settings)))
    settings[key] = _odd_value(rng)
    return checkpoint, f"{kind} {key} = {settings[key]!r}"


def use_checkpoint(path: Path) -> str:
    """Load the checkpoint as eval, predict and export do, and classify a small batch."""
    loaded = load_model(path)
    model = loaded.classifier
    channels = len(model.hparams.channels)
    image = torch.rand(2, 3, channels, 65, 65)
    with torch.no_grad():
        probabilities = model(
            image, torch.tensor([3, 2]), torch.tensor([[5, 6, 7], [6, 7, 1]])
        ).softmax(-1)
    assert torch.isfinite(probabilities).all(), "probabilities that are not finite"
    assert torch.allclose(probabilities.sum(-1), torch.ones(2)), (
        "probabilities that do not sum to 1"
    )
    return f"probabilities of shape {tuple(probabilities.shape)}"


def _outcome(use: Callable[[Path], str], path: Path) -> tuple[str, str]:
    try:
        return "read", use(path)
    except CroplandError as error:
        message = str(error)
        if "\n" in message.strip():
            return "error", f"a refusal of more than one line: {message!r}"
        return "refused", message
    except Exception:  # what the fuzzing is for: report it, go on with the next case
        return "error", traceback.format_exc(limit=-3)


def main(kind: str, seed: int, cases: int, workdir: Path) -> None:
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    if kind == "prepared":
        valid = write_valid_file(workdir / "valid.h5")
    else:
        model = classifier_around(SMALL_TAE)
        valid_checkpoint = {
            "epoch": 0,
            "global_step": 0,
            "pytorch-lightning_version": "2.6.0",
            "state_dict": model.state_dict(),
            "hyper_parameters": json.loads(json.dumps(dict(model.hparams))),
        }
    for case in range(cases):
        path = workdir / f"case_{case}.{'h5' if kind == 'prepared' else 'ckpt'}"
        if kind == "prepared":
            shutil.copy(valid, path)
            mutation = mutate_prepared(path, rng)
            outcome, detail = _outcome(use_prepared, path)
        else:
            content, mutation = mutate_checkpoint(valid_checkpoint, rng)
            torch.save(content, path)
            outcome, detail = _outcome(use_checkpoint, path)
        path.unlink()
        print(
            json.dumps({"case": case, "mutation": mutation, "outcome": outcome, "detail": detail}),
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
