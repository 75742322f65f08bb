"""The model card written beside an exported model, as JSON.

It says what the file expects and returns (names, shapes, free axes, channel order, scaling,
months), what it was trained on (the run folder's ``config.yaml`` and the prepared file's
summary) and how it scored (``metrics.json``). What cannot be found is null, and
``unavailable`` says why.
"""

from __future__ import annotations

import inspect
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from omegaconf import OmegaConf

from cropland.bounded_read import UnreadableFile, read_json
from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.data.prepare import prepare_summary_path
from cropland.errors import CroplandError
from cropland.inference.checkpoint_choice import best_recorded_in, recorded_best
from cropland.inference.model_loading import run_folder_of
from cropland.models.networks import network_class
from cropland.training.checkpoint_reading import load_weights_only
from cropland.training.scores import is_stage_score

if TYPE_CHECKING:
    from cropland.training.module import CropSequenceClassifier

# The data settings of a run's config.yaml that say which sequences it trained and tested on.
# A run's metrics.json and a prepare summary (which lists every skipped file of a large tree)
# stay far below this; a bigger file is no record we wrote, and reading it would only cost memory.
MAX_RUN_JSON_BYTES = 64 << 20

DATA_KEYS = ("path", "channels", "split", "val_fraction", "test_fraction", "seed", "synthetic")

_NOT_IN_RUN_FOLDER = (
    "the checkpoint is not in a training run's checkpoints/ folder (beside its config.yaml)"
)


def model_card(
    classifier: CropSequenceClassifier,
    checkpoint: dict[str, Any],
    ckpt_path: Path,
    model_path: Path,
    format: str,
    check: dict[str, Any],
) -> dict[str, Any]:
    """The card of ``model_path``, exported in ``format`` from ``ckpt_path`` (whose contents are
    ``checkpoint``); ``check`` describes how the exported file was compared with PyTorch."""
    hparams = classifier.hparams
    net = dict(hparams.net)
    channels = list(hparams.channels)
    uses_months = _uses_months(net)
    run_folder = run_folder_of(ckpt_path)
    unavailable: dict[str, str] = {}
    return {
        "format": format,
        "file": model_path.name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "exported_with": _versions(format, model_path),
        "checkpoint": {
            "path": str(ckpt_path.resolve()),
            "epoch": checkpoint.get("epoch"),
            "global_step": checkpoint.get("global_step"),
        },
        "run_folder": str(run_folder) if run_folder else None,
        "classes": list(hparams.classes),
        "channels": channels,
        "normalization": {
            "inside_model": True,
            "input_scale": "[0, 1]: 8-bit pixel values divided by 255",
            "formula": "(image - mean) / std per channel; padded steps are then set to 0",
            "mean": list(hparams.channel_mean),
            "std": list(hparams.channel_std),
        },
        "image_size": IMAGE_SIZE,
        "months": {"trained_for": list(MONTHS), "uses_month_encoding": uses_months},
        "network": net,
        "inputs": _inputs(len(channels), uses_months, net),
        "outputs": [
            {
                "name": "logits",
                "dtype": "float32",
                "shape": ["batch", len(hparams.classes)],
                "free_axes": ["batch"],
                "description": "unnormalized class scores in the order of classes; "
                "softmax over axis 1 gives probabilities",
            }
        ],
        "training_data": _training_data(run_folder, unavailable),
        "test_metrics": _test_metrics(run_folder, ckpt_path, checkpoint, unavailable),
        "check": check,
        "usage": _usage(format, model_path.name, uses_months),
        "unavailable": unavailable,
    }


def _versions(format: str, model_path: Path) -> dict[str, Any]:
    try:
        cropland_version = version("cropland")
    except PackageNotFoundError:
        cropland_version = None
    versions: dict[str, Any] = {"cropland": cropland_version, "torch": torch.__version__}
    if format == "onnx":
        import onnx  # an optional dependency (the export extra), present when format is onnx

        model = onnx.load(str(model_path), load_external_data=False)
        versions["onnx_opset"] = next(
            (entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")),
            None,
        )
    return versions


def _uses_months(net: dict) -> bool:
    """Whether the network reads ``months``: its ``month_encoding`` setting (as given, else the
    class's default); a network without that setting always reads them (e.g. the L-TAE)."""
    parameter = inspect.signature(network_class(net, "net")).parameters.get("month_encoding")
    if parameter is None:
        return True
    return bool(net.get("month_encoding", parameter.default))


def _inputs(num_channels: int, uses_months: bool, net: dict) -> list[dict[str, Any]]:
    readout = net.get("readout", "last_valid")
    if not str(net.get("_target_", "")).endswith(".ConvLSTMClassifier"):
        reading = "padded steps do not change the logits"
        unchecked = (
            "The file does not check this: lengths[i] outside 1..time raise no error and give "
            "logits that mean nothing, so check lengths before calling it"
        )
    elif readout == "last_valid":
        reading = "the logits come from each sequence's own last step"
        # Measured on the exported ONNX and TorchScript files (tests/test_export_lengths.py):
        # no step is ever read as the last one, so the recurrent state stays at zero.
        unchecked = (
            "The file does not check this: for lengths[i] of 0, a negative number or more than "
            "time it raises no error and returns the output layer's bias as that sequence's "
            "logits, whatever its images, so check lengths before calling it"
        )
    else:
        reading = "the logits come from the batch's last step, padding included (readout=last_step)"
        unchecked = (
            "The file does not check this: lengths[i] of 0 or a negative number raises no error "
            "and makes every step padding (that sequence's images are ignored), more than time "
            "counts as time, so check lengths before calling it"
        )
    months = (
        "used. The file does not check this: a month outside 1-12 on a real step raises no "
        "error and gives logits that mean nothing, so check months before calling it"
        if uses_months
        else "ignored by this model (trained without month encoding) but still required, "
        "so that every exported model is called alike; zeros will do"
    )
    return [
        {
            "name": "image",
            "dtype": "float32",
            "shape": ["batch", "time", num_channels, IMAGE_SIZE, IMAGE_SIZE],
            "free_axes": ["batch", "time"],
            "description": "each sequence's patches in time order, channels in the order of "
            "channels, scaled to [0, 1]; steps from lengths[i] on are padding (any values). "
            "An empty batch gives logits of shape (0, classes). time must be at least 1: "
            "without a time step the TorchScript file raises, and the ONNX file, which cannot "
            "raise, returns NaN logits for every sequence",
        },
        {
            "name": "lengths",
            "dtype": "int64",
            "shape": ["batch"],
            "free_axes": ["batch"],
            "description": f"real steps of each sequence, 1 <= lengths[i] <= time; {reading}. "
            f"{unchecked}.",
        },
        {
            "name": "months",
            "dtype": "int64",
            "shape": ["batch", "time"],
            "free_axes": ["batch", "time"],
            "description": f"calendar month (1-12) of each step, any value on padding; {months}.",
        },
    ]


def _training_data(run_folder: Path | None, unavailable: dict[str, str]) -> dict | None:
    if run_folder is None:
        unavailable["training_data"] = _NOT_IN_RUN_FOLDER
        return None
    config = OmegaConf.load(run_folder / "config.yaml")
    data = config.get("data")
    if data is None:
        unavailable["training_data"] = f"{run_folder / 'config.yaml'} has no data section"
        return None
    settings = {
        key: OmegaConf.to_container(data[key]) if OmegaConf.is_config(data[key]) else data[key]
        for key in DATA_KEYS
        if key in data
    }
    summary = None
    if settings.get("path"):
        file = prepare_summary_path(_as_run_saw_it(Path(settings["path"]), run_folder))
        if file.is_file():
            # Counts only: the lists of skipped files can be long and name local paths.
            content = _json_or_note(file, unavailable, "training_data.prepared_file_summary")
            if isinstance(content, dict):
                summary = {k: v for k, v in content.items() if not isinstance(v, list)}
        else:
            unavailable["training_data.prepared_file_summary"] = f"{file} does not exist (any more)"
    return {"config": settings, "prepared_file_summary": summary}


def _test_metrics(
    run_folder: Path | None, ckpt_path: Path, checkpoint: dict, unavailable: dict[str, str]
) -> dict | None:
    if run_folder is None:
        unavailable["test_metrics"] = _NOT_IN_RUN_FOLDER
        return None
    metrics_file = run_folder / "metrics.json"
    if not metrics_file.is_file():
        unavailable["test_metrics"] = f"{metrics_file} does not exist: the run did not finish"
        return None
    metrics = _json_or_note(metrics_file, unavailable, "test_metrics")
    if not isinstance(metrics, dict):
        return None
    test = {key: value for key, value in sorted(metrics.items()) if is_stage_score(key, "test")}
    if not test:
        unavailable["test_metrics"] = (
            f"{metrics_file} has no test/* metrics: the run did not test (test=false or a "
            "debug run)"
        )
        return None
    # last.ckpt is saved after the best every epoch, so its record is the final one; when it is
    # the checkpoint given, or missing, the given one's record is read instead of a second load.
    last = run_folder / "checkpoints" / "last.ckpt"
    if last.is_file() and last.resolve() != ckpt_path.resolve():
        tested = recorded_best(last)
    else:
        tested = best_recorded_in(checkpoint, ckpt_path.parent)
    if tested is None:
        unavailable["test_metrics.checkpoint"] = (
            "no ModelCheckpoint state says which checkpoint the run tested"
        )
    elif tested.name != ckpt_path.name and not _same_weights(tested, checkpoint):
        unavailable["test_metrics"] = (
            f"{metrics_file} holds the test metrics of {tested.name} (the run's best "
            f"checkpoint), not of {ckpt_path.name}; export {tested} for a card with them"
        )
        return None
    return {"checkpoint": tested.name if tested else None, "metrics": test}


def _json_or_note(path: Path, unavailable: dict[str, str], key: str) -> Any:
    """The JSON object in ``path`` (a file of the run, which someone may have altered), read
    within bounds; None with a note under ``key`` when it is no JSON object."""
    try:
        content = read_json(path, MAX_RUN_JSON_BYTES)
    except UnreadableFile as error:
        unavailable[key] = f"{path} cannot be used: {error.detail}"
        return None
    if not isinstance(content, dict):
        unavailable[key] = f"{path} holds a JSON {type(content).__name__}, expected an object"
        return None
    return content


def _same_weights(other: Path, checkpoint: dict) -> bool:
    """Whether ``other`` was saved at the same training step (``last.ckpt`` after a best epoch)."""
    saved = _load_quietly(other)
    return saved is not None and all(
        saved.get(key) == checkpoint.get(key) for key in ("epoch", "global_step")
    )


def _load_quietly(path: Path) -> dict | None:
    try:
        content = load_weights_only(path)
    except CroplandError:  # unreadable: the card then says the metrics cannot be attributed
        return None
    return content if isinstance(content, dict) else None


def _as_run_saw_it(path: Path, run_folder: Path) -> Path:
    """A relative data path resolved against the folder training ran from (Hydra records it)."""
    if path.is_absolute():
        return path
    hydra_config = run_folder / ".hydra" / "hydra.yaml"
    if hydra_config.is_file():
        cwd = OmegaConf.select(OmegaConf.load(hydra_config), "hydra.runtime.cwd")
        if cwd:
            return Path(cwd) / path
    return path


def _usage(format: str, file_name: str, uses_months: bool) -> str:
    shapes = (
        "# image: float32 (batch, time, channels, 65, 65) in [0, 1]; lengths: int64 (batch,);\n"
        "# months: int64 (batch, time). Channel order and classes: see this card.\n"
        "# The file does not check time >= 1, 1 <= lengths[i] <= time nor months 1-12 on real\n"
        "# steps (see inputs); with cropland installed, this refuses what breaks them:\n"
        "# from cropland.inference.exported_inputs import check_exported_inputs\n"
        f"# check_exported_inputs(image, lengths, months, uses_months={uses_months})\n"
    )
    if format == "onnx":
        return (
            "import onnxruntime\n\n"
            f'session = onnxruntime.InferenceSession("{file_name}")\n'
            + shapes
            + '(logits,) = session.run(["logits"], '
            '{"image": image, "lengths": lengths, "months": months})\n'
            "predicted = [classes[i] for i in logits.argmax(axis=1)]\n"
        )
    return (
        "import torch\n\n"
        f'model = torch.jit.load("{file_name}")\n' + shapes + "with torch.no_grad():\n"
        "    logits = model(image, lengths, months)\n"
        "predicted = [classes[i] for i in logits.argmax(dim=1).tolist()]\n"
    )
