"""Window sequences of a block through a trained classifier: the dataset's encoding of each
window and month (:mod:`cropland.data.sentinel2_encoding`), scaled to [0, 1] as the
DataModule scales its uint8 images, then the checkpoint's own normalization in the model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from cropland.data.sentinel2_encoding import enhance_rgb
from cropland.mapping.monthly_windows import WindowSequences


def model_inputs(
    block_bytes: np.ndarray,
    sequences: WindowSequences,
    sensors: list[str],
    size: int,
    batch_size: int,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``(window numbers, batch)`` per batch of windows, cut from ``block_bytes`` (dates,
    channels, h, w: :func:`~cropland.data.sentinel2_encoding.pixel_bytes` of each date). The
    batch holds uint8 ``image`` ``(windows, months, channels, size, size)`` padded at the end,
    ``lengths`` and ``months``. Origins are in block pixels."""
    lengths = sequences.lengths()
    months = np.asarray(sequences.months, dtype=np.int64)
    # The first of the RGB channels, which alone need each window's own enhancement.
    rgb = None
    if "RGB" in sensors:
        rgb = sum(3 if s == "RGB" else 1 for s in sensors[: sensors.index("RGB")])
    for start in range(0, len(lengths), batch_size):
        numbers = np.arange(start, min(start + batch_size, len(lengths)))
        chosen = sequences.chosen[numbers]
        steps = int(lengths[numbers].max())
        # Valid months first, in calendar order, as the dataset's sequences are.
        order = np.argsort(chosen < 0, axis=1, kind="stable")[:, :steps]
        ordered = np.take_along_axis(chosen, order, axis=1)
        valid = ordered >= 0
        image = np.zeros((len(numbers), steps, block_bytes.shape[1], size, size), dtype=np.uint8)
        for window, step in zip(*np.nonzero(valid), strict=True):
            row, col = sequences.origins[numbers[window]]
            date = ordered[window, step]
            image[window, step] = block_bytes[date, :, row : row + size, col : col + size]
        if rgb is not None:
            flat = image.reshape(-1, *image.shape[2:])[valid.reshape(-1)]
            flat[:, rgb : rgb + 3] = enhance_rgb(flat[:, rgb : rgb + 3])
            image.reshape(-1, *image.shape[2:])[valid.reshape(-1)] = flat
        month_of = np.where(valid, months[order], 0)
        yield numbers, {"image": image, "lengths": lengths[numbers], "months": month_of}


@torch.no_grad()
def window_probabilities(model: torch.nn.Module, batch: dict, device: torch.device) -> np.ndarray:
    image = torch.from_numpy(batch["image"]).to(device).float().div_(255)
    lengths = torch.from_numpy(batch["lengths"]).to(device)
    months = torch.from_numpy(batch["months"]).to(device)
    logits = model(image, lengths, months)
    return torch.softmax(logits.float(), dim=1).cpu().numpy()
