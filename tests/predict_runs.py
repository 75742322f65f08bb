"""scripts/predict.py as a user runs it, and new, unlabelled data for it made from the
synthetic tree."""

from __future__ import annotations

import shutil
from pathlib import Path

from cropland.data.layout import parse_patch_name
from tests.script_runs import call_script

MODEL_SENSORS = ("RGB", "NDVI45", "GNDVI")  # what the tiny trained run uses


def unlabelled_tree(synthetic_tree, root, sensors=MODEL_SENSORS, points=12):
    """The first ``points`` points of the synthetic tree as new data: <SENSOR>/<patch>, no
    split or class folders, no crop in the names, only the model's sensors."""
    keep = sorted({parse_patch_name(p.name).point for p in synthetic_tree.glob("RGB/*/*/*.png")})
    keep = set(keep[:points])
    for sensor in sensors:
        (root / sensor).mkdir(parents=True)
        for path in (synthetic_tree / sensor).glob("*/*/*.png"):
            name = parse_patch_name(path.name)
            if name.point in keep:
                bare = path.name.replace(f"_{name.crop}_", "_")
                shutil.copy(path, root / sensor / bare)
    return keep


def run_predict(checkpoint, source, output, *extra):
    """scripts/predict.py as a user runs it; Hydra's run folder goes beside ``output``."""
    hydra_dir = Path(output).parent / "hydra"
    return call_script(
        "predict.py",
        f"ckpt_path={checkpoint}",
        f"input={source}",
        f"output={output}",
        f"hydra.run.dir={hydra_dir}",
        *extra,
    )
