"""bf16 hardware per device, the bf16 warning and the precision line of a run."""

import logging
from types import SimpleNamespace

import pytest

from sensegen import lstm
from sensegen import precision

_ZEN3 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n"
_ZEN4 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 avx512_vnni\n"
_ARM = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
_CPU = SimpleNamespace(platform="cpu")


@pytest.mark.parametrize("cpuinfo, expected", [(_ZEN3, False), (_ZEN4, True), (_ARM, True)])
def test_cpu_bf16_hardware_from_cpuinfo_flags(cpuinfo, expected):
  assert precision.device_has_bf16(_CPU, cpuinfo) is expected


def test_unreadable_cpuinfo_is_unknown():
  assert precision.device_has_bf16(_CPU, "") is None


@pytest.mark.parametrize(
  "device, expected",
  [
    (SimpleNamespace(platform="gpu", compute_capability="8.0"), True),
    (SimpleNamespace(platform="gpu", compute_capability="12.0"), True),
    (SimpleNamespace(platform="gpu", compute_capability="7.5"), False),
    (SimpleNamespace(platform="gpu"), None),  # e.g. ROCm: not known here
    (SimpleNamespace(platform="tpu"), True),
  ],
)
def test_accelerator_bf16_hardware(device, expected):
  assert precision.device_has_bf16(device, "") is expected


def test_bf16_warns_only_where_the_hardware_is_known_to_be_missing():
  assert "slower than float32" in precision.bf16_warning("bf16", False)
  assert precision.bf16_warning("bf16", True) is None
  assert precision.bf16_warning("bf16", None) is None
  assert precision.bf16_warning("fused", False) is None


def test_every_impl_names_its_precision():
  assert set(precision.PRECISIONS) == set(lstm.IMPLS)


def test_log_says_the_precision_in_one_line_and_warns_for_bf16_without_hardware(caplog):
  caplog.set_level(logging.INFO)
  precision.log("fused", _CPU, _ZEN3)
  assert [r.getMessage() for r in caplog.records] == ["precision: float32 (lstm_impl=fused)"]
  caplog.clear()
  precision.log("bf16", _CPU, _ZEN3)
  info, warning = caplog.records
  assert info.getMessage() == (
    "precision: bfloat16 matmul inputs, float32 accumulation (lstm_impl=bf16)"
  )
  assert warning.levelno == logging.WARNING and "\n" not in warning.getMessage()
  assert warning.getMessage().startswith("--lstm_impl=bf16: this device has no bf16 hardware")
  caplog.clear()
  precision.log("bf16", _CPU, _ZEN4)
  assert len(caplog.records) == 1
