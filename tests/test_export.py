"""Export to ONNX and TorchScript: free batch and time axes, PyTorch's logits, the model card,
and one-line errors for bad input."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from cropland.data.layout import IMAGE_SIZE, MONTHS
from cropland.data.prepare import prepare_summary_path
from cropland.errors import CroplandError
from cropland.inference import load_classifier, run_folder_of
from cropland.inference.export import (
    card_path_for,
    default_output,
    export_checkpoint,
    export_onnx,
    export_torchscript,
)
from cropland.inference.graph import example_inputs
from cropland.inference.scan_encoder import ScanConvLSTMEncoder
from cropland.io import TEMP_MARK
from cropland.models import ConvLSTMEncoder
from cropland.training.module import CropSequenceClassifier
from cropland.training.scores import is_stage_score
from tests.exported_files import onnx_runner, torchscript_runner
from tests.extras import needs_extra
from tests.script_runs import PUBLISHED_WEIGHTS, TrainedRun, call_script, run_script
from tests.tiny_classifier import CHANNELS, CLASSES, classifier_around


def classifier(month_encoding: bool) -> CropSequenceClassifier:
    return classifier_around(
        {
            "_target_": "cropland.models.convlstm.ConvLSTMClassifier",
            "hidden_channels": [4, 6],
            "kernel_sizes": [3, 3],
            "month_encoding": month_encoding,
            "downsample": 3,
        }
    )


def assert_matches_pytorch(run, model: CropSequenceClassifier) -> None:
    """Padded batches of several sizes and every length from 1 to 5 give PyTorch's logits, and
    each sequence run alone, unpadded, gives the same row."""
    for steps in range(1, 6):
        for batch in (1, 2, 4):
            image, lengths, months = example_inputs(
                len(CHANNELS), batch, steps, IMAGE_SIZE, seed=steps * 7 + batch
            )
            for i, length in enumerate(lengths.tolist()):
                image[i, length:] = 0.9  # what padding holds must not matter
            with torch.no_grad():
                expected = model(image, lengths, months)
            padded = run(image, lengths, months)
            assert padded.shape == (batch, len(CLASSES))
            torch.testing.assert_close(padded, expected, atol=1e-4, rtol=1e-4)
            for i, length in enumerate(lengths.tolist()):
                alone = run(
                    image[i : i + 1, :length], lengths[i : i + 1], months[i : i + 1, :length]
                )
                torch.testing.assert_close(alone[0], expected[i], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("readout", ["last_valid", "last_step"])
def test_scan_encoder_computes_what_the_python_loop_does(readout):
    torch.manual_seed(0)
    encoder = ConvLSTMEncoder(5, [4, 6], [3, 5], readout=readout).eval()
    x = torch.randn(3, 4, 5, 9, 9)
    lengths = torch.tensor([4, 1, 3])
    with torch.no_grad():
        torch.testing.assert_close(ScanConvLSTMEncoder(encoder)(x, lengths), encoder(x, lengths))


@needs_extra("export")
@pytest.mark.slow
@pytest.mark.parametrize("month_encoding", [True, False], ids=["months", "no_months"])
def test_onnx_takes_any_batch_and_length_and_matches_pytorch(month_encoding, tmp_path):
    import onnxruntime

    model = classifier(month_encoding)
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shapes = {i.name: i.shape for i in session.get_inputs()}
    assert shapes == {
        "image": ["batch", "time", len(CHANNELS), IMAGE_SIZE, IMAGE_SIZE],
        "lengths": ["batch"],
        "months": ["batch", "time"],
    }
    assert [o.name for o in session.get_outputs()] == ["logits"]
    assert_matches_pytorch(onnx_runner(path), model)


@pytest.mark.parametrize("month_encoding", [True, False], ids=["months", "no_months"])
def test_torchscript_takes_any_batch_and_length_and_matches_pytorch(month_encoding, tmp_path):
    model = classifier(month_encoding)
    path = tmp_path / "model.pt"
    export_torchscript(model, path)
    assert_matches_pytorch(torchscript_runner(path), model)


@pytest.fixture(scope="module")
def exported(trained_run: TrainedRun, tmp_path_factory) -> TrainedRun:
    """A copy of the trained run, exported by the real script to ONNX and by
    export_checkpoint to TorchScript, both to their default place beside the checkpoint."""
    folder = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(trained_run.folder, folder)
    run = TrainedRun(folder, folder / "checkpoints" / trained_run.best_checkpoint.name)
    result = run_script(
        "export.py", f"ckpt_path={run.best_checkpoint}", f"hydra.run.dir={folder.parent / 'hydra'}"
    )
    assert result.returncode == 0, result.stderr
    assert "Checked: logits match PyTorch's" in result.stdout + result.stderr
    export_checkpoint(run.best_checkpoint, "torchscript")
    return run


@needs_extra("export")
@pytest.mark.slow
def test_exported_files_run_without_cropland(exported):
    onnx_path = default_output(exported.best_checkpoint, "onnx")
    torchscript_path = default_output(exported.best_checkpoint, "torchscript")
    assert onnx_path.name.endswith(".onnx") and torchscript_path.name.endswith(".torchscript.pt")
    image, lengths, months = example_inputs(5, 3, 4, IMAGE_SIZE, seed=1)
    np.savez(exported.folder / "batch.npz", image=image, lengths=lengths, months=months)
    # cropland is made unimportable: the files must hold everything they need.
    program = textwrap.dedent(
        f"""
        import json, sys
        sys.modules["cropland"] = None
        import numpy as np, onnxruntime, torch
        batch = dict(np.load({str(exported.folder / "batch.npz")!r}))
        session = onnxruntime.InferenceSession({str(onnx_path)!r})
        (from_onnx,) = session.run(["logits"], batch)
        model = torch.jit.load({str(torchscript_path)!r})
        inputs = (torch.from_numpy(batch[k]) for k in ("image", "lengths", "months"))
        from_torchscript = model(*inputs)
        print(json.dumps([from_onnx.tolist(), from_torchscript.tolist()]))
        """
    )
    result = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", program], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    from_onnx, from_torchscript = json.loads(result.stdout.strip().splitlines()[-1])
    with torch.no_grad():
        expected = load_classifier(exported.best_checkpoint)(image, lengths, months)
    torch.testing.assert_close(torch.tensor(from_onnx), expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(from_torchscript), expected, atol=1e-4, rtol=1e-4)


@needs_extra("export")
@pytest.mark.slow
def test_model_card_describes_inputs_training_data_and_test_metrics(exported, prepared_file):
    card = json.loads(card_path_for(default_output(exported.best_checkpoint, "onnx")).read_text())
    checkpoint = torch.load(exported.best_checkpoint, map_location="cpu", weights_only=True)
    hparams = checkpoint["hyper_parameters"]
    assert card["format"] == "onnx"
    assert card["exported_with"]["onnx_opset"] >= 18
    assert card["classes"] == hparams["classes"]
    assert card["channels"] == hparams["channels"] == ["red", "green", "blue", "ndvi45", "gndvi"]
    assert card["normalization"]["mean"] == hparams["channel_mean"]
    assert card["normalization"]["std"] == hparams["channel_std"]
    assert card["normalization"]["inside_model"] is True
    assert card["image_size"] == IMAGE_SIZE == 65
    assert card["months"] == {"trained_for": list(MONTHS), "uses_month_encoding": True}
    inputs = {entry["name"]: entry for entry in card["inputs"]}
    assert list(inputs) == ["image", "lengths", "months"]
    assert inputs["image"]["shape"] == ["batch", "time", 5, 65, 65]
    assert inputs["image"]["free_axes"] == ["batch", "time"]
    assert inputs["months"]["dtype"] == inputs["lengths"]["dtype"] == "int64"
    assert card["outputs"][0]["name"] == "logits"
    assert card["outputs"][0]["shape"] == ["batch", len(hparams["classes"])]
    assert card["run_folder"] == str(exported.folder.resolve())

    config = card["training_data"]["config"]
    assert config["path"] == str(prepared_file)
    assert config["channels"] == "rgb_ndvi45_gndvi"
    assert config["split"] == "stratified" and config["seed"] == 42
    summary = json.loads(prepare_summary_path(prepared_file).read_text())
    assert card["training_data"]["prepared_file_summary"]["sequences"] == summary["sequences"]
    assert "skipped" not in card["training_data"]["prepared_file_summary"]

    metrics = json.loads((exported.folder / "metrics.json").read_text())
    expected = {key: value for key, value in metrics.items() if is_stage_score(key, "test")}
    assert expected and card["test_metrics"]["metrics"] == expected
    assert card["test_metrics"]["checkpoint"] == exported.best_checkpoint.name
    assert card["unavailable"] == {}
    assert card["check"]["max_abs_logit_difference"] < 1e-4
    assert "onnxruntime.InferenceSession" in card["usage"]

    torchscript_card = json.loads(
        card_path_for(default_output(exported.best_checkpoint, "torchscript")).read_text()
    )
    assert torchscript_card["format"] == "torchscript"
    assert "torch.jit.load" in torchscript_card["usage"]
    assert torchscript_card["test_metrics"] == card["test_metrics"]


def test_card_attributes_test_metrics_only_to_the_tested_weights(trained_run, tmp_path):
    folder = tmp_path / "run"
    shutil.copytree(trained_run.folder, folder)
    checkpoints = folder / "checkpoints"
    # last.ckpt of a one-epoch run holds the best weights: the metrics are its own.
    card = _card_of(export_checkpoint(checkpoints / "last.ckpt", "torchscript").card_path)
    assert card["test_metrics"]["checkpoint"] == trained_run.best_checkpoint.name
    # Weights from another step (as last.ckpt after early stopping): no metrics, and why.
    later = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True)
    later["global_step"] += 10
    torch.save(later, checkpoints / "later.ckpt")
    card = _card_of(export_checkpoint(checkpoints / "later.ckpt", "torchscript").card_path)
    assert card["test_metrics"] is None
    assert trained_run.best_checkpoint.name in card["unavailable"]["test_metrics"]


def test_checkpoint_outside_a_run_folder_gives_a_card_with_reasons(trained_run, tmp_path):
    ckpt = tmp_path / "model.ckpt"
    shutil.copy(trained_run.best_checkpoint, ckpt)
    assert run_folder_of(ckpt) is None
    assert run_folder_of(trained_run.best_checkpoint) == trained_run.folder.resolve()
    output = tmp_path / "out" / "crops.pt"
    result = export_checkpoint(ckpt, "torchscript", output)
    assert result.model_path == output and output.is_file()
    assert result.card_path == tmp_path / "out" / "crops.pt.model_card.json"
    card = _card_of(result.card_path)
    assert card["training_data"] is None and card["test_metrics"] is None
    assert set(card["unavailable"]) == {"training_data", "test_metrics"}
    assert "checkpoints/" in card["unavailable"]["test_metrics"]
    assert not list(tmp_path.glob(f"out/*{TEMP_MARK}*"))  # the temporary file was renamed away


def _card_of(path: Path) -> dict:
    return json.loads(path.read_text())


def test_load_classifier_rejects_other_files_with_a_clear_message(trained_run, tmp_path):
    checkpoint = torch.load(trained_run.best_checkpoint, map_location="cpu", weights_only=True)
    foreign = {**checkpoint, "hyper_parameters": {"lr": 0.1}}
    torch.save(foreign, tmp_path / "foreign.ckpt")
    with pytest.raises(CroplandError, match="another model: its hyperparameters lack net"):
        load_classifier(tmp_path / "foreign.ckpt")

    crafted = {**checkpoint, "hyper_parameters": {**checkpoint["hyper_parameters"]}}
    crafted["hyper_parameters"]["net"] = {"_target_": "os.system"}
    torch.save(crafted, tmp_path / "crafted.ckpt")
    with pytest.raises(CroplandError, match="'os.system' is not one of cropland's models"):
        load_classifier(tmp_path / "crafted.ckpt")

    with pytest.raises(CroplandError, match="is a folder"):
        load_classifier(tmp_path)
    with pytest.raises(CroplandError, match="output=.* is a folder"):
        export_checkpoint(trained_run.best_checkpoint, "torchscript", tmp_path)

    model = load_classifier(trained_run.best_checkpoint)
    assert not model.training and model.device.type == "cpu"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # The default format=onnx: without the export extra, that is the refusal.
        pytest.param(
            "missing", "ckpt_path=.*missing.ckpt does not exist", marks=needs_extra("export")
        ),
        pytest.param(
            "text",
            "text.ckpt is not a PyTorch checkpoint that loads with weights_only=True",
            marks=needs_extra("export"),
        ),
        ("format", "format='tflite': expected one of onnx, torchscript"),
        pytest.param(
            "published",
            "best_model.pth.*load it with cropland.models.load_published_checkpoint",
            marks=needs_extra("export"),
        ),
    ],
)
def test_script_reports_bad_input_in_one_line(case, expected, tmp_path):
    (tmp_path / "text.ckpt").write_text("not a checkpoint\n")
    ckpt, extra = {
        "missing": (tmp_path / "missing.ckpt", []),
        "text": (tmp_path / "text.ckpt", []),
        "format": (tmp_path / "text.ckpt", ["format=tflite"]),
        "published": (PUBLISHED_WEIGHTS, []),
    }[case]
    result = call_script(
        "export.py", f"ckpt_path={ckpt}", *extra, f"hydra.run.dir={tmp_path / 'hydra'}"
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert re.search(expected, lines[0]), lines[0]
    assert not list(tmp_path.glob("*.onnx"))


@pytest.mark.parametrize("metrics", ["not json {", "[1, 2]", "1" * 5000])
def test_an_altered_metrics_file_gives_a_card_that_says_so(trained_run, tmp_path, metrics):
    folder = tmp_path / "run"
    shutil.copytree(trained_run.folder, folder)
    (folder / "metrics.json").write_text(metrics)
    card = _card_of(
        export_checkpoint(folder / "checkpoints" / "last.ckpt", "torchscript").card_path
    )
    assert card["test_metrics"] is None
    assert "metrics.json" in card["unavailable"]["test_metrics"]
