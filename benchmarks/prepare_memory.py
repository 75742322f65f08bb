"""Peak memory of preparing the published HDF5, for two input sizes side by side.

    .venv/bin/python -m benchmarks.prepare_memory [--points 300 1200] [--workdir DIR]

(from the repository root: ``-m`` puts it on the import path, so ``tests.published_format`` is
found without installing ``benchmarks/`` or ``tests/``).

For each size: generate a synthetic tree, write it in the published format (with
tests/published_format.py, the tests' own writer of that format), and convert that file in a
fresh subprocess that reports its own peak RSS after importing everything and after converting.
Streaming preparation should make the peak grow far less than the input does; the last line
gives the ratio of the two growths.

The peak is the child's ``VmHWM`` from ``/proc/self/status`` (Linux only): ``ru_maxrss`` would
not do, since Linux carries the parent's peak at fork time over into the child's across exec.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cropland.data.layout import CHANNELS, IMAGE_SIZE
from cropland.data.synthetic import generate_tree
from tests.published_format import write_published_from_tree

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Runs in the child: peak RSS after the imports, then after the conversion.
_CONVERT = """
import contextlib, io, json, re, sys, time
from pathlib import Path
from cropland.data.prepare import prepare_dataset

def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text())[1])

imported = peak_kib()
start = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    summary = prepare_dataset(sys.argv[1], sys.argv[2], progress=False, overwrite=True)
print(json.dumps({
    "records": summary["records"],
    "seconds": time.perf_counter() - start,
    "imported_kib": imported,
    "peak_kib": peak_kib(),
}))
"""

MIB = 1024 * 1024


def measure(points: int, workdir: Path) -> dict:
    tree = workdir / f"tree_{points}"
    if not tree.exists():
        generate_tree(tree, num_points=points, seed=0, progress=False)
    published = workdir / f"published_{points}.hdf5"
    if not published.exists():
        write_published_from_tree(tree, published)
    result = subprocess.run(
        [sys.executable, "-c", _CONVERT, str(published), str(workdir / f"prepared_{points}.h5")],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    child = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "points": points,
        "records": child["records"],
        "input_mib": published.stat().st_size / MIB,
        "imported_mib": child["imported_kib"] / 1024,
        "peak_mib": child["peak_kib"] / 1024,
        "seconds": child["seconds"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs=2, default=[300, 1200], metavar="N")
    parser.add_argument("--workdir", type=Path, help="keep (and reuse) the files here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        workdir = args.workdir or Path(scratch)
        workdir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        small, large = (measure(points, workdir) for points in sorted(args.points))

    header = ("points", "records", "input MiB", "RSS after imports", "peak RSS MiB", "convert s")
    print(" | ".join(f"{h:>17}" for h in header))
    for row in (small, large):
        values = (
            row["points"],
            row["records"],
            f"{row['input_mib']:.1f}",
            f"{row['imported_mib']:.1f}",
            f"{row['peak_mib']:.1f}",
            f"{row['seconds']:.1f}",
        )
        print(" | ".join(f"{v:>17}" for v in values))
    input_growth = large["input_mib"] - small["input_mib"]
    peak_growth = large["peak_mib"] - small["peak_mib"]
    print(
        f"input grew by {input_growth:.1f} MiB ({large['input_mib'] / small['input_mib']:.1f}x), "
        f"peak RSS by {peak_growth:.1f} MiB: peak RSS growth / input growth = "
        f"{peak_growth / input_growth:.3f} (whole benchmark {time.perf_counter() - started:.0f} s)"
    )
    extra_records = large["records"] - small["records"]
    print(
        f"per extra record: peak RSS +{peak_growth * 1024 / extra_records:.1f} KiB, input "
        f"+{input_growth * 1024 / extra_records:.1f} KiB (its decoded pixels: "
        f"{len(CHANNELS) * IMAGE_SIZE**2 / 1024:.1f} KiB)"
    )


if __name__ == "__main__":
    main()
