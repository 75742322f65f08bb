"""The file name that tells synthetic datasets apart, and the config resolver that writes it.

``conf/data/synthetic.yaml`` names its file ``${synthetic_file_name:${.synthetic}}``, so any
``data.synthetic`` settings (a draw, a character) get their own file without a path of the
user's; the DataModule checks the name with the same function before it generates anything.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from cropland.data.synthetic.character import Character
from cropland.data.synthetic.draws import check_draw
from cropland.errors import CroplandError

# What the resolver names a file whose settings are refused: the DataModule then refuses them
# in one line. Raised inside the resolver, the error would reach the user as a traceback,
# because OmegaConf drops its cause.
REFUSED_SETTINGS_NAME = "synthetic_settings_refused.h5"


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


def _file_name_of(settings: DictConfig) -> str:
    try:
        return synthetic_file_name(**OmegaConf.to_container(settings, resolve=True))
    except CroplandError:
        return REFUSED_SETTINGS_NAME


def register_synthetic_resolver() -> None:
    """Make ``${synthetic_file_name:<data.synthetic node>}`` known to OmegaConf."""
    OmegaConf.register_new_resolver("synthetic_file_name", _file_name_of, replace=True)
