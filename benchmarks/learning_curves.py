"""Training against validation curves of a few runs, side by side, to see whether a recipe
underfits (both low and close) or overfits (training far above validation):

    .venv/bin/python -m benchmarks.learning_curves out=curves.png LABEL=RUN_FOLDER ...

Each RUN_FOLDER is a scripts/train.py run folder (it reads the TensorBoard events under
``tensorboard/``); each LABEL names its column in the figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cropland.plotting import plt

CURVES = (("acc", "accuracy"), ("loss", "loss"))


def epoch_curves(run: Path) -> dict[str, list[float]]:
    """``train/acc``, ``val/acc``, ``train/loss``, ``val/loss`` per epoch, in step order."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags()["scalars"])
    curves = {}
    for stage in ("train", "val"):
        for key, _ in CURVES:
            tag = f"{stage}/{key}"
            if tag not in tags:
                raise SystemExit(f"error: {run} has no {tag} curve; give a scripts/train.py run")
            curves[tag] = [e.value for e in sorted(events.Scalars(tag), key=lambda e: e.step)]
    return curves


def plot(runs: dict[str, Path], out: Path) -> None:
    figure, axes = plt.subplots(
        len(CURVES), len(runs), figsize=(4 * len(runs), 6), squeeze=False, sharey="row"
    )
    for column, (label, run) in enumerate(runs.items()):
        curves = epoch_curves(run)
        for row, (key, name) in enumerate(CURVES):
            axis = axes[row][column]
            for stage, style in (("train", "-"), ("val", "--")):
                values = curves[f"{stage}/{key}"]
                axis.plot(range(1, len(values) + 1), values, style, label=stage)
            axis.set_xlabel("epoch")
            axis.grid(alpha=0.3)
            if column == 0:
                axis.set_ylabel(name)
            if row == 0:
                axis.set_title(label, fontsize=10)
        axes[0][column].legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(arguments: list[str]) -> None:
    settings = dict(a.split("=", 1) for a in arguments if "=" in a)
    if len(settings) != len(arguments) or "out" not in settings or len(settings) < 2:
        raise SystemExit(__doc__)
    out = Path(settings.pop("out"))
    runs = {label: Path(folder) for label, folder in settings.items()}
    for label, run in runs.items():
        if not (run / "tensorboard").is_dir():
            raise SystemExit(f"error: {label}={run} has no tensorboard/ folder; give a run folder")
    plot(runs, out)
    print(out)


if __name__ == "__main__":
    main(sys.argv[1:])
