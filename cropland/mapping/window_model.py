"""Window sequences of a block through a trained classifier: the dataset's encoding of each
window and month (:mod:`cropland.data.sentinel2_encoding`), scaled to [0, 1] as the
DataModule scales its uint8 images, then the checkpoint's own normalization in the model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from cropland.data.sentinel2_encoding import encode_windows
from cropland.mapping.monthly_windows import WindowSequences
from cropland.mapping.scene_reader import Block


def model_inputs(
    block: Block,
    sequences: WindowSequences,
    sensors: list[str],
    size: int,
    batch_size: int,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """``(window numbers, batch)`` per batch of windows; the batch holds uint8 ``image``
    ``(windows, months, channels, size, size)`` padded at the end, ``lengths`` and ``months``.
    Origins are in block pixels."""
    lengths = sequences.lengths()
    months = np.asarray(sequences.months, dtype=np.int64)
    for start in range(0, len(lengths), batch_size):
        numbers = np.arange(start, min(start + batch_size, len(lengths)))
        chosen = sequences.chosen[numbers]
        steps = int(lengths[numbers].max())
        # Valid months first, in calendar order, as the dataset's sequences are.
        order = np.argsort(chosen < 0, axis=1, kind="stable")
        ordered = np.take_along_axis(chosen, order, axis=1)[:, :steps]
        valid = ordered >= 0
        window, step = np.nonzero(valid)
        origins = sequences.origins[numbers[window]]
        cut = block.reflectance(ordered[window, step], origins[:, 0], origins[:, 1], size)
        encoded = encode_windows(cut, sensors)
        channels = np.concatenate([encoded[s] for s in sensors], axis=1)
        image = np.zeros((len(numbers), steps, *channels.shape[1:]), dtype=np.uint8)
        image[window, step] = channels
        month_of = np.where(valid, months[order[:, :steps]], 0)
        yield numbers, {"image": image, "lengths": lengths[numbers], "months": month_of}


@torch.no_grad()
def window_probabilities(model: torch.nn.Module, batch: dict, device: torch.device) -> np.ndarray:
    image = torch.from_numpy(batch["image"]).to(device).float().div_(255)
    lengths = torch.from_numpy(batch["lengths"]).to(device)
    months = torch.from_numpy(batch["months"]).to(device)
    logits = model(image, lengths, months)
    return torch.softmax(logits.float(), dim=1).cpu().numpy()
