"""The file name that tells synthetic datasets apart.

``conf/data/synthetic*.yaml`` build their default paths the same way;
:func:`~.prepared_default.ensure_synthetic_file` checks the name with this function before
it generates anything.
"""

from __future__ import annotations

from cropland.data.synthetic.character import Character
from cropland.data.synthetic.draws import check_draw


def synthetic_file_name(
    num_points: int = 1000,
    seed: int = 0,
    cloud_gaps: float = 0.0,
    separability: float = 1.0,
    noise: float = 1.0,
    phenology_shift: float = 0.0,
    draw: int | None = None,
    **_: object,
) -> str:
    """The prepared file name of a synthetic dataset: the settings that change its content are
    in the name, the character as :meth:`Character.suffix` writes it, a draw as ``_draw<k>``."""
    character = Character(cloud_gaps, separability, noise, phenology_shift)
    check_draw(draw, character)
    suffix = character.suffix() if draw is None else f"_draw{draw}"
    return f"synthetic_ca19_n{num_points}_seed{seed}{suffix}.h5"
