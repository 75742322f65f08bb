"""Channel selection: which sensors of a prepared file a model sees, and in what order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cropland.data.layout import CHANNELS, SENSOR_CHANNELS, SENSORS
from cropland.errors import CroplandError


def parse_sensors(channels: str | Sequence[str]) -> list[str]:
    """``"rgb_ndvi45_gndvi"``, ``"all"`` or ``["rgb", "ndvi"]`` -> sensor folder names."""
    if isinstance(channels, str):
        names = list(SENSORS) if channels.lower() == "all" else channels.split("_")
    else:
        names = list(channels)
    valid = {s.lower(): s for s in SENSORS}
    unknown = [n for n in names if str(n).lower() not in valid]
    if unknown or not names:
        raise CroplandError(
            f"data.channels={channels!r}: unknown sensor {unknown or names}; valid names are "
            f"{', '.join(valid)} (join them with '_', e.g. rgb_ndvi45_gndvi) or 'all'"
        )
    sensors = [valid[str(n).lower()] for n in names]
    if len(set(sensors)) != len(sensors):
        raise CroplandError(f"data.channels={channels!r} names a sensor twice")
    return sensors


def channel_names(sensors: Sequence[str]) -> list[str]:
    return [c for s in sensors for c in SENSOR_CHANNELS[s]]


def channel_indices(sensors: Sequence[str], available: Sequence[str]) -> list[int]:
    """Positions of the sensors' channels in a file whose channels are ``available``."""
    wanted = channel_names(sensors)
    missing = [c for c in wanted if c not in available]
    if missing:
        raise CroplandError(
            f"channels {missing} are not in the data file (it holds {list(available)})"
        )
    return [list(available).index(c) for c in wanted]


def sensors_of_channels(channels: Sequence[str]) -> list[str]:
    """The sensors whose channels are exactly ``channels``, in order (a model's input).

    ``["red", "green", "blue", "ndvi45"]`` -> ``["RGB", "NDVI45"]``.
    """
    sensors: list[str] = []
    position = 0
    names = list(channels)
    while position < len(names):
        sensor = next(
            (
                s
                for s in SENSORS
                if tuple(names[position : position + len(SENSOR_CHANNELS[s])]) == SENSOR_CHANNELS[s]
            ),
            None,
        )
        if sensor is None:
            raise CroplandError(
                f"channels {names} do not split into whole sensors ({', '.join(SENSORS)}) "
                f"at {names[position]!r}"
            )
        sensors.append(sensor)
        position += len(SENSOR_CHANNELS[sensor])
    return sensors


def channel_names_problem(names: Any) -> str | None:
    """Why ``names`` (a model's input channels, read from a file someone else made) cannot be
    used, in a few words; None when it can: a list of distinct names of :data:`CHANNELS` that
    split into whole sensors (what a DataModule loads)."""
    if isinstance(names, str) or not isinstance(names, list | tuple):
        return f"a {type(names).__name__}, expected a list of channel names"
    if not 1 <= len(names) <= len(CHANNELS):
        return f"{len(names)} channel names, expected 1 to {len(CHANNELS)}"
    for index, name in enumerate(names):
        if not isinstance(name, str) or name not in CHANNELS:
            return f"entry {index} ({name!r:.40}) is not one of {', '.join(CHANNELS)}"
        if name in names[:index]:
            return f"entry {index} ({name!r}) repeats an earlier channel"
    try:
        sensors_of_channels(names)
    except CroplandError as error:
        return str(error)
    return None
