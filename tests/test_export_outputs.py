"""What scripts/export.py writes: never over a file unless asked, never over the checkpoint, and
only a file that passed the check against PyTorch."""

import shutil

import pytest

import cropland.inference.export as exporting
from cropland.inference.export import card_path_for, export_checkpoint
from cropland.io import TEMP_MARK
from tests.exported_files import torchscript_runner
from tests.refusals import assert_refused
from tests.script_runs import call_script
from tests.written_files import contents, dead_pid


def run_export(checkpoint, output, *extra):
    return call_script(
        "export.py",
        f"ckpt_path={checkpoint}",
        f"output={output}",
        f"hydra.run.dir={output.parent / 'hydra'}",
        *extra,
    )


@pytest.fixture
def checkpoint(trained_run, tmp_path):
    """A copy of the trained run's best checkpoint, alone in a folder."""
    path = tmp_path / "ckpt" / "model.ckpt"
    path.parent.mkdir()
    shutil.copy(trained_run.best_checkpoint, path)
    return path


def test_existing_output_is_refused_and_left_as_it_was(checkpoint, tmp_path):
    output = tmp_path / "out" / "crops.onnx"
    output.parent.mkdir()
    output.write_bytes(b"an earlier export")
    before = contents(tmp_path)
    result = run_export(checkpoint, output)
    assert_refused(result, f"output={output} already exists", "overwrite=true")
    assert contents(tmp_path) == before


def test_existing_model_card_is_refused_too(checkpoint, tmp_path):
    output = tmp_path / "out" / "crops.pt"
    output.parent.mkdir()
    card_path_for(output).write_text("{}\n")
    before = contents(tmp_path)
    result = run_export(checkpoint, output, "format=torchscript")
    assert_refused(result, f"{card_path_for(output)}, written beside output=", "overwrite=true")
    assert contents(tmp_path) == before


def test_overwrite_true_replaces_the_file_and_its_card(checkpoint, tmp_path):
    output = tmp_path / "out" / "crops.pt"
    output.parent.mkdir()
    output.write_bytes(b"an earlier export")
    card_path_for(output).write_text("{}\n")
    # And what a run killed with SIGKILL while writing crops.pt leaves behind.
    stale = output.with_name(f".crops{TEMP_MARK}{dead_pid()}.pt")
    stale.write_bytes(b"half a model")
    result = run_export(checkpoint, output, "format=torchscript", "overwrite=true")
    assert result.returncode == 0, result.stderr[-3000:]
    torchscript_runner(output)  # loads
    assert '"format": "torchscript"' in card_path_for(output).read_text()
    assert sorted(p.name for p in output.parent.iterdir()) == [
        "crops.pt",
        "crops.pt.model_card.json",
        "hydra",
    ]


def test_output_that_is_the_checkpoint_is_refused_even_with_overwrite(checkpoint, tmp_path):
    before = contents(tmp_path)
    result = run_export(checkpoint, checkpoint, "overwrite=true")
    assert_refused(result, f"output={checkpoint} is ckpt_path={checkpoint} itself")
    assert contents(tmp_path) == before


def test_a_file_that_fails_the_check_never_reaches_its_place(checkpoint, tmp_path, monkeypatch):
    output = tmp_path / "out" / "crops.pt"
    output.parent.mkdir()
    output.write_bytes(b"an earlier export")
    before = contents(tmp_path)

    def failing_check(format, path, classifier):
        assert path.is_file() and path != output  # the check runs on the temporary file
        raise RuntimeError("logits differ")

    monkeypatch.setattr(exporting, "check_exported", failing_check)
    with pytest.raises(RuntimeError, match="logits differ"):
        export_checkpoint(checkpoint, "torchscript", output, overwrite=True)
    assert contents(tmp_path) == before
