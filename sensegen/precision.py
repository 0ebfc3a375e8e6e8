"""The precision a run trains in, and whether its device has bfloat16 hardware.

`--lstm_impl=bf16` feeds the LSTM matmuls bfloat16 inputs (float32 accumulation): faster
where the hardware multiplies bf16 natively, slower than float32 where it does not (XLA
then converts and emulates).
"""

import logging
from typing import Optional

__all__ = ["BF16_CPU_FLAGS", "PRECISIONS", "bf16_warning", "cpu_flags", "device_has_bf16", "log"]

# x86 flags of /proc/cpuinfo for bf16 arithmetic; aarch64 lists "bf16" among its Features.
BF16_CPU_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})
# What each `lstm.IMPLS` entry computes in.
PRECISIONS = {
  "scan": "float32",
  "fused": "float32",
  "bf16": "bfloat16 matmul inputs, float32 accumulation",
}


def cpu_flags(cpuinfo: str) -> frozenset:
  """The feature flags of the first CPU in a /proc/cpuinfo text ("flags" on x86,
  "Features" on aarch64)."""
  for line in cpuinfo.splitlines():
    key, _, value = line.partition(":")
    if key.strip() in ("flags", "Features"):
      return frozenset(value.split())
  return frozenset()


def _read_cpuinfo(path: str = "/proc/cpuinfo") -> str:
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return f.read()
  except OSError:
    return ""


def device_has_bf16(device, cpuinfo: Optional[str] = None) -> Optional[bool]:
  """Whether a JAX device multiplies bf16 in hardware; None when unknown.

  CPU: a bf16 flag in `cpuinfo` (default: /proc/cpuinfo). CUDA GPU: compute capability
  >= 8 (Ampere and later). TPU: always.
  """
  if device.platform == "cpu":
    flags = cpu_flags(_read_cpuinfo() if cpuinfo is None else cpuinfo)
    return bool(flags & BF16_CPU_FLAGS) if flags else None
  if device.platform == "tpu":
    return True
  capability = getattr(device, "compute_capability", None)  # CUDA: "major.minor"
  return int(capability.split(".")[0]) >= 8 if capability else None


def bf16_warning(impl: str, has_bf16: Optional[bool]) -> Optional[str]:
  """The one-line warning for bf16 on a device known to lack bf16 hardware, else None."""
  if impl != "bf16" or has_bf16 is not False:
    return None
  return (
    "--lstm_impl=bf16: this device has no bf16 hardware (CPU flags avx512_bf16/amx_bf16), "
    "so it trains slower than float32 (--lstm_impl=fused)"
  )


def log(impl: str, device, cpuinfo: Optional[str] = None) -> None:
  """Logs the precision of a run (one line) and the bf16 warning where it applies."""
  logging.info("precision: %s (lstm_impl=%s)", PRECISIONS[impl], impl)
  warning = bf16_warning(impl, device_has_bf16(device, cpuinfo))
  if warning:
    logging.warning(warning)
