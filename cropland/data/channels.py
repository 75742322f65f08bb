"""Channel selection: which sensors of a prepared file a model sees, and in what order."""

from __future__ import annotations

from collections.abc import Sequence

from cropland.data.layout import SENSOR_CHANNELS, SENSORS
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
