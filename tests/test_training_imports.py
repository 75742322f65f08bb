"""Training a prepared file needs neither the synthetic generator nor the preparation pipeline:
the DataModule imports them only when ``data.synthetic`` asks it to make the file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.script_runs import PROJECT_ROOT

# Prints the generator's and the pipeline's modules that the code before it imported.
_REPORT = """
import json, sys
print(json.dumps(sorted(
    name for name in sys.modules
    if name.split(".")[:3] in (["cropland", "data", "prepare"], ["cropland", "data", "synthetic"])
)))
"""


def imported_after(code: str) -> list[str]:
    """The generator's and pipeline's modules that ``code`` imports in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", code + _REPORT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_training_on_a_prepared_file_leaves_the_generator_and_the_pipeline_out(
    prepared_file: Path,
):
    code = (
        "import cropland.training.train\n"
        "from cropland.data.datamodule import CropSequenceDataModule\n"
        f"datamodule = CropSequenceDataModule(path={str(prepared_file)!r}, in_memory=False)\n"
        "datamodule.prepare_data()\n"
        "datamodule.setup()\n"
    )
    assert imported_after(code) == []


def test_the_check_sees_them():
    imported = imported_after("import cropland.data.synthetic.prepared_default")
    assert "cropland.data.prepare.pipeline" in imported
    assert "cropland.data.synthetic.tree_writer" in imported
