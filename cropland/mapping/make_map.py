"""The pipeline behind ``scripts/map.py``: a scene's acquisitions in, a crop-type map out.

The scene is cut into blocks of ``block_size`` pixels. For each block, every window of the
model's patch size whose pixels reach the block (windows on a ``stride`` grid over the whole
scene, plus one flush with each far edge) is read with its months, classified, and blended into
the block (:mod:`cropland.mapping.blending`). A window's answer does not depend on the block
that computes it, so the blocks join without seams, and memory stays that of one block
whatever the scene's size. With ``fields=``, each polygon gets an answer from the map once
it is written (:mod:`cropland.mapping.field_answers`), from the pixels' months kept beside.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import rasterio
import torch
from omegaconf import DictConfig
from rasterio.windows import Window
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from cropland.data.channels import sensors_of_channels
from cropland.data.layout import DATASET_PRODUCT_LEVEL, IMAGE_SIZE, MONTHS
from cropland.data.sentinel2_encoding import bands_for, pixel_bytes
from cropland.errors import CroplandError
from cropland.inference.checkpoint_choice import checkpoint_of
from cropland.inference.model_loading import load_model
from cropland.io import Interrupted, atomic_output, refuse_to_replace, write_json_atomic
from cropland.mapping.blending import BlockBlend
from cropland.mapping.field_answers import (
    FieldAnswers,
    answer_fields,
    answered_table,
    without_pixels_line,
    write_field_files,
)
from cropland.mapping.field_polygons import FieldPolygons, fields_on_grid, read_fields
from cropland.mapping.finished_blocks import FinishedBlocks, file_identity
from cropland.mapping.map_files import MapWriter, block_parts
from cropland.mapping.map_settings import (
    FIELDS_CSV,
    FIELDS_GEOPACKAGE,
    SIDECAR,
    MapSettings,
    map_outputs,
    map_settings,
    parts_folder,
)
from cropland.mapping.monthly_windows import (
    WindowSequences,
    choose_months,
    cloud_shares,
    month_bits,
    window_origins,
)
from cropland.mapping.radiometry import check_level_matches
from cropland.mapping.scene_input import read_scene
from cropland.mapping.scene_reader import SceneReader
from cropland.mapping.stage_clock import StageClock
from cropland.mapping.window_model import model_inputs, window_probabilities
from cropland.season_so_far import Until

# GDAL's block cache grows to 5% of the machine's memory by default, filled with blocks of
# the rasters being written: bounded, memory stays that of one block of the map.
GDAL_CACHE_MB = 256


def map_scene(cfg: DictConfig) -> Path:
    """Write the class map, probabilities, confidence and sidecar, and the answers per field
    with ``fields``; returns the class map."""
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
        return _map_scene(cfg)


def _map_scene(cfg: DictConfig) -> Path:
    settings = map_settings(cfg)
    outputs = map_outputs(cfg)
    output = outputs["output"]
    source = Path(cfg.input)
    ckpt_path = checkpoint_of(cfg)
    inputs = {"input": source, "ckpt_path": ckpt_path}
    if cfg.get("fields"):
        inputs["fields"] = Path(cfg.fields)
    refuse_to_replace(outputs, inputs, cfg.overwrite)
    fields = read_fields(inputs["fields"], cfg.get("fields_layer")) if "fields" in inputs else None

    loaded = load_model(ckpt_path)
    if loaded.classifier is None:
        raise CroplandError(
            f"ckpt_path={ckpt_path}: the published weights keep no normalization statistics "
            "(their recipe computes them over the data scored), so they cannot map a scene; "
            "use a checkpoint of scripts/train.py"
        )
    model = loaded.classifier
    classes = list(model.classes)
    sensors = sensors_of_channels(loaded.channels)
    needed = bands_for(sensors)
    acquisitions = read_scene(source, needed)
    if settings.until is not None:
        acquisitions = _known_by(acquisitions, settings.until, source)
    months = settings.months or MONTHS
    date_months = np.array([a.month for a in acquisitions])
    if not np.isin(date_months, months).any():
        seen = ", ".join(sorted({f"{a.date:%Y-%m}" for a in acquisitions}))
        raise CroplandError(
            f"input={source}: no acquisition in the months mapped ({list(months)}); the scene "
            f"has {seen}. Set months=[...] to the months of the season the model knows"
        )
    device = torch.device(settings.device)
    model = model.to(device).eval()
    # Checkpoints from before the level was recorded were trained on the dataset's level.
    model_level = str(model.hparams.get("product_level") or DATASET_PRODUCT_LEVEL)

    with SceneReader(
        acquisitions,
        needed,
        level_setting=settings.product_level,
        offset_setting=settings.reflectance_offset,
        scale_setting=settings.reflectance_scale,
    ) as reader:
        for acquisition, gauge in zip(acquisitions, reader.radiometry, strict=True):
            check_level_matches(gauge.level, model_level, acquisition.where)
        grid = reader.grid
        if grid.width < IMAGE_SIZE or grid.height < IMAGE_SIZE:
            raise CroplandError(
                f"input={source}: {grid.width} x {grid.height} pixels is smaller than one "
                f"{IMAGE_SIZE} x {IMAGE_SIZE} window; map a larger area"
            )
        field_geometries = fields_on_grid(fields, grid) if fields is not None else None
        run = {
            "checkpoint": file_identity(ckpt_path),
            "input": [file_identity(p) for p in _input_files(acquisitions)],
            "settings": settings.as_record(),
        }
        finished = FinishedBlocks(parts_folder(output), run, cfg.overwrite)
        counts = np.zeros(len(classes), dtype=np.int64)
        windows_per_month = np.zeros(len(months), dtype=np.int64)
        blocks = list(_blocks(grid.height, grid.width, settings.block_size))
        clock = StageClock()
        earlier = finished.count()
        if earlier:
            print(
                f"going on from {min(earlier, len(blocks))} of {len(blocks)} blocks finished "
                f"by an earlier run (in {finished.folder})",
                flush=True,
            )
        writer_folder = finished.folder / "assembly"
        writer_folder.mkdir(exist_ok=True)
        writer = MapWriter(writer_folder, grid, classes, month_bits=fields is not None)
        try:
            with _progress(cfg.progress) as bar:
                area = grid.width * grid.height * grid.pixel_area_m2 / 1e6
                task = bar.add_task("mapping", total=len(blocks), km2=0.0, area=area)
                for number, (top, left, height, width) in enumerate(blocks):
                    parts = finished.load(number, (height, width), len(classes), len(months))
                    if parts is None:
                        parts = _map_block(
                            reader, model, device, sensors, months, settings,
                            (top, left, height, width), date_months, len(classes), clock,
                        )  # fmt: skip
                        with clock.stage("write"):
                            finished.save(number, parts)
                    windows_per_month += parts["windows_per_month"]
                    with clock.stage("write"):
                        writer.write(Window(left, top, width, height), parts)
                    done = parts["classes"] != 255
                    counts += np.bincount(parts["classes"][done], minlength=len(classes))[
                        : len(classes)
                    ]
                    bar.update(task, advance=1, km2=area * (number + 1) / len(blocks))
            writer.close()
            answers = None
            if fields is not None:
                probabilities = writer.paths["probabilities"]
                answers = answer_fields(field_geometries, probabilities, writer.months_path)
        except KeyboardInterrupt:
            writer.close()
            raise Interrupted(
                f"nothing written at {output}; the finished blocks are kept in "
                f"{finished.folder}: run the same command again to go on from them"
            ) from None
        radiometry = [
            {"date": f"{a.date:%Y-%m-%d}", **r.as_record()}
            for a, r in zip(acquisitions, reader.radiometry, strict=True)
        ]
    hectares = grid.pixel_area_m2 / 1e4
    sidecar = {
        "checkpoint": str(ckpt_path),
        "input": str(source),
        "classes": classes,
        "channels": loaded.channels,
        "product_level": model_level,
        "months": list(months),
        "windows_per_month": dict(zip(map(str, months), windows_per_month.tolist(), strict=True)),
        "acquisitions": radiometry,
        "settings": settings.as_record(),
        "blending": "Hann window (sin^2 per axis, sampled at pixel centres)",
        "crs": grid.crs.to_string(),
        "transform": list(grid.transform)[:6],
        "pixels": dict(zip(classes, counts.tolist(), strict=True)),
        "hectares": {
            c: round(n * hectares, 2) for c, n in zip(classes, counts.tolist(), strict=True)
        },
    }
    table = None
    if fields is not None:
        table = answered_table(fields, answers, classes)
        sidecar["fields"] = _fields_record(fields, answers, outputs)
        line = without_pixels_line(fields, answers)
        if line:
            print(line, flush=True)
    _put_in_place(writer, outputs, sidecar, table, cfg.overwrite, clock)
    finished.remove()
    print(f"wrote {output}", flush=True)
    return output


def _fields_record(fields: FieldPolygons, answers: FieldAnswers, outputs: dict) -> dict:
    return {
        "file": str(fields.path),
        "layer": fields.layer,
        "count": len(answers.pixels),
        "without_pixels": int(answers.without_pixels.sum()),
        "outputs": [str(outputs[FIELDS_GEOPACKAGE]), str(outputs[FIELDS_CSV])],
    }


def _input_files(acquisitions) -> list[Path]:
    """Every file the map reads: the band files, and a STAC JSON that says their radiometry."""
    files = []
    for acquisition in acquisitions:
        files += acquisition.files()
        if acquisition.source.is_file():
            files.append(acquisition.source)
    return list(dict.fromkeys(files))


def _known_by(acquisitions: list, until: Until, source: Path) -> list:
    """The acquisitions of ``until``'s month and before: the season as known then."""
    known = [a for a in acquisitions if (a.date.year, a.date.month) <= until]
    if not known:
        first = min(a.date for a in acquisitions)
        raise CroplandError(
            f"until={until}: the scene {source} has no acquisition by then (its first is "
            f"{first:%Y-%m-%d}); give a later until, or null for every acquisition"
        )
    return known


def _blocks(height: int, width: int, size: int):
    for top in range(0, height, size):
        for left in range(0, width, size):
            yield top, left, min(size, height - top), min(size, width - left)


def _map_block(
    reader: SceneReader,
    model: torch.nn.Module,
    device: torch.device,
    sensors: list[str],
    months: tuple[int, ...],
    settings: MapSettings,
    bounds: tuple[int, int, int, int],
    date_months: np.ndarray,
    num_classes: int,
    clock: StageClock,
) -> dict[str, np.ndarray]:
    top, left, height, width = bounds
    grid, size = reader.grid, IMAGE_SIZE
    rows = window_origins(top, top + height, grid.height, size, settings.stride)
    cols = window_origins(left, left + width, grid.width, size, settings.stride)
    origins = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
    first_row, first_col = int(rows.min()), int(cols.min())
    read_window = Window(
        first_col, first_row, int(cols.max()) + size - first_col, int(rows.max()) + size - first_row
    )
    with clock.stage("read"):
        block = reader.read(read_window)
    with clock.stage("preprocess"):
        local = origins - [first_row, first_col]
        chosen = choose_months(
            cloud_shares(block.clear, local, size), date_months, months, settings.max_cloud
        )
        keep = (chosen >= 0).sum(axis=1) >= settings.min_length
        sequences = WindowSequences(local[keep], chosen[keep], months)
        # Each date's pixels encoded once for the block (only dates some window uses).
        channels = sum(3 if sensor == "RGB" else 1 for sensor in sensors)
        shape = (len(date_months), channels, *block.clear.shape[1:])
        block_bytes = np.zeros(shape, dtype=np.uint8)
        for date in np.unique(sequences.chosen[sequences.chosen >= 0]):
            block_bytes[date] = pixel_bytes(block.reflectance(date), sensors)
        bits = month_bits(sequences.chosen, months)
    blend = BlockBlend(num_classes, top, left, height, width, size)
    batches = model_inputs(block_bytes, sequences, sensors, size, settings.batch_size)
    for numbers, batch in clock.timed("preprocess", batches):
        with clock.stage("model"):
            probabilities = window_probabilities(model, batch, device)
        with clock.stage("blend"):
            origins_in_scene = sequences.origins[numbers] + [first_row, first_col]
            blend.add(origins_in_scene, probabilities, bits[numbers])
    with clock.stage("blend"):
        probabilities, covered = blend.probabilities()
        parts = block_parts(probabilities, covered, blend.month_bits)
    # Windows are counted by the block their top-left pixel is in, so each counts once.
    inside = (sequences.origins[:, 0] + first_row >= top) & (
        sequences.origins[:, 1] + first_col >= left
    )
    inside &= (sequences.origins[:, 0] + first_row < top + height) & (
        sequences.origins[:, 1] + first_col < left + width
    )
    parts["windows_per_month"] = (sequences.chosen[inside] >= 0).sum(axis=0).astype(np.int64)
    return parts


@contextlib.contextmanager
def _progress(enabled: bool):
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} blocks"),
        TextColumn("{task.fields[km2]:.1f} of {task.fields[area]:.1f} km²"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
    with bar:
        yield bar


def _put_in_place(
    writer: MapWriter,
    outputs: dict,
    sidecar: dict,
    fields_table,
    overwrite: bool,
    clock: StageClock,
) -> None:
    """The COGs, the fields' files and the sidecar (with the seconds per stage, these writes
    included), each under a temporary name renamed at the end."""
    keys = list(outputs)
    names = {"classes": keys[0], "probabilities": keys[1], "confidence": keys[2]}
    with contextlib.ExitStack() as stack:
        temporary = {
            name: stack.enter_context(atomic_output(outputs[key], overwrite=overwrite))
            for name, key in names.items()
        }
        with clock.stage("write"):
            writer.copy_as_cogs(temporary)
            if fields_table is not None:
                geopackage = stack.enter_context(
                    atomic_output(outputs[FIELDS_GEOPACKAGE], overwrite=overwrite)
                )
                csv = stack.enter_context(atomic_output(outputs[FIELDS_CSV], overwrite=overwrite))
                write_field_files(fields_table, geopackage, csv)
        sidecar = {**sidecar, "seconds": clock.as_record()}
        write_json_atomic(outputs[SIDECAR], sidecar, overwrite=overwrite)
