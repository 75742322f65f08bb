"""Exported models fed what they cannot check: an empty batch (which killed onnxruntime with
SIGFPE in the L-TAE's einsums), no time step, months outside 1-12, lengths outside 1..time.
The ONNX graph must answer an empty input without crashing; the project's runner of exported
files must refuse the rest in one line; the model card must say what the file does not check.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from cropland.data.layout import IMAGE_SIZE
from cropland.errors import CroplandError
from cropland.inference.export import _runner, export_onnx, export_torchscript
from cropland.inference.exported_inputs import check_exported_inputs
from cropland.inference.graph import example_inputs
from cropland.inference.model_card import _inputs, _usage
from tests.exported_files import torchscript_runner
from tests.extras import needs_extra
from tests.script_runs import PROJECT_ROOT
from tests.tiny_classifier import CHANNELS, CLASSES, classifier_around

MEMORY_LIMIT = 4 << 30
# The default model's kind, tiny: its patch pooling and attention are the einsums that crashed.
TINY_TAE = {
    "_target_": "cropland.models.tae.LTAEClassifier",
    "encoder_widths": [4],
    "d_model": 8,
    "n_head": 2,
    "d_k": 4,
    "mlp": [8, 4],
    "dropout": 0.0,
    "downsample": 5,
    "pooling": "centre_attention",
    "pooling_heads": 2,
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny L-TAE exported to ONNX and to TorchScript (so its tests need the export
    extra)."""
    folder = tmp_path_factory.mktemp("hostile_exports")
    model = classifier_around(TINY_TAE)
    export_onnx(model, folder / "model.onnx")
    export_torchscript(model, folder / "model.torchscript.pt")
    return folder / "model.onnx", folder / "model.torchscript.pt"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


# Run in a process of its own: a SIGFPE in onnxruntime must not take pytest down with it.
EMPTY_INPUTS = textwrap.dedent(
    """
    import sys
    import numpy as np, onnxruntime, torch
    from cropland.inference.export import _runner

    session = onnxruntime.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
    for batch, steps in ((0, 3), (0, 0), (2, 0)):
        feed = {
            "image": np.zeros((batch, steps, 4, 65, 65), np.float32),
            "lengths": np.full((batch,), 1, np.int64),
            "months": np.full((batch, steps), 7, np.int64),
        }
        (logits,) = session.run(["logits"], feed)
        print(batch, steps, logits.shape, bool(np.isnan(logits).all()), flush=True)
    # The project's runner takes an empty batch too.
    run = _runner("onnx", __import__("pathlib").Path(sys.argv[1]))
    empty = (torch.zeros(0, 3, 4, 65, 65), torch.zeros(0, dtype=torch.long),
             torch.zeros(0, 3, dtype=torch.long))
    print("runner", tuple(run(*empty).shape), flush=True)
    """
)


@needs_extra("export")
def test_the_onnx_file_answers_an_empty_batch_or_time_axis_without_crashing(
    exported: tuple[Path, Path],
) -> None:
    onnx_path, _ = exported
    result = subprocess.run(
        [sys.executable, "-c", EMPTY_INPUTS, str(onnx_path)],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )
    assert result.returncode == 0, f"rc {result.returncode}: {result.stderr[-2000:]}"
    classes = len(CLASSES)
    assert result.stdout.splitlines() == [
        f"0 3 (0, {classes}) True",  # as PyTorch and TorchScript: no rows
        f"0 0 (0, {classes}) True",
        f"2 0 (2, {classes}) True",  # no step: NaN, the file cannot raise
        f"runner (0, {classes})",
    ]
    assert "Removing initializer" not in result.stderr  # no warning on every load


@needs_extra("export")  # the fixture exports to ONNX too
def test_pytorch_and_torchscript_give_the_same_empty_answer(exported: tuple[Path, Path]) -> None:
    _, torchscript_path = exported
    empty = (torch.zeros(0, 3, 4, 65, 65), torch.zeros(0, dtype=torch.long))
    months = torch.zeros(0, 3, dtype=torch.long)
    assert torchscript_runner(torchscript_path)(*empty, months).shape == (0, len(CLASSES))
    with torch.no_grad():
        assert classifier_around(TINY_TAE)(*empty, months).shape == (0, len(CLASSES))


def _valid(batch: int = 2, steps: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, lengths, months = example_inputs(len(CHANNELS), batch, steps, IMAGE_SIZE, seed=4)
    return image.numpy(), lengths.numpy(), months.numpy()


def _with_month(value: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, lengths, months = _valid()
    months[1, 0] = value  # step 0 is always a real step
    return image, lengths, months


def _with_lengths(values: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, _, months = _valid()
    return image, np.array(values), months


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        (_with_month(13), "months[1, 0] is 13 on a real step"),
        (_with_month(-100), "months[1, 0] is -100 on a real step"),
        (_with_month(0), "months[1, 0] is 0 on a real step"),
        (_with_lengths([0, 3]), "lengths[0] is 0"),
        (_with_lengths([3, 4]), "lengths[1] is 4"),
        (_with_lengths([-5, 3]), "lengths[0] is -5"),
        (
            (
                np.zeros((2, 0, 4, 65, 65), np.float32),
                np.ones(2, np.int64),
                np.ones((2, 0), np.int64),
            ),
            "no time step",
        ),
        (
            (np.zeros((2, 3, 4, 65), np.float32), np.ones(2, np.int64), np.ones((2, 3), np.int64)),
            "image has shape (2, 3, 4, 65)",
        ),
        ((_valid()[0], np.ones(3, np.int64), _valid()[2]), "lengths has shape (3,), expected (2,)"),
        ((_valid()[0], np.ones(2, np.float32), _valid()[2]), "lengths holds float32"),
        (
            (_valid()[0], _valid()[1], np.ones((2, 4), np.int64)),
            "months has shape (2, 4), expected (2, 3)",
        ),
    ],
    ids=[
        "month-13",
        "month-minus-100",
        "month-0",
        "length-0",
        "length-past-time",
        "length-negative",
        "time-0",
        "image-4d",
        "lengths-shape",
        "lengths-float",
        "months-shape",
    ],
)
def test_inputs_the_file_takes_silently_are_refused_in_one_line(inputs, message: str) -> None:
    with pytest.raises(CroplandError) as error:
        check_exported_inputs(*inputs)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_padding_months_and_empty_batches_are_fine() -> None:
    image, lengths, months = _valid(batch=4, steps=5)
    lengths[:] = [5, 1, 2, 3]
    months[1, 1:] = [0, 13, -100, 99]  # padding may hold anything
    check_exported_inputs(image, lengths, months)
    check_exported_inputs(
        np.zeros((0, 3, 4, 65, 65)), np.zeros(0, np.int64), np.zeros((0, 3), np.int64)
    )
    # A model that ignores months takes any (its card says zeros will do).
    check_exported_inputs(image, lengths, np.zeros_like(months), uses_months=False)


@needs_extra("export")
@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_the_runner_of_exported_files_checks_before_running(
    exported: tuple[Path, Path], format: str
) -> None:
    path = exported[0] if format == "onnx" else exported[1]
    run = _runner(format, path)
    image, lengths, months = (torch.from_numpy(a) for a in _with_month(13))
    with pytest.raises(CroplandError, match=r"months\[1, 0\] is 13"):
        run(image, lengths, months)
    image, lengths, months = (torch.from_numpy(a) for a in _valid())
    assert run(image, lengths, months).shape == (2, len(CLASSES))


def test_the_card_says_what_the_file_does_not_check() -> None:
    inputs = {entry["name"]: entry["description"] for entry in _inputs(4, True, TINY_TAE)}
    assert "An empty batch gives logits of shape (0, classes)" in inputs["image"]
    assert "returns NaN logits" in inputs["image"]
    assert "The file does not check this: a month outside 1-12" in inputs["months"]
    assert "does not check" in inputs["lengths"]
    usage = _usage("onnx", "model.onnx", True)
    assert "check_exported_inputs(image, lengths, months, uses_months=True)" in usage
    assert "uses_months=False" in _usage("onnx", "model.onnx", False)
