"""The one display stretch of RGB patches: a brightening shared by every image of a figure.

Real RGB patches are dark (channel means ~50 of 255), so figures brighten them. One gain for
all images of a figure, rather than a contrast stretch per image, keeps months and sequences
comparable: a field that greens up or is harvested looks different, not equally contrasted.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# At most this much brightening, so a figure of dark, flat patches does not show noise as
# texture; never less than 1, so bright patches are not darkened.
MAX_RGB_GAIN = 4.0


def rgb_display_gain(rgb_images: Iterable[np.ndarray]) -> float:
    """The gain that maps the 99th percentile of the pixels of ``rgb_images`` (uint8 values,
    any shapes: every RGB image the figure shows) to white, between 1 and ``MAX_RGB_GAIN``."""
    pixels = np.concatenate([np.ravel(image) for image in rgb_images])
    bright = max(float(np.percentile(pixels, 99)), 1.0)
    return float(np.clip(255.0 / bright, 1.0, MAX_RGB_GAIN))


def rgb_for_display(rgb: np.ndarray, gain: float) -> np.ndarray:
    """(3, H, W) uint8 -> (H, W, 3) floats in [0, 1] for ``imshow``, brightened by ``gain``."""
    image = rgb.astype(np.float64) / 255.0
    return np.clip(image.transpose(1, 2, 0) * gain, 0.0, 1.0)
