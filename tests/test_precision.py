"""The training precision follows the hardware: bf16 mixed only where bf16 is native, never
where it would be emulated (about 50x slower than fp32); a setting always wins."""

import pytest
import torch

from cropland import precision
from cropland.precision import BF16, FP32, cpu_flags, default_precision, native_bf16
from tests.hydra_configs import compose_config
from tests.script_runs import TINY_TRAINING, call_script

AVX2_ONLY = frozenset({"fpu", "sse2", "avx", "avx2", "fma"})
AVX512_BF16 = AVX2_ONLY | {"avx512f", "avx512_bf16"}
SAPPHIRE_RAPIDS = AVX2_ONLY | {"avx512f", "amx_tile", "amx_bf16"}


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\nbugs\t\t: none\n")
    assert cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "absent") == frozenset()


@pytest.mark.parametrize(
    ("flags", "native"), [(AVX2_ONLY, False), (AVX512_BF16, True), (SAPPHIRE_RAPIDS, True)]
)
def test_bf16_counts_as_native_on_a_cpu_only_with_its_instructions(flags, native):
    assert native_bf16("cpu", flags) is native


def test_emulated_bf16_is_never_chosen(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX2_ONLY)
    assert default_precision("cpu") == FP32
    # "auto" is the CPU where there is no CUDA, and a CUDA GPU answers for itself.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert default_precision("auto") == FP32
    assert default_precision("mps") == FP32  # never assumed for an accelerator we cannot ask
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX512_BF16)
    assert default_precision("cpu") == BF16


def test_trainer_configs_ask_the_hardware_unless_precision_is_set(monkeypatch):
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX2_ONLY)
    assert compose_config("train", "trainer=cpu").trainer.precision == FP32
    monkeypatch.setattr(precision, "cpu_flags", lambda: AVX512_BF16)
    assert compose_config("train", "trainer=cpu").trainer.precision == BF16
    assert (
        compose_config("train", "trainer=ddp", "trainer.accelerator=cpu").trainer.precision == BF16
    )
    assert (
        compose_config("train", "trainer=cpu", "trainer.precision=32-true").trainer.precision
        == FP32
    )


def test_a_run_says_which_precision_it_uses_and_why(prepared_file, tmp_path):
    # Everything of the tiny run but its precision, which the tests otherwise fix.
    tiny = [o for o in TINY_TRAINING if not o.startswith("trainer.precision=")]
    common = [*tiny, f"data.path={prepared_file}", "test=false"]
    result = call_script(
        "train.py", *common, f"hydra.run.dir={tmp_path / 'given'}", "trainer.precision=32-true"
    )
    assert result.returncode == 0, result.stderr
    assert "Precision 32-true: set by trainer.precision" in result.stdout + result.stderr
    result = call_script("train.py", *common, f"hydra.run.dir={tmp_path / 'chosen'}")
    assert result.returncode == 0, result.stderr
    expected = default_precision("cpu")
    assert f"Precision {expected}: bf16 is " in result.stdout + result.stderr
