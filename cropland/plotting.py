"""pyplot for every module that draws, on matplotlib's file-only Agg backend, chosen here once.

Every figure cropland makes is written to a file or to TensorBoard, never shown on a screen, so
a machine without a display (a cluster node, CI) must never need one.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

__all__ = ["plt"]
