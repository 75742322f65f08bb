"""How hard a synthetic tree is (:class:`Character`), and its presets (:data:`HARD`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cropland.errors import CroplandError


@dataclass(frozen=True)
class Character:
    """What makes the data easy or hard, apart from its seed; the defaults are the tree we
    always wrote, byte for byte.

    * ``cloud_gaps``: probability that each month a point has an image for is lost as well
      (at least one month is kept), on top of the real month sets.
    * ``separability``: each class's cover shares per month are pulled toward the mean of all
      classes, ``s * class + (1 - s) * mean``; 1 is the classes as tuned, smaller is closer.
    * ``noise``: multiplies the per-pixel sensor noise and the amplitude of the class textures.
    * ``phenology_shift``: standard deviation, in months, of a shift of every field's phenology
      drawn once per province (the tree holds one year), so one crop peaks at different times
      in different provinces.
    """

    cloud_gaps: float = 0.0
    separability: float = 1.0
    noise: float = 1.0
    phenology_shift: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "cloud_gaps": (0 <= self.cloud_gaps < 1, "in [0, 1)"),
            "separability": (0 < self.separability <= 1, "in (0, 1]"),
            "noise": (0 <= self.noise < math.inf, "a finite number >= 0"),
            "phenology_shift": (0 <= self.phenology_shift < math.inf, "a finite number >= 0"),
        }
        for key, (ok, allowed) in checks.items():
            if not ok:
                raise CroplandError(f"{key} must be {allowed}, got {getattr(self, key)}")

    def suffix(self) -> str:
        """What a file name adds for this character: nothing for the default, ``_hard`` for
        :data:`HARD`, else every setting that differs from the default (``_gap0.3_noise2``)."""
        if self == Character():
            return ""
        if self == HARD:
            return "_hard"
        tags = {
            "cloud_gaps": "gap",
            "separability": "sep",
            "noise": "noise",
            "phenology_shift": "shift",
        }
        default = Character()
        return "".join(
            f"_{tag}{getattr(self, key):g}"
            for key, tag in tags.items()
            if getattr(self, key) != getattr(default, key)
        )


# conf/data/synthetic_hard.yaml holds the same values (its file name ends in _hard).
HARD = Character(cloud_gaps=0.25, separability=0.6, noise=2.0, phenology_shift=0.75)
