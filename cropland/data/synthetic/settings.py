"""Every setting of the synthetic generator in one frozen value, :class:`GeneratorSettings`.

Planning, fields and rendering read their numbers from it, never from constants of their own.
Its defaults are the tuned generator, the tree we always wrote; :func:`tuned_settings` applies
a :class:`Character` to them, and :mod:`.draws` draws whole other generators.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from cropland.data.layout import CLASSES
from cropland.data.synthetic.character import Character
from cropland.data.synthetic.covers import MEAN_PHENOLOGY, PHENOLOGY, phenology_table
from cropland.data.synthetic.planning import CLASS_WEIGHTS

# The month sets DATASET.md lists with their share of points (74% in all).
COMMON_MONTH_SETS: tuple[tuple[tuple[int, ...], float], ...] = (
    ((6, 7, 8, 9, 10), 0.26),
    ((7, 8, 9, 10), 0.12),
    ((7, 8, 9), 0.11),
    ((8, 9, 10), 0.07),
    ((6, 7, 8, 10), 0.06),
    ((6, 7, 9, 10), 0.06),
    ((7, 8, 10), 0.06),
)
# The other 26% draw each month independently, redrawing empty or listed sets. These
# probabilities were solved numerically so the overall month shares come out at the real
# June 49%, July 83%, August 82%, September 78%, October 77%; then 11% of points hold 1-2 images.
OTHER_MONTH_PROBABILITY = (0.34, 0.83, 0.83, 0.75, 0.79)


def tuned_phenology(separability: float = 1.0) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Every class's (covers, months) shares of :data:`covers.PHENOLOGY`, pulled toward the mean
    of all classes by ``1 - separability`` (:class:`Character`)."""
    s = separability
    return {
        crop: tuple(map(tuple, (s * phenology_table(PHENOLOGY[crop]) + (1 - s) * MEAN_PHENOLOGY)))
        for crop in CLASSES
    }


@dataclass(frozen=True)
class GeneratorSettings:
    """What a synthetic generator does apart from its seed; JSON-able (tuples become lists).

    * ``phenology``: per class, the share of each cover (:data:`covers.COVERS` order) in each
      month (:data:`layout.MONTHS`); soil fills the rest.
    * ``field_half_size``: range of the point's field's half sides, in pixels;
      ``field_centre_offset``: how far (pixels, along either axis) its centre may be from the
      patch centre; ``field_edge_wobble``: amplitude, in pixels, of a smooth wobble of its edges
      (0: a straight-edged rectangle); ``verge_width``: range of the verge's width, in pixels.
    * ``neighbour_count_weights``: probability of 0, 1, 2, 3 neighbouring fields in a patch
      (with none, the verge's grass surrounds the field); ``neighbour_class_weights``: relative
      weights of their classes, in ``CLASSES`` order; ``neighbour_same_class``: probability that a
      neighbour grows the point's crop instead.
    * ``texture_strength``: multiplier of the class textures' amplitude; ``pixel_noise``:
      multiplier of the per-pixel sensor noise.
    * ``haze_probability``, ``cloud_probability``: per image; ``cloud_gaps``: probability that a
      month with an image loses it (one is always kept).
    * ``common_month_sets``: the common month sets and the share of points with each;
      ``other_month_probability``: June..October, for the other points, month by month.
    * ``phenology_shift``: standard deviation, in months, of a season shift per province.
    """

    phenology: dict[str, tuple[tuple[float, ...], ...]] = field(default_factory=tuned_phenology)
    field_half_size: tuple[float, float] = (20.0, 45.0)
    field_centre_offset: float = 8.0
    field_edge_wobble: float = 0.0
    verge_width: tuple[float, float] = (1.0, 2.0)
    neighbour_count_weights: tuple[float, ...] = (0.0, 0.0, 1.0, 0.0)
    neighbour_class_weights: tuple[float, ...] = tuple(CLASS_WEIGHTS.tolist())
    neighbour_same_class: float = 0.0
    texture_strength: float = 1.0
    pixel_noise: float = 1.0
    # Clouds were removed by hand from the real tree, but not all.
    haze_probability: float = 0.10
    cloud_probability: float = 0.04
    cloud_gaps: float = 0.0
    common_month_sets: tuple[tuple[tuple[int, ...], float], ...] = COMMON_MONTH_SETS
    other_month_probability: tuple[float, ...] = OTHER_MONTH_PROBABILITY
    phenology_shift: float = 0.0

    @functools.cached_property
    def phenology_tables(self) -> dict[str, np.ndarray]:
        """``phenology`` as arrays, made once per generator rather than once per field."""
        return {crop: np.array(table) for crop, table in self.phenology.items()}


def tuned_settings(character: Character | None = None) -> GeneratorSettings:
    """The tuned generator, made harder by ``character`` (default: as tuned)."""
    character = character or Character()
    return GeneratorSettings(
        phenology=tuned_phenology(character.separability),
        texture_strength=character.noise,
        pixel_noise=character.noise,
        cloud_gaps=character.cloud_gaps,
        phenology_shift=character.phenology_shift,
    )
