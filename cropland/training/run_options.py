"""How a network runs in training beside its precision: memory format and torch.compile.

These say how to run a network, not what it is: they are not saved with its weights, and a
checkpoint trained with them loads and predicts the same without. Which pays depends on the
network and the hardware (``benchmarks/convlstm.py`` lists every model both ways), so each
``conf/model/<name>.yaml`` sets its own:

- ``channels_last``: the 2-D convolutions' weights in channels_last memory format, which makes
  oneDNN (CPU) and cuDNN (GPU) pick channels-last kernels without padding few channels to
  blocks of 16. On the CPUs this project was measured on it pays for ``single_date``; it
  slows the L-TAE, the ConvLSTM and, in bf16, the LRCN.
- ``compile``: ``torch.compile`` of the network in place (``nn.Module.compile``, so the
  checkpoint's parameter names do not change). Compiling takes tens of seconds to minutes
  before the first step: it pays on long runs, not on the one-minute default run.
"""

from __future__ import annotations

import os
import shutil

from cropland.errors import CroplandError


def check_switch(value: object, key: str) -> bool:
    """``value`` as a bool, or one line naming ``key``: a switch must be true or false."""
    if not isinstance(value, bool):
        raise CroplandError(f"{key}={value!r}: expected true or false, e.g. {key}=true")
    return value


# What torch.compile's CPU backend (inductor) builds its kernels with, when $CXX names none.
CPU_COMPILERS = ("g++", "clang++", "c++")


def check_cpu_compiler() -> None:
    """torch.compile on the CPU writes C++ and compiles it at the first step; without a
    compiler it fails there, deep inside inductor. Say it before training starts."""
    if os.environ.get("CXX") or any(shutil.which(name) for name in CPU_COMPILERS):
        return
    raise CroplandError(
        "model.compile=true: torch.compile on the CPU needs a C++ compiler (g++ or clang++; "
        "none on PATH, $CXX unset): install one (e.g. apt install g++) or set "
        "model.compile=false"
    )
