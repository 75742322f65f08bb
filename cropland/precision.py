"""The training precision a machine should use: bf16 mixed precision only where bf16 is native.

On CPUs with AVX512-BF16 or AMX, and on CUDA GPUs that compute in bf16, bf16 convolutions run
faster than fp32. Elsewhere PyTorch emulates bf16, many times slower than fp32, so a machine that
cannot say it has bf16 gets fp32.
``conf/trainer/*.yaml`` ask for ``${default_precision:<accelerator>}``; a ``trainer.precision``
given anywhere else (command line, experiment) wins.
"""

from __future__ import annotations

from pathlib import Path

BF16 = "bf16-mixed"
FP32 = "32-true"

# CPU flags (Linux /proc/cpuinfo names) of instructions that compute in bf16.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first CPU's flags; empty where /proc/cpuinfo does not exist (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def native_bf16(accelerator: str, flags: frozenset[str] | None = None) -> bool:
    """Whether ``accelerator`` (Lightning's name: cpu, gpu, cuda, auto, ...) computes bf16 in
    hardware here. Unknown accelerators (mps, tpu, ...) are never assumed to."""
    import torch  # here, not at import: the package is imported by scripts that never train

    accelerator = resolved_accelerator(accelerator)
    if accelerator in ("gpu", "cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if accelerator == "cpu":
        flags = cpu_flags() if flags is None else flags
        return bool(flags & BF16_CPU_FLAGS) and torch.backends.mkldnn.is_available()
    return False


def resolved_accelerator(accelerator: str) -> str:
    """``auto`` as Lightning resolves it for us (a CUDA GPU if there is one, else the CPU)."""
    import torch

    if str(accelerator) != "auto":
        return str(accelerator)
    return "gpu" if torch.cuda.is_available() else "cpu"


def default_precision(accelerator: str) -> str:
    """``bf16-mixed`` where bf16 is native for ``accelerator``, ``32-true`` elsewhere."""
    return BF16 if native_bf16(accelerator) else FP32


def why_precision(precision: str, accelerator: str, chosen_by_default: bool) -> str:
    """One line for the log: the precision a run uses and what chose it."""
    accelerator = resolved_accelerator(accelerator)
    if not chosen_by_default:
        return f"Precision {precision}: set by trainer.precision"
    if precision == BF16:
        return (
            f"Precision {precision}: bf16 is native on this {accelerator} "
            "(trainer.precision=32-true for full precision)"
        )
    return (
        f"Precision {precision}: bf16 is not native on this {accelerator} (it would be emulated, "
        "far slower); trainer.precision=bf16-mixed to force it"
    )
