"""Land covers: their spectra, and the share of each cover per month for every class.

Every pixel is a linear mix of these covers and soil in the Sentinel-2 bands B2, B3, B4, B5,
B6, B8; the RGB image and all five indices are computed from the same bands, so they agree
with each other the way real ones do.
"""

from __future__ import annotations

import numpy as np

from cropland.data.layout import CLASSES, MONTHS

# Surface reflectance of each cover in the bands B2, B3, B4, B5, B6, B8 (typical values from
# spectral libraries, rounded). Soil is separate: every field scales it by its own brightness.
COVERS = ("green", "dry", "flower", "conifer", "autumn")
SPECTRA = np.array(
    [
        [0.030, 0.075, 0.035, 0.120, 0.330, 0.420],  # green leaves
        [0.075, 0.105, 0.130, 0.165, 0.215, 0.260],  # dry straw, stubble, senescent leaves
        [0.040, 0.150, 0.120, 0.230, 0.330, 0.380],  # yellow canola flowers
        [0.020, 0.040, 0.022, 0.070, 0.190, 0.240],  # conifer crowns
        [0.035, 0.070, 0.090, 0.170, 0.250, 0.300],  # deciduous leaves in autumn colours
    ]
)
SOIL = np.array([0.065, 0.100, 0.150, 0.180, 0.220, 0.280])

# Share of each cover in mid June, July, August, September, October; soil fills the rest.
# Cereals ripen and are cut in August, canola flowers in July, corn peaks late, soybean turns
# yellow in September, potato vines are killed in September and dug by October.
PHENOLOGY: dict[str, dict[str, tuple[float, ...]]] = {
    "BARLEY": {"green": (0.50, 0.80, 0.30, 0.05, 0.05), "dry": (0.05, 0.12, 0.55, 0.50, 0.40)},
    "OAT": {"green": (0.42, 0.82, 0.45, 0.08, 0.06), "dry": (0.04, 0.10, 0.45, 0.55, 0.40)},
    "SPRING_WHEAT": {
        "green": (0.45, 0.84, 0.38, 0.06, 0.05),
        "dry": (0.05, 0.10, 0.52, 0.52, 0.40),
    },
    "CANOLA": {
        "green": (0.40, 0.40, 0.70, 0.20, 0.05),
        "flower": (0.02, 0.45, 0.05, 0.00, 0.00),
        "dry": (0.02, 0.05, 0.15, 0.55, 0.40),
    },
    "CORN": {"green": (0.05, 0.40, 0.90, 0.85, 0.35), "dry": (0.02, 0.02, 0.02, 0.08, 0.50)},
    "SOYBEAN": {"green": (0.05, 0.30, 0.85, 0.35, 0.02), "dry": (0.02, 0.02, 0.03, 0.50, 0.25)},
    "POTATO": {"green": (0.30, 0.80, 0.80, 0.15, 0.02), "dry": (0.03, 0.03, 0.15, 0.45, 0.05)},
    "PASTURE": {"green": (0.70, 0.68, 0.60, 0.60, 0.50), "dry": (0.15, 0.18, 0.25, 0.25, 0.30)},
    "MIXEDWOOD": {
        "conifer": (0.45, 0.45, 0.45, 0.45, 0.45),
        "green": (0.50, 0.50, 0.50, 0.45, 0.20),
        "autumn": (0.00, 0.00, 0.00, 0.05, 0.30),
    },
    "ORCHARD": {"green": (0.60, 0.65, 0.65, 0.60, 0.45), "dry": (0.12, 0.12, 0.15, 0.15, 0.25)},
}
# The grass verge, tracks and ditches along field edges.
VERGE_PHENOLOGY = {"green": (0.45,) * 5, "dry": (0.30,) * 5}


def phenology_table(shares: dict[str, tuple[float, ...]]) -> np.ndarray:
    """``shares`` as a (covers, months) array, in :data:`COVERS` order; absent covers are 0."""
    table = np.zeros((len(COVERS), len(MONTHS)))
    for cover, values in shares.items():
        table[COVERS.index(cover)] = values
    return table


# What ``separability`` pulls every class toward.
MEAN_PHENOLOGY = np.mean([phenology_table(PHENOLOGY[c]) for c in CLASSES], axis=0)
