"""Export a trained checkpoint to ONNX or TorchScript, checked, with a model card beside it.

The exported file runs without cropland (plain ``onnxruntime`` or ``torch.jit.load``) and takes
the LightningModule's inputs: ``image`` (batch, time, channels, 65, 65) scaled to [0, 1],
``lengths`` (batch,) and ``months`` (batch, time), with batch and time free; it returns
``logits`` (batch, classes). Normalization and padding are handled inside, and an empty batch
gives ``(0, classes)``. What the files cannot check (time >= 1, ``lengths`` from 1 to time,
months 1-12) the model card says, and :mod:`cropland.inference.exported_inputs` refuses.

Time loop: TorchScript compiles the ConvLSTM's Python loop as a loop (``torch.jit.script``);
for ONNX the loop is written as ``scan`` (see ``scan_encoder``), which the ``torch.export``
based exporter turns into an ONNX ``Scan``. Tracing either would unroll the loop to the
example's length. Each file is run on padded batches of every length from 1 to 5 and compared
with the checkpoint's PyTorch model before it is moved into place.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.errors import CroplandError
from cropland.inference.exported_inputs import check_exported_inputs
from cropland.inference.graph import (
    INPUT_NAMES,
    OUTPUT_NAMES,
    EmptyInputGraph,
    example_inputs,
    inference_graph,
)
from cropland.inference.model_card import model_card
from cropland.inference.model_loading import classifier_from_checkpoint, load_weights_only
from cropland.io import atomic_output, refuse_to_replace, write_json_atomic

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier

log = logging.getLogger(__name__)

# Format -> file name ending of the default output (beside the checkpoint).
FORMATS: dict[str, str] = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}

# The ONNX exporter needs onnx and onnxscript; onnxruntime runs the check.
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")

# The check: padded batches of these sizes, for every length from 1 to the months of a season.
CHECK_BATCH_SIZES = (1, 3)
CHECK_STEPS = tuple(range(1, len(MONTHS) + 1))
# Exported and PyTorch logits must agree to this (absolute and relative) tolerance.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    model_path: Path
    card_path: Path
    max_abs_difference: float


def default_output(ckpt_path: str | os.PathLike, format: str) -> Path:
    """Beside the checkpoint, same stem: ``checkpoints/last.ckpt`` -> ``checkpoints/last.onnx``."""
    ckpt_path = Path(ckpt_path)
    return ckpt_path.with_name(ckpt_path.stem + FORMATS[format])


def card_path_for(model_path: str | os.PathLike) -> Path:
    """Where the model card of an exported file goes: ``last.onnx.model_card.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".model_card.json")


def export_checkpoint(
    ckpt_path: str | os.PathLike,
    format: str = "onnx",
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export the checkpoint to ``output`` (default: :func:`default_output`), check it against
    the PyTorch model, then write its model card beside it. An existing file or card is
    replaced only with ``overwrite``; the checkpoint itself never is."""
    if format not in FORMATS:
        raise CroplandError(f"format={format!r}: expected one of {', '.join(FORMATS)}")
    model_path = Path(output) if output else default_output(ckpt_path, format)
    if model_path.is_dir():
        raise CroplandError(
            f"output={model_path} is a folder; give the file to write, such as "
            f"{model_path / ('model' + FORMATS[format])}"
        )
    card_path = card_path_for(model_path)
    refuse_to_replace(
        {"output": model_path, "the model card of output": card_path},
        {"ckpt_path": Path(ckpt_path)},
        overwrite,
    )
    if format == "onnx":
        _require_packages(ONNX_PACKAGES)
    checkpoint = load_weights_only(ckpt_path)
    classifier = classifier_from_checkpoint(checkpoint, ckpt_path)  # checks it first

    # The check runs on the temporary file: a file that fails it never reaches model_path.
    with atomic_output(model_path, overwrite=overwrite) as tmp:
        EXPORTERS[format](classifier, tmp)
        difference = check_exported(format, tmp, classifier)

    batches = (
        f"padded batches of {' and '.join(map(str, CHECK_BATCH_SIZES))} sequences, "
        f"{CHECK_STEPS[0]} to {CHECK_STEPS[-1]} steps"
    )
    check = {
        "max_abs_logit_difference": difference,
        "tolerance": TOLERANCE,
        "compared_with": "the checkpoint's CropSequenceClassifier in PyTorch",
        "batches": batches,
    }
    card = model_card(classifier, checkpoint, Path(ckpt_path), model_path, format, check)
    write_json_atomic(card_path, card, overwrite=overwrite)
    log.info("Wrote %s (%s, %.2f MB)", model_path, format, model_path.stat().st_size / 1e6)
    log.info(
        "Checked: logits match PyTorch's to %.1e (max abs difference) on %s", difference, batches
    )
    log.info("Wrote %s", card_path)
    return ExportResult(model_path, card_path, difference)


def export_onnx(classifier: CropSequenceClassifier, path: Path) -> None:
    """ONNX through ``torch.export``, with batch and time free and the loop kept as ``Scan``;
    an empty batch or time axis bypasses the network (see :class:`EmptyInputGraph`)."""
    from onnx_ir.passes.common import RemoveUnusedNodesPass  # with onnxscript (export extra)

    graph = inference_graph(classifier, scan_loop=True)
    graph = EmptyInputGraph(graph, len(classifier.hparams.classes)).eval()
    # Sizes above 1: torch.export specializes dimensions of size 0 or 1 in the example.
    inputs = example_inputs(len(classifier.hparams.channels), 2, 2, IMAGE_SIZE)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")
    dynamic_shapes = {
        "image": {0: batch, 1: time},
        "lengths": {0: batch},
        "months": {0: batch, 1: time},
    }
    with _quiet_onnx_exporter():
        program = torch.onnx.export(
            graph,
            inputs,
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    # The exporter leaves a constant of the network outside the If that holds it, which
    # onnxruntime would warn about each time it loads the file.
    RemoveUnusedNodesPass()(program.model)
    # One self-contained file: the weights are small (a few MB).
    program.save(str(path), external_data=False)


def export_torchscript(classifier: CropSequenceClassifier, path: Path) -> None:
    """TorchScript through ``torch.jit.script``, which compiles the time loop as a loop."""
    with _without_jit_deprecation():
        torch.jit.save(torch.jit.script(inference_graph(classifier)), str(path))


EXPORTERS: dict[str, Callable[[CropSequenceClassifier, Path], None]] = {
    "onnx": export_onnx,
    "torchscript": export_torchscript,
}


def check_exported(format: str, path: Path, classifier: CropSequenceClassifier) -> float:
    """Run the exported file on padded batches of every checked size and length; returns the
    largest absolute logit difference from ``classifier``. Raises if any exceeds the tolerance
    (a bug in the export, not in the input)."""
    run = _runner(format, path)
    worst = 0.0
    for steps in CHECK_STEPS:
        for batch in CHECK_BATCH_SIZES:
            inputs = example_inputs(
                len(classifier.hparams.channels), batch, steps, IMAGE_SIZE, seed=steps * 10 + batch
            )
            with torch.no_grad():
                expected = classifier(*inputs)
            try:
                got = run(*inputs)
            except Exception as error:  # e.g. a time axis the export fixed after all
                raise RuntimeError(
                    f"the exported {format} model failed on {batch} sequences of {steps} steps "
                    f"({error}); nothing was written"
                ) from error
            difference = (got - expected).abs().max().item()
            if not torch.allclose(got, expected, atol=TOLERANCE, rtol=TOLERANCE):
                raise RuntimeError(
                    f"the exported {format} model's logits differ from PyTorch's by up to "
                    f"{difference:.2e} on {batch} sequences of {steps} steps; nothing was written"
                )
            worst = max(worst, difference)
    return worst


def _runner(format: str, path: Path) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """The exported file, loaded as a user would, as a function of (image, lengths, months)
    that first refuses, with :class:`CroplandError`, inputs the file would take without a word
    (see :func:`check_exported_inputs`)."""
    if format == "onnx":
        import onnxruntime  # an optional dependency (the export extra), needed only here

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])

        def run_onnx(image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
            check_exported_inputs(image, lengths, months)
            feed = dict(
                zip(INPUT_NAMES, (t.numpy() for t in (image, lengths, months)), strict=True)
            )
            return torch.from_numpy(session.run(list(OUTPUT_NAMES), feed)[0])

        return run_onnx

    with _without_jit_deprecation():
        module = torch.jit.load(str(path), map_location="cpu")

    def run_torchscript(image: Tensor, lengths: Tensor, months: Tensor) -> Tensor:
        check_exported_inputs(image, lengths, months)
        with torch.no_grad():
            return module(image, lengths, months)

    return run_torchscript


def _require_packages(names: tuple[str, ...]) -> None:
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    if missing:
        raise CroplandError(
            f"format=onnx needs {', '.join(missing)}, not installed; install the export extra: "
            ".venv/bin/pip install -e '.[export]'"
        )


@contextlib.contextmanager
def _quiet_onnx_exporter() -> Iterator[None]:
    """Hide what the exporter reports that needs no action: torchvision ops it skips, each
    rewrite of its optimizer (INFO, which Hydra's logging shows), a torch-internal deprecation
    warning, and a warning per dimension shared by several inputs (as batch and time are)."""
    loggers = [
        logging.getLogger(name)
        for name in ("torch.onnx._internal.exporter._registration", "onnxscript", "onnx_ir")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
            warnings.filterwarnings("ignore", message=r"# The axis name: \w+ will not be used")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextlib.contextmanager
def _without_jit_deprecation() -> Iterator[None]:
    """torch 2.13 marks torch.jit deprecated; TorchScript is still the format asked for, and
    docs/use.md says to prefer ONNX. The warning repeats per call and names nothing to fix here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated")
        yield
