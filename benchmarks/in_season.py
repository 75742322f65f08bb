"""Early-season scores of truncation-trained and full-season-only models side by side.

Not a test: after a training multirun over data sets, ``data.augmentation.truncate`` and seeds,
for example

    python scripts/train.py -m data=synthetic,synthetic_hard data.augmentation.truncate=0,0.5 \\
        seed=1,2,3 hydra/launcher=joblib hydra.launcher.n_jobs=2

``python -m benchmarks.in_season <multirun folder> [...]`` runs ``scripts/eval.py`` on every
job's best checkpoint (its own test split), reads each ``early_season.csv`` and reports, per data
set and truncation, the mean over seeds of accuracy and macro F1 with the images up to each
month and over the full season; the share of the full-season accuracy reached with images up to July
(target 0.85) and the full-season difference to the full-season-only model (target at most 1
point lower). It draws both scores against the last month seen (``in_season.png``) and writes
``in_season.md`` into the multirun folder.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cropland.plotting import plt

ROOT = Path(__file__).resolve().parents[1]
JULY_SHARE_TARGET = 0.85
FULL_SEASON_TOLERANCE = 0.01


def _evaluate(job: Path) -> list[dict]:
    season = job / "eval" / "early_season.csv"
    if not season.is_file():
        command = [sys.executable, str(ROOT / "scripts" / "eval.py"), f"ckpt_path={job}",
                   f"hydra.run.dir={job / 'eval'}", "progress=false"]  # fmt: skip
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"eval of {job} failed:\n{result.stderr[-2000:]}")
    return list(csv.DictReader(season.open()))


def _setting(job: Path) -> tuple[str, float, int]:
    config = OmegaConf.load(job / "config.yaml")
    data = Path(str(config.data.path)).stem
    return data, float(config.data.augmentation.get("truncate", 0.0)), int(config.seed)


def _set_name(data: str) -> str:
    """The synthetic sets by their config names (data=synthetic, data=synthetic_hard)."""
    return "hard set" if data.endswith("_hard") else "default set" if "synthetic" in data else data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("multiruns", type=Path, nargs="+", help="written into the first")
    args = parser.parse_args()
    args.multirun = args.multiruns[0]
    jobs = sorted(
        p for folder in args.multiruns for p in folder.iterdir() if (p / "config.yaml").is_file()
    )
    scores: dict[tuple[str, float], dict[str, list]] = defaultdict(lambda: defaultdict(list))
    rows_of: dict[str, list[str]] = {}
    for job in jobs:
        data, truncate, seed = _setting(job)
        rows = _evaluate(job)
        rows_of.setdefault(data, [row["months_seen"] for row in rows])
        scores[(data, truncate)]["acc"].append([float(row["acc"]) for row in rows])
        scores[(data, truncate)]["f1"].append([float(row["f1_macro"]) for row in rows])
        scores[(data, truncate)]["seeds"].append(seed)
    lines = [f"`python -m benchmarks.in_season {' '.join(map(str, args.multiruns))}`", ""]
    figure, axes = plt.subplots(1, 2 * len(rows_of), figsize=(4.4 * len(rows_of), 3.4),
                                constrained_layout=True, squeeze=False)  # fmt: skip
    figure.suptitle("images up to each month: mean over seeds of the test split", fontsize=10)
    for d, (data, names) in enumerate(rows_of.items()):
        header = ["truncate", "seeds", *names, "July / full", "full - full-only"]
        lines += [f"### {data}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        base = np.mean(scores[(data, 0.0)]["acc"], axis=0) if (data, 0.0) in scores else None
        for (name, truncate), found in sorted(scores.items()):
            if name != data:
                continue
            acc, f1 = np.mean(found["acc"], axis=0), np.mean(found["f1"], axis=0)
            july = acc[names.index("up to July")] / acc[-1]
            diff = acc[-1] - base[-1] if base is not None else float("nan")
            cells = " | ".join(f"{a:.3f} / {f:.3f}" for a, f in zip(acc, f1, strict=True))
            lines.append(f"| {truncate} | {len(found['seeds'])} | {cells} | {july:.2f} | "
                         f"{100 * diff:+.1f} pt |")  # fmt: skip
            for axis, values, what in ((axes[0, 2 * d], acc, "accuracy"),
                                       (axes[0, 2 * d + 1], f1, "macro F1")):  # fmt: skip
                axis.plot(range(len(names)), values, marker="o", label=f"truncate={truncate}")
                axis.set_title(f"{_set_name(data)}: {what}", fontsize=9)
                ticks = [n.replace("up to ", "")[:3] for n in names[:-1]] + ["full"]
                axis.set_xticks(range(len(names)), ticks, fontsize=8)
                axis.set_ylim(0, 1)
                axis.grid(alpha=0.3)
        target = f"July / full >= {JULY_SHARE_TARGET}, full - full-only >= "
        target += f"-{100 * FULL_SEASON_TOLERANCE:.0f} pt"
        lines += ["", f"accuracy / macro F1, mean over seeds; targets: {target}", ""]
    axes[0, 0].legend(fontsize=8)
    figure.savefig(args.multirun / "in_season.png", dpi=100)
    (args.multirun / "in_season.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {args.multirun / 'in_season.md'} and {args.multirun / 'in_season.png'}")


if __name__ == "__main__":
    main()
