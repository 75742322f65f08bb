"""Writing a synthetic tree: every point's images, in threads, into a folder that becomes
``root`` only once complete, and the tree's summary beside it. The tree is labelled (the real
tree's split and class folders, crops in the names) or, with ``labelled=False``, new data to
predict on (``<SENSOR>/<patch>``, no crop in the names).

Writes go to a hidden temporary sibling of ``root`` (``.<root>.cropland-tmp-<pid>``, see
:func:`cropland.io.atomic_output`) that is renamed to ``root`` only once every file is written,
so an interrupted run never leaves a half-written tree where readers look; one left by a killed
run is removed by the next. The tree's summary, and the proof that ``overwrite`` may replace
it, is saved beside it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from cropland.data.layout import (
    CLASSES,
    MONTHS,
    SENSORS,
    SPLIT_FOLDERS,
    UNASSIGNED,
    PatchName,
    patch_path,
    unlabelled_patch_path,
)
from cropland.data.sentinel2_encoding import encode
from cropland.data.synthetic.character import Character
from cropland.data.synthetic.draws import generator_settings
from cropland.data.synthetic.planning import Point, plan_points
from cropland.data.synthetic.rendering import render_point
from cropland.data.synthetic.settings import GeneratorSettings
from cropland.errors import CroplandError
from cropland.io import atomic_output, write_json_atomic

POINTS_PER_CHUNK = 25  # per thread task: small enough for a smooth progress bar


def tree_summary_path(root: Path) -> Path:
    """Where the summary of the tree at ``root`` goes: beside it, ``<root>.synthetic.json``.

    Outside the tree, so the tree holds exactly what a real one does; its presence is also what
    lets ``overwrite`` replace the tree.
    """
    return root.with_name(root.name + ".synthetic.json")


def _relative_path(name: PatchName, point: Point, labelled: bool) -> str:
    return patch_path(name, point.split_folder) if labelled else unlabelled_patch_path(name)


def _write_points(
    tree: Path,
    points: list[Point],
    seed: int,
    year: int,
    settings: GeneratorSettings,
    labelled: bool,
) -> int:
    """Write every date and sensor of ``points``; return the number of images."""
    written = 0
    for point in points:
        for month, bands in render_point(point, seed, settings):
            for sensor, image in encode(bands).items():
                date = year * 100 + month
                name = PatchName(point.point_id, date, point.province, point.crop, sensor)
                # Level 1: encoding is most of the run time, and noisy pixels hardly compress
                # better at the default level 6.
                path = tree / _relative_path(name, point, labelled)
                image.save(path, "PNG", compress_level=1)
                written += 1
    return written


def _write_chunks(
    tree: Path,
    points: list[Point],
    seed: int,
    year: int,
    settings: GeneratorSettings,
    labelled: bool,
    workers: int,
) -> Iterator[tuple[int, int]]:
    """Write the points in chunks; yield (images, points) per finished chunk, in any order.

    Every point draws from its own generator, so the bytes do not depend on the chunking or
    the number of threads. Threads suffice: PNG encoding, most of the work, releases the GIL.
    """
    size = POINTS_PER_CHUNK
    chunks = [points[i : i + size] for i in range(0, len(points), size)]
    if workers == 1:
        for chunk in chunks:
            yield _write_points(tree, chunk, seed, year, settings, labelled), len(chunk)
        return
    with ThreadPoolExecutor(workers) as pool:
        futures = {
            pool.submit(_write_points, tree, c, seed, year, settings, labelled): len(c)
            for c in chunks
        }
        try:
            for future in as_completed(futures):
                yield future.result(), futures[future]
        finally:
            pool.shutdown(cancel_futures=True)  # an interrupted run stops after running chunks


def _check_destination(root: Path, overwrite: bool) -> None:
    """Refuse a destination we could not, or should not, replace; before any work is done."""
    if root.exists() and not root.is_dir():
        raise CroplandError(f"dst {root} is a file; give a folder path for the synthetic tree")
    if not root.is_dir() or not any(root.iterdir()):
        return
    if not overwrite:
        raise CroplandError(
            f"dst {root} exists and is not empty; choose another dst, or set overwrite=true "
            "to replace a synthetic tree written there before"
        )
    if not tree_summary_path(root).is_file():
        raise CroplandError(
            f"dst {root} is not a synthetic tree (there is no {tree_summary_path(root).name} "
            "beside it); refusing to delete it even with overwrite=true: remove it yourself or "
            "choose another dst"
        )


def _check_arguments(num_points: int, seed: int, year: int, workers: int | None) -> None:
    if num_points < 1:
        raise CroplandError(f"num_points must be at least 1, got {num_points}")
    if seed < 0:
        raise CroplandError(f"seed must be a non-negative integer, got {seed}")
    if not 1000 <= year <= 9999:
        raise CroplandError(f"year must have four digits (the file names hold YYYYMM), got {year}")
    if workers is not None and workers < 1:
        raise CroplandError(f"workers must be at least 1, or null for one per core; got {workers}")


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may run on
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _summary(
    points: list[Point],
    seed: int,
    year: int,
    character: Character,
    draw: int | None,
    settings: GeneratorSettings,
    images: int,
    labelled: bool,
) -> dict:
    months = Counter(m for p in points for m in p.months)
    # An unlabelled tree has no split folders: preparing it puts every record in UNASSIGNED.
    split_folders = (
        {s: sum(p.split_folder == s for p in points) for s in SPLIT_FOLDERS}
        if labelled
        else {UNASSIGNED: len(points)}
    )
    return {
        "seed": seed,
        "year": year,
        # A draw replaces the character, so only the tuned generator's tree records one.
        **(asdict(character) if draw is None else {}),
        "draw": draw,
        "labelled": labelled,
        "num_points": len(points),
        "images_written": images,
        "records": sum(len(p.months) for p in points),
        # Of an unlabelled tree too: the crops its names leave out.
        "points_per_class": {c: sum(p.crop == c for p in points) for c in CLASSES},
        "points_per_split_folder": split_folders,
        "points_per_month": {str(year * 100 + m): months[m] for m in MONTHS},
        "points_with_fewer_than_3_dates": sum(len(p.months) < 3 for p in points),
        # Everything the generator used, as JSON has it (tuples become lists).
        "settings": json.loads(json.dumps(asdict(settings))),
    }


def generate_tree(
    root: Path | str,
    num_points: int = 1000,
    seed: int = 0,
    year: int = 2019,
    progress: bool = True,
    overwrite: bool = False,
    workers: int | None = None,
    cloud_gaps: float = 0.0,
    separability: float = 1.0,
    noise: float = 1.0,
    phenology_shift: float = 0.0,
    draw: int | None = None,
    labelled: bool = True,
) -> dict:
    """Write a synthetic tree in the real 2019 layout at ``root``; return a JSON-able summary.

    ``cloud_gaps``, ``separability``, ``noise`` and ``phenology_shift`` make the data harder
    (see :class:`Character`; :data:`HARD` is the ``data=synthetic_hard`` preset); their
    defaults give the tree this function always wrote. ``draw`` (a non-negative integer) uses
    generator ``draw`` of the family in :mod:`.draws` instead, refused with a character;
    ``None`` is the tuned generator. The summary records the draw and every setting used.
    ``labelled=False`` writes the same images as new data to predict on, in the layout
    without classes (:func:`~cropland.data.layout.unlabelled_patch_path`).
    The same arguments, except ``workers``, give byte-identical files, whatever
    ``workers`` (threads; default: one per usable core, fewer for small trees). Files are
    written to a hidden sibling folder that replaces ``root`` only when complete; the summary
    is also saved beside the tree (:func:`tree_summary_path`). ``root`` must be absent or
    empty, or with ``overwrite`` an earlier synthetic tree (it has that summary); else
    CroplandError.
    """
    root = Path(root).absolute()  # "." has no name to put a sibling beside
    _check_arguments(num_points, seed, year, workers)
    character = Character(cloud_gaps, separability, noise, phenology_shift)
    settings = generator_settings(draw, character)
    _check_destination(root, overwrite)
    if workers is None:
        workers = min(_usable_cores(), -(-num_points // POINTS_PER_CHUNK))
    points = plan_points(num_points, seed, settings)
    with atomic_output(root, folder=True, overwrite=overwrite) as staging:
        folders = {(p.split_folder, p.crop) for p in points} if labelled else {()}
        for folder in folders:
            for sensor in SENSORS:
                staging.joinpath(sensor, *folder).mkdir(parents=True)
        images = 0
        # On stderr, so that stdout carries only what the caller prints (the script's JSON).
        with Progress(console=Console(stderr=True), disable=not progress) as bar:
            task = bar.add_task("Writing synthetic patches", total=num_points)
            chunks = _write_chunks(staging, points, seed, year, settings, labelled, workers)
            for written, done in chunks:
                images += written
                bar.advance(task, done)
    summary = _summary(points, seed, year, character, draw, settings, images, labelled)
    # The tree's own: its rename has refused a tree another run put at root meanwhile.
    write_json_atomic(tree_summary_path(root), summary, overwrite=True)
    return summary
