"""TensorBoard output of a description: its own run folder, and optionally an existing run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from cropland.errors import CroplandError

TAG_PREFIX = "describe"


def existing_run_folder(tensorboard_dir: str | None) -> Path | None:
    """Check ``tensorboard_dir`` is the TensorBoard folder of a run: it holds event files.

    Writing into any other folder would show up in TensorBoard as a run of its own.
    """
    if tensorboard_dir is None:
        return None
    folder = Path(tensorboard_dir)
    if not folder.is_dir() or not any(folder.glob("events.out.tfevents.*")):
        raise CroplandError(
            f"tensorboard_dir={tensorboard_dir} is not a TensorBoard folder with event files; "
            "give the tensorboard folder of an existing run, e.g. "
            "tensorboard_dir=outputs/train/runs/<time>/tensorboard"
        )
    return folder


class FigureWriters:
    """One SummaryWriter per TensorBoard folder; every figure and text goes to all of them."""

    def __init__(self, folders: list[Path]) -> None:
        self.writers = [SummaryWriter(log_dir=str(folder)) for folder in folders]

    def add_image(self, name: str, image: np.ndarray) -> None:
        """Add an (H, W, 3) uint8 image, such as a rendered figure."""
        for writer in self.writers:
            writer.add_image(f"{TAG_PREFIX}/{name}", image, dataformats="HWC")

    def add_text(self, name: str, markdown: str) -> None:
        for writer in self.writers:
            writer.add_text(f"{TAG_PREFIX}/{name}", markdown)

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    def __enter__(self) -> FigureWriters:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
