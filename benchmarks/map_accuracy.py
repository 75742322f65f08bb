"""How right a map is: a synthetic scene with known fields, mapped, scored per field and per
pixel against its truth, beside the checkpoint's own patch test accuracy.

Not a test: ``python -m benchmarks.map_accuracy --ckpt best`` (from the repository root)

- makes a scene with ``scripts/make_scene.py`` (``--size``, ``--seed``), drawn with the patch
  generator's covers and phenology, so a model trained on the default synthetic data knows it;
- maps it with ``scripts/map.py`` and the scene's ``fields.gpkg`` as ``fields=``;
- reports per-field accuracy and macro F1 (the field's answer is the class of its mean
  probability), pixel accuracy inside the fields (all pixels, and those at least ``--interior``
  pixels inside a field's edge, where no window reaches a neighbour), and the checkpoint
  run's ``test/acc`` on patches;
- draws the scene's RGB on a mid-season date, the truth, the map and its confidence side by
  side (``map_example.png`` in ``--out``).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import rasterio
import torch
from matplotlib import pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch
from scipy.ndimage import distance_transform_edt
from sklearn.metrics import f1_score

from cropland.inference.checkpoint_choice import chosen_checkpoint
from cropland.mapping.map_files import class_colours

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
NODATA = 255


def _run(script: str, *settings: str) -> None:
    command = [sys.executable, str(ROOT / "scripts" / script), *settings]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{script} failed:\n{result.stderr[-3000:]}")


def _patch_accuracy(checkpoint: Path) -> float | None:
    metrics = checkpoint.parent.parent / "metrics.json"
    if not metrics.is_file():
        return None
    return json.loads(metrics.read_text()).get("test/acc")


def _field_scores(fields_csv: Path) -> tuple[float, float, int, int]:
    rows = [row for row in csv.DictReader(fields_csv.open()) if row["predicted"]]
    true = [row["crop"] for row in rows]
    predicted = [row["predicted"] for row in rows]
    total = sum(1 for _ in csv.DictReader(fields_csv.open()))
    accuracy = float(np.mean([t == p for t, p in zip(true, predicted, strict=True)]))
    return accuracy, float(f1_score(true, predicted, average="macro")), len(rows), total


def _rgb(scene: Path) -> np.ndarray:
    """A clear mid-season date's true colour, stretched to its 2nd-98th percentiles."""
    summary = json.loads((scene.parent / "scene.json").read_text())
    cloudy = set(summary.get("cloudy_dates", []))
    dates = sorted(p.name for p in scene.iterdir() if p.is_dir())
    clear = [d for d in dates if d not in cloudy and d[4:6] in ("07", "08")] or dates
    bands = []
    for band in ("B04", "B03", "B02"):
        with rasterio.open(scene / clear[len(clear) // 2] / f"{band}.tif") as source:
            bands.append(source.read(1).astype(np.float32))
    rgb = np.stack(bands, axis=-1)
    low, high = np.percentile(rgb, (2, 98))
    return np.clip((rgb - low) / (high - low), 0, 1)


def _figure(scene: Path, truth, mapped, confidence, classes: list[str], path: Path) -> None:
    colours = class_colours(classes)
    table = np.zeros((256, 4))
    for index, colour in colours.items():
        table[index] = np.array(colour) / 255
    cmap = ListedColormap(table)
    figure, axes = plt.subplots(1, 4, figsize=(16, 4.6), constrained_layout=True)
    panels = (
        ("scene (true colour, mid-season)", _rgb(scene), {}),
        ("truth (outside fields: blank)", truth, {"cmap": cmap, "vmin": 0, "vmax": 255}),
        ("map.tif", mapped, {"cmap": cmap, "vmin": 0, "vmax": 255}),
        ("map_confidence.tif (%)", np.ma.masked_equal(confidence, NODATA),
         {"cmap": "magma", "vmin": 0, "vmax": 100}),
    )  # fmt: skip
    for axis, (title, image, style) in zip(axes, panels, strict=True):
        shown = axis.imshow(image, interpolation="nearest", **style)
        axis.set_title(title, fontsize=11)
        axis.set_axis_off()
    figure.colorbar(shown, ax=axes[3], fraction=0.046, pad=0.02)
    present = sorted(set(np.unique(truth)) - {NODATA})
    handles = [Patch(color=table[i], label=classes[i]) for i in present]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9,
                  bbox_to_anchor=(0.5, -0.08), frameon=False)  # fmt: skip
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ckpt", default="best", help="as map.py's ckpt_path")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--interior", type=int, default=15)
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "benchmarks" / "accuracy")
    args = parser.parse_args()
    checkpoint = chosen_checkpoint(args.ckpt, ROOT / "outputs" / "train" / "runs")
    dst = args.out / f"scene_{args.size}_seed{args.seed}"
    if not dst.exists():
        _run("make_scene.py", f"dst={dst}", f"size={args.size}", f"seed={args.seed}",
             "progress=false", f"hydra.run.dir={args.out / 'runs' / 'make_scene'}")  # fmt: skip
    output = args.out / "map" / "map.tif"
    output.parent.mkdir(parents=True, exist_ok=True)
    _run("map.py", f"ckpt_path={checkpoint}", f"input={dst / 'scene'}", f"output={output}",
         f"fields={dst / 'fields.gpkg'}", "overwrite=true", "progress=false",
         f"hydra.run.dir={args.out / 'runs' / 'map'}")  # fmt: skip
    with rasterio.open(dst / "truth.tif") as source:
        truth = source.read(1)
    with rasterio.open(output) as source:
        mapped = source.read(1)
    with rasterio.open(output.with_name("map_confidence.tif")) as source:
        confidence = source.read(1)
    classes = json.loads(output.with_suffix(".json").read_text())["classes"]
    inside = (truth != NODATA) & (mapped != NODATA)
    interior = inside & (distance_transform_edt(truth != NODATA) >= args.interior)
    field_accuracy, field_f1, answered, fields = _field_scores(output.with_name("map_fields.csv"))
    result = {
        "date": datetime.date.today().isoformat(),
        "command": "python -m benchmarks.map_accuracy " + " ".join(sys.argv[1:]),
        "versions": f"Python {platform.python_version()}, torch {torch.__version__}",
        "checkpoint": str(checkpoint),
        "scene": f"make_scene.py size={args.size} seed={args.seed}",
        "fields": fields,
        "fields_answered": answered,
        "field_accuracy": round(field_accuracy, 3),
        "field_f1_macro": round(field_f1, 3),
        "pixel_accuracy_in_fields": round(float((mapped == truth)[inside].mean()), 3),
        f"pixel_accuracy_{args.interior}px_inside": round(
            float((mapped == truth)[interior].mean()), 3
        ),
        "largest_class_share": round(float(np.bincount(truth[inside]).max() / inside.sum()), 3),
        "patch_test_accuracy": _patch_accuracy(checkpoint),
    }
    _figure(dst / "scene", truth, mapped, confidence, classes, args.out / "map_example.png")
    (args.out / "map_accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print(f"wrote {args.out / 'map_accuracy.json'} and {args.out / 'map_example.png'}")


if __name__ == "__main__":
    main()
