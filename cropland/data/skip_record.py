"""What a reader left out of a source, or read with a remark: one record type for each.

Every reader (:mod:`cropland.data.png_tree`, :mod:`cropland.data.published_hdf5`) and
preparation itself (:mod:`cropland.data.prepare`) report with these, so that the summary lists
files and rows alike. ``source`` names the file, row or image as the user sees it (a path, or
``<file>[row 17]/NDVI``); ``reason`` is a short key to count by; ``detail`` says what was wrong
and, where it can, what to do.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Skipped:
    """A file, row or image left out of the prepared file."""

    source: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something odd about a file that was read all the same (e.g. ``extension_case``)."""

    source: str
    reason: str
    detail: str
