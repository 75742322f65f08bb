"""``prepare_dataset``: check the options, read the source, select, write, summarize, report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cropland.data.channels import channel_names
from cropland.data.layout import CLASSES, IMAGE_SIZE, SENSORS
from cropland.data.prepare.console import print_summary, progress_bar
from cropland.data.prepare.grouping import select_sequences
from cropland.data.prepare.sources import SourceContents, read_source
from cropland.data.prepare.summary import prepare_summary_path, summarize
from cropland.data.prepare.writer import write_failed_message, write_selection
from cropland.errors import CroplandError
from cropland.io import refuse_to_replace, write_json_atomic


def prepare_dataset(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    min_length: int = 3,
    overwrite: bool = False,
    progress: bool = True,
    sensors: Sequence[str] = SENSORS,
    report: bool = True,
) -> dict:
    """Prepare ``src`` (PNG tree folder or published HDF5) into the HDF5 file ``dst``.

    Returns the summary, which is also written beside ``dst`` as ``<dst stem>.summary.json``
    and, with ``report``, printed. Bad input (missing ``src``, existing ``dst``, nothing usable)
    and a failed write (a full disk) raise :class:`CroplandError`, leaving no temp file and
    ``dst`` as it was; bad files or rows inside ``src`` are skipped and reported.
    ``sensors``: the sensors a record needs and the file stores (all six by default; a model's
    own sensors when preparing data to predict on, so that other sensors may be absent).
    """
    src, dst = Path(src), Path(dst)
    if not isinstance(min_length, int) or min_length < 1:
        raise CroplandError(f"min_length={min_length!r}; it must be a whole number, at least 1")
    _check_destination(src, dst, overwrite)
    sensors = tuple(sensors)
    unknown = [sensor for sensor in sensors if sensor not in SENSORS]
    if unknown or not sensors:
        raise CroplandError(f"sensors {list(sensors)}: expected some of {', '.join(SENSORS)}")
    with read_source(src) as contents:
        contents.patches = [p for p in contents.patches if p.name.sensor in sensors]
        return _prepare(contents, src, dst, min_length, overwrite, progress, sensors, report)


def _check_destination(src: Path, dst: Path, overwrite: bool) -> None:
    if dst.is_dir():
        example = dst / "prepared.h5"
        raise CroplandError(f"dst={dst} is a folder; give the file to write, e.g. dst={example}")
    # src too: with overwrite=true the published file would be replaced by its own conversion.
    refuse_to_replace({"dst": dst}, {"src": src}, overwrite)


def _prepare(
    contents: SourceContents,
    src: Path,
    dst: Path,
    min_length: int,
    overwrite: bool,
    progress: bool,
    sensors: tuple[str, ...],
    report: bool,
) -> dict:
    source = str(src)
    with progress_bar(progress) as bar:
        selection = select_sequences(contents.patches, min_length, bar, sensors)
        summary = summarize(selection, contents, source, dst, min_length)
        if selection.records:
            attrs = {
                "classes": list(CLASSES),
                "channels": channel_names(sensors),
                "sensors": list(sensors),
                "image_size": IMAGE_SIZE,
                "min_length": min_length,
                "source": source,
                "source_format": contents.format,
            }
            # Checking every image takes minutes on the real tree: dst may have been created
            # meanwhile (by another prepare), and is not replaced unless overwrite says so.
            _check_destination(src, dst, overwrite)
            write_selection(dst, selection, attrs, bar, overwrite)
    summary_file = prepare_summary_path(dst)
    try:
        # dst's own: dst's rename has refused an existing dst unless overwrite, so without it
        # this replaces only the summary of an earlier attempt that wrote no dst.
        write_json_atomic(summary_file, summary, overwrite=True)
    except OSError as error:
        then = "run prepare again" + (" with overwrite=true" if selection.records else "")
        raise CroplandError(write_failed_message(str(summary_file), error, then)) from error
    if report:
        print_summary(summary)
    if not selection.records:
        raise CroplandError(
            f"no sequence of at least min_length={min_length} usable records in src={source}; "
            f"nothing was written to dst, see {summary_file} for what was skipped and why"
        )
    return summary
