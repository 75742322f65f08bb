"""16-bit colour PNGs, which Pillow cannot write, for the tests that they are refused."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def png_16_bit_rgb(pixels: np.ndarray, alpha: bool = False) -> bytes:
    """A 16-bit RGB(A) PNG whose high bytes are the 8-bit ``pixels`` (65, 65, 3), with low
    bytes that matter. Pillow cannot write 16-bit colour PNGs, so the chunks are written by
    hand; Pillow reads them as 8-bit RGB(A), keeping the high bytes."""
    low = np.arange(pixels.size).reshape(pixels.shape) % 251
    values = pixels.astype(">u2") * 256 + low
    if alpha:
        values = np.concatenate([values, np.full((*values.shape[:2], 1), 65535, ">u2")], axis=2)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    height, width = pixels.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 16, 6 if alpha else 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
