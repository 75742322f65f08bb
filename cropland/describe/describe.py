"""The pipeline behind ``scripts/describe.py``: counts, statistics and figures of a data file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from matplotlib.figure import Figure
from omegaconf import DictConfig
from PIL import Image

from cropland.data.datamodule import CropSequenceDataModule
from cropland.data.prepared_file import PreparedFile
from cropland.data.splits import NO_SPLIT, SPLIT_NAMES
from cropland.describe import figures, tables
from cropland.describe.mosaic import choose_sequences, mosaic_figure, read_mosaic_sequences
from cropland.describe.pixel_statistics import channel_histograms
from cropland.describe.summary import markdown_summary, print_summary
from cropland.describe.tensorboard import FigureWriters, existing_run_folder
from cropland.display_stretch import rgb_display_stretch
from cropland.io import atomic_output, write_json_atomic
from cropland.plotting import plt

DPI = 110


def describe(cfg: DictConfig) -> dict:
    """Describe ``cfg.data``'s file into ``cfg.paths.output_dir``; returns describe.json."""
    output_dir = Path(cfg.paths.output_dir)
    existing_run = existing_run_folder(cfg.get("tensorboard_dir"))  # checked before any work
    datamodule: CropSequenceDataModule = instantiate(cfg.data)
    datamodule.prepare_data()  # makes the default synthetic file on first use
    source = datamodule.prepared_file
    split_ids = datamodule.sequence_splits()

    description = _count_tables(source, split_ids, _split_settings(datamodule))
    histograms = channel_histograms(
        source,
        tables.group_indices(split_ids),
        len(tables.GROUPS),
        block=cfg.block,
        progress=cfg.progress,
    )
    description["channel_statistics"] = histograms.statistics(tables.GROUPS, source.channels)

    output_dir.mkdir(parents=True, exist_ok=True)
    folders = [output_dir / "tensorboard", *([existing_run] if existing_run else [])]
    description["tensorboard"] = [str(folder) for folder in folders]
    with FigureWriters(folders) as writers:
        saved = [
            _save(figure, name, output_dir, writers)
            for name, figure in _summary_figures(description, histograms.counts)
        ]
        description["mosaics"] = _write_mosaics(
            datamodule, split_ids, cfg.mosaic, output_dir, writers
        )
        description["figures"] = saved + description["mosaics"].pop("figures")
        writers.add_text("summary", markdown_summary(description))

    write_json_atomic(output_dir / "describe.json", description)
    print_summary(description, str(output_dir))
    return description


def _count_tables(source: PreparedFile, split_ids: np.ndarray, split_settings: dict) -> dict:
    """Everything that comes from the record and sequence tables alone (no pixels)."""
    sequences = source.sequences
    month_sets = tables.sequence_month_sets(source.records, sequences)
    group_sizes = Counter(tables.group_indices(split_ids).tolist())
    return {
        "file": str(source.path),
        "classes": source.classes,
        "channels": source.channels,
        "split": split_settings,
        "records": len(source.records),
        "sequences": len(sequences),
        "sequences_per_split": {
            name: group_sizes.get(index, 0) for index, name in enumerate(tables.GROUPS)
        },
        "class_counts": tables.class_counts(sequences.label, split_ids, source.classes),
        "unknown_label_sequences": int((split_ids == NO_SPLIT).sum()),
        "unknown_label_crops": tables.unknown_label_crops(sequences, source.records),
        "sequence_lengths": tables.length_counts(sequences.length, split_ids),
        "months": {
            "sequences_with_image": tables.month_presence(month_sets),
            "records": dict(sorted(Counter(source.records.month.tolist()).items())),
            "common_sets": tables.common_month_sets(month_sets),
        },
    }


def _split_settings(datamodule: CropSequenceDataModule) -> dict:
    if datamodule.split == "predefined":
        return {"method": "predefined", "title": "predefined: the dataset's own split folders"}
    if datamodule.split == "province":
        return {
            "method": "province",
            "test_province": datamodule.test_province,
            "val_fraction": datamodule.val_fraction,
            "seed": datamodule.seed,
            "title": (
                f"province: test {datamodule.test_province}, val {datamodule.val_fraction:g} "
                f"of the rest, seed {datamodule.seed}"
            ),
        }
    return {
        "method": "stratified",
        "val_fraction": datamodule.val_fraction,
        "test_fraction": datamodule.test_fraction,
        "seed": datamodule.seed,
        "title": (
            f"stratified, val {datamodule.val_fraction:g}, test {datamodule.test_fraction:g}, "
            f"seed {datamodule.seed}"
        ),
    }


def _summary_figures(description: dict, histograms: np.ndarray) -> Iterator[tuple[str, Figure]]:
    """The dataset-wide figures, one at a time so that each is closed before the next."""
    yield (
        "class_counts",
        figures.class_counts_figure(
            description["class_counts"],
            description["classes"],
            description["unknown_label_sequences"],
            description["split"]["title"],
        ),
    )
    yield "sequence_lengths", figures.sequence_length_figure(description["sequence_lengths"])
    months = description["months"]
    yield (
        "months",
        figures.months_figure(
            months["sequences_with_image"], months["common_sets"], description["sequences"]
        ),
    )
    yield (
        "channel_distributions",
        figures.channel_distribution_figure(
            histograms, tables.GROUPS, description["channels"], description["channel_statistics"]
        ),
    )


def _write_mosaics(
    datamodule: CropSequenceDataModule,
    split_ids: np.ndarray,
    settings: DictConfig,
    output_dir: Path,
    writers: FigureWriters,
) -> dict:
    """One mosaic per class that has sequences; returns the chosen sequences, the RGB stretch
    and the files.

    Every class's mosaic shares one RGB stretch, computed over all the mosaics' images, so
    that brightness can be compared between classes (a stretch per class would make a dark
    class look as bright as a light one).
    """
    source = datamodule.prepared_file
    labels = source.sequences.label
    chosen = choose_sequences(
        labels, len(source.classes), settings.sequences_per_class, settings.seed
    )
    shown = {
        label: read_mosaic_sequences(
            datamodule, indices, [SPLIT_NAMES[split_ids[i]] for i in indices]
        )
        for label, indices in chosen.items()
        if indices
    }
    stretch = (
        rgb_display_stretch(
            sequence.images[:, :3] for sequences in shown.values() for sequence in sequences
        )
        if shown
        else None
    )
    saved = []
    for label, sequences in shown.items():
        name = source.classes[label]
        figure = mosaic_figure(name, sequences, int((labels == label).sum()), stretch)
        saved.append(_save(figure, f"mosaic/{name}", output_dir, writers))
    return {
        "seed": settings.seed,
        "sequences": {source.classes[label]: indices for label, indices in chosen.items()},
        "rgb_stretch": (
            {**stretch.as_dict(), "shared_by": [source.classes[label] for label in shown]}
            if stretch
            else None
        ),
        "figures": saved,
    }


def _save(figure: Figure, name: str, output_dir: Path, writers: FigureWriters) -> str:
    """Write ``figure`` as ``<output_dir>/<name>.png`` and to TensorBoard, then close it.

    The figure is drawn once and the same pixels go to both: drawing (the layout above all)
    is most of a description's time.
    """
    path = output_dir / f"{name}.png"
    figure.set_dpi(DPI)
    figure.canvas.draw()
    image = np.asarray(figure.canvas.buffer_rgba())[..., :3]
    plt.close(figure)
    with atomic_output(path) as tmp:
        Image.fromarray(image).save(tmp)
    writers.add_image(name, image)
    return path.relative_to(output_dir).as_posix()
