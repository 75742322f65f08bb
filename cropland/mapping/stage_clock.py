"""Seconds a map run spends in each stage, recorded in its sidecar: where the time of a long
run goes (reading rasters, encoding windows, the model, blending, writing)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

STAGES = ("read", "preprocess", "model", "blend", "write")


class StageClock:
    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - start

    def timed(self, name: str, items: Iterator) -> Iterator:
        """The items of ``items``, the time spent making each counted in ``name``."""
        while True:
            with self.stage(name):
                item = next(items, StopIteration)
            if item is StopIteration:
                return
            yield item

    def as_record(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}
