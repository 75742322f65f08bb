"""The one display stretch of RGB patches: a brightening shared by every image of a figure.

Real RGB patches are dark (channel means ~50 of 255), so figures brighten them. One gain for
all images of a figure, rather than a contrast stretch per image, keeps months and sequences
comparable: a field that greens up or is harvested looks different, not equally contrasted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# At most this much brightening, so a figure of dark, flat patches does not show noise as
# texture; never less than 1, so bright patches are not darkened.
MAX_RGB_GAIN = 4.0
# The percentile of the shown pixels that the gain maps to white: a few specular or cloud
# pixels may clip, the rest of the scene sets the brightness.
WHITE_PERCENTILE = 99


@dataclass(frozen=True)
class RgbStretch:
    """A gain and what it came from: the ``WHITE_PERCENTILE`` of the pixels (0-255 scale)."""

    bright: float
    gain: float

    def describe(self) -> str:
        """One line for a figure title; says when a gain limit, not the percentile, set it."""
        percentile = f"p{WHITE_PERCENTILE} = {self.bright:.0f} of 255"
        if self.gain <= 1.0:
            return f"not brightened ({percentile})"
        if self.gain >= MAX_RGB_GAIN:
            return f"brightened x{self.gain:.2f}, the most allowed ({percentile})"
        return f"brightened x{self.gain:.2f} ({percentile} shown as white)"

    def as_dict(self) -> dict:
        return {
            "percentile": WHITE_PERCENTILE,
            "percentile_value": self.bright,
            "gain": self.gain,
            "max_gain": MAX_RGB_GAIN,
        }


def rgb_display_stretch(rgb_images: Iterable[np.ndarray]) -> RgbStretch:
    """The stretch that maps the ``WHITE_PERCENTILE`` of the pixels of ``rgb_images`` (uint8
    values, any shapes: every RGB image the figure shows) to white, its gain between 1 and
    ``MAX_RGB_GAIN``."""
    pixels = np.concatenate([np.ravel(image) for image in rgb_images])
    bright = float(np.percentile(pixels, WHITE_PERCENTILE))
    gain = float(np.clip(255.0 / max(bright, 1.0), 1.0, MAX_RGB_GAIN))
    return RgbStretch(bright=bright, gain=gain)


def rgb_for_display(rgb: np.ndarray, gain: float) -> np.ndarray:
    """(3, H, W) uint8 -> (H, W, 3) floats in [0, 1] for ``imshow``, brightened by ``gain``."""
    image = rgb.astype(np.float64) / 255.0
    return np.clip(image.transpose(1, 2, 0) * gain, 0.0, 1.0)
