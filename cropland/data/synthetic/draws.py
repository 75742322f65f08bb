"""A family of synthetic generators: a draw (an integer) picks one at random from wide priors.

A recipe tuned on the one tuned generator may fit its quirks; every draw has its own phenology,
field layout, textures, noise, atmosphere and month availability, so no recipe can be tuned to
all of them. ``draw=None`` is the tuned generator, byte for byte. The priors are the constants
below, each with why its range; :func:`draw_settings` turns a draw into
:class:`GeneratorSettings`, and the tree's summary records what was drawn.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from cropland.data.layout import CLASSES
from cropland.data.synthetic.character import Character
from cropland.data.synthetic.covers import COVERS
from cropland.data.synthetic.settings import (
    COMMON_MONTH_SETS,
    OTHER_MONTH_PROBABILITY,
    GeneratorSettings,
    tuned_phenology,
    tuned_settings,
)
from cropland.errors import CroplandError

# Seeds a draw's generator with the draw, apart from the tree's seed streams ([seed, k]).
DRAW_TAG = 7_719_031

# --- phenology: today's curves moved in time and scaled, per class ---------------------------
CEREALS = ("BARLEY", "OAT", "SPRING_WHEAT")
# Spring cereals are sown within days of each other; a year's spring moves them together by up
# to about two weeks either way, which keeps their green peak in July and ripening in August.
CEREAL_TIMING = 0.4  # months, one shift for all cereals, uniform in +-
CEREAL_OWN_TIMING = 0.15  # months, each cereal's own shift on top: they stay close
# Canola, corn, soybean and potato are sown at other dates and by other farmers; each moves on
# its own, but by less than half a month, so canola still flowers mid season and corn and
# soybean stay late.
CROP_TIMING = 0.4
# Grass, trees and orchards green up with the weather, not a sowing date: a smaller shift.
PERENNIAL_TIMING = 0.25
PERENNIALS = ("PASTURE", "MIXEDWOOD", "ORCHARD")
# Canopy (green, flowers) and straw amounts vary with soil and rain by a fifth or so between
# regions and years; cereals share one factor, with a little of their own.
CANOPY_AMPLITUDE = (0.8, 1.15)
CEREAL_OWN_AMPLITUDE = 0.05
DRY_AMPLITUDE = (0.8, 1.2)
# How distinct the classes are: every class pulled toward their mean by 1 - contrast. Below 0.5
# the cereals and the late crops would nearly merge; 1 is as distinct as tuned.
CLASS_CONTRAST = (0.5, 1.0)

# --- the point's field and its neighbours ---------------------------------------------------
# Small eastern fields cover a fraction of a 65-pixel patch, prairie ones all of it: the lower
# end of the half sides, then how much larger the upper end is.
FIELD_HALF_SIZE_LOW = (12.0, 24.0)
FIELD_HALF_SIZE_SPAN = (8.0, 24.0)
# The point lies in the field, not always at its centre.
FIELD_CENTRE_OFFSET = (2.0, 16.0)
# Straight surveyed edges on the prairies, curved ones along rivers and woods.
FIELD_EDGE_WOBBLE = (0.0, 3.0)
# A ditch and grass strip of half a pixel to three pixels (5-30 m).
VERGE_WIDTH_LOW = (0.5, 1.5)
VERGE_WIDTH_SPAN = (0.3, 1.5)
# Patches with 0..3 neighbouring fields, in proportions drawn flat (Dirichlet(1, 1, 1, 1)).
NEIGHBOUR_COUNT_CONCENTRATION = 1.0
# Neighbours' classes around the real balance: Dirichlet with this many pseudo-points, so a
# region may grow more of one crop.
NEIGHBOUR_CLASS_CONCENTRATION = 20.0
# Farms grow one crop over several fields: up to half the neighbours grow the point's crop.
NEIGHBOUR_SAME_CLASS = (0.0, 0.5)

# --- texture, noise, atmosphere --------------------------------------------------------------
# Log-uniform: fields half as mottled as tuned to twice as much.
TEXTURE_STRENGTH = (0.5, 2.0)
# Log-uniform: from a clean sensor to three times the tuned noise (low sun, hazy L1C).
PIXEL_NOISE = (0.5, 3.0)
# Per image: the real tree's hand cleaning left from little to much haze and some clouds.
HAZE_PROBABILITY = (0.02, 0.3)
CLOUD_PROBABILITY = (0.0, 0.12)
# Months lost to clouds on top of the real month sets: none to a third.
CLOUD_GAPS = (0.0, 0.35)

# --- month availability and seasons by province ----------------------------------------------
# The shares of the common month sets and of the rest: Dirichlet around the real ones with this
# many pseudo-points, so some draws have more full seasons and some fewer.
MONTH_MIX_CONCENTRATION = 30.0
# Each other-month probability scaled by this factor (then kept in [0.05, 0.95]).
OTHER_MONTH_SCALE = (0.75, 1.15)
# Provinces span 20 degrees of latitude: a season up to a month apart between them.
PHENOLOGY_SHIFT = (0.0, 1.0)

# Drawn values are rounded so the summary shows exactly what generated the tree.
DIGITS = 4


def check_draw(draw: object, character: Character | None = None) -> None:
    """Refuse a draw that is not a non-negative whole number, or one given with a character."""
    if draw is None:
        return
    if isinstance(draw, bool) or not isinstance(draw, int) or draw < 0:
        raise CroplandError(
            f"draw must be a non-negative whole number (which generator of the family), or "
            f"null for the tuned one; got {draw!r}"
        )
    if character is not None and character != Character():
        default = asdict(Character())
        given = ", ".join(f"{k}={v}" for k, v in asdict(character).items() if v != default[k])
        raise CroplandError(
            f"draw={draw} draws its own character, so {given} cannot be set with it; leave "
            "the character settings out, or set draw=null to use them"
        )


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(rng.uniform(*bounds)), DIGITS)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    return round(float(np.exp(rng.uniform(*np.log(bounds)))), DIGITS)


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    return tuple(round(float(v), DIGITS) for v in values)


def _shifted(table: np.ndarray, months: float) -> np.ndarray:
    """``table``'s curves ``months`` later (earlier if negative), held flat beyond its ends."""
    grid = np.arange(table.shape[1], dtype=float)
    return np.array([np.interp(grid - months, grid, row) for row in table])


def draw_phenology(rng: np.random.Generator) -> dict[str, tuple[tuple[float, ...], ...]]:
    """Every class's monthly cover shares: the tuned ones shifted, scaled and pulled together."""
    tuned = {crop: np.array(table) for crop, table in tuned_phenology().items()}
    cereal_timing = rng.uniform(-CEREAL_TIMING, CEREAL_TIMING)
    cereal_amplitude = rng.uniform(*CANOPY_AMPLITUDE)
    canopy = [COVERS.index("green"), COVERS.index("flower")]
    dry = COVERS.index("dry")
    drawn = {}
    for crop in CLASSES:
        if crop in CEREALS:
            timing = cereal_timing + rng.uniform(-CEREAL_OWN_TIMING, CEREAL_OWN_TIMING)
            amplitude = cereal_amplitude + rng.uniform(-CEREAL_OWN_AMPLITUDE, CEREAL_OWN_AMPLITUDE)
        else:
            limit = PERENNIAL_TIMING if crop in PERENNIALS else CROP_TIMING
            timing = rng.uniform(-limit, limit)
            amplitude = rng.uniform(*CANOPY_AMPLITUDE)
        table = _shifted(tuned[crop], timing)
        table[canopy] *= amplitude
        table[dry] *= rng.uniform(*DRY_AMPLITUDE)
        drawn[crop] = table
    contrast = rng.uniform(*CLASS_CONTRAST)
    mean = np.mean(list(drawn.values()), axis=0)
    phenology = {}
    for crop, table in drawn.items():
        table = np.clip(contrast * table + (1 - contrast) * mean, 0, 1)
        # Covers share a pixel: scaled up, they may not claim more than all of it.
        table = table / np.maximum(table.sum(axis=0), 1.0)
        phenology[crop] = tuple(_rounded(row) for row in np.floor(table * 10**DIGITS) / 10**DIGITS)
    return phenology


def _month_mix(rng: np.random.Generator) -> tuple[tuple, tuple[float, ...]]:
    shares = np.array([share for _, share in COMMON_MONTH_SETS])
    mix = rng.dirichlet(MONTH_MIX_CONCENTRATION * np.append(shares, 1 - shares.sum()))
    common = tuple(
        (months, round(float(s), DIGITS))
        for (months, _), s in zip(COMMON_MONTH_SETS, mix[:-1], strict=True)
    )
    scale = rng.uniform(*OTHER_MONTH_SCALE, size=len(OTHER_MONTH_PROBABILITY))
    other = _rounded(np.clip(np.array(OTHER_MONTH_PROBABILITY) * scale, 0.05, 0.95))
    return common, other


def draw_settings(draw: int) -> GeneratorSettings:
    """The generator of draw ``draw``: every setting picked from the priors of this module."""
    check_draw(draw)
    rng = np.random.default_rng([DRAW_TAG, draw])
    phenology = draw_phenology(rng)
    low = _uniform(rng, FIELD_HALF_SIZE_LOW)
    verge_low = _uniform(rng, VERGE_WIDTH_LOW)
    tuned = tuned_settings()
    counts = rng.dirichlet(np.full(4, NEIGHBOUR_COUNT_CONCENTRATION))
    classes = np.array(tuned.neighbour_class_weights)
    classes = rng.dirichlet(NEIGHBOUR_CLASS_CONCENTRATION * classes / classes.sum())
    common_month_sets, other_month_probability = _month_mix(rng)
    return GeneratorSettings(
        phenology=phenology,
        field_half_size=(low, round(low + _uniform(rng, FIELD_HALF_SIZE_SPAN), DIGITS)),
        field_centre_offset=_uniform(rng, FIELD_CENTRE_OFFSET),
        field_edge_wobble=_uniform(rng, FIELD_EDGE_WOBBLE),
        verge_width=(verge_low, round(verge_low + _uniform(rng, VERGE_WIDTH_SPAN), DIGITS)),
        # Rounded weights no longer sum to exactly 1; the generator normalizes them.
        neighbour_count_weights=_rounded(counts),
        neighbour_class_weights=_rounded(classes),
        neighbour_same_class=_uniform(rng, NEIGHBOUR_SAME_CLASS),
        texture_strength=_log_uniform(rng, TEXTURE_STRENGTH),
        pixel_noise=_log_uniform(rng, PIXEL_NOISE),
        haze_probability=_uniform(rng, HAZE_PROBABILITY),
        cloud_probability=_uniform(rng, CLOUD_PROBABILITY),
        cloud_gaps=_uniform(rng, CLOUD_GAPS),
        common_month_sets=common_month_sets,
        other_month_probability=other_month_probability,
        phenology_shift=_uniform(rng, PHENOLOGY_SHIFT),
    )


def generator_settings(draw: int | None, character: Character) -> GeneratorSettings:
    """The settings of a tree: drawn for ``draw``, else the tuned ones with ``character``."""
    check_draw(draw, character)
    return tuned_settings(character) if draw is None else draw_settings(draw)
