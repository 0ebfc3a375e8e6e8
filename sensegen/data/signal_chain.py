"""UCI HAR's preprocessing as pure JAX functions, for generated raw signals.

The HAR channels are deterministic functions of the raw recordings (`preprocess`): a
median filter and a 20 Hz zero-phase Butterworth low-pass denoise the raw accelerometer
and gyroscope, and a 0.3 Hz low-pass of the denoised acceleration is gravity, the rest
body acceleration. A generator can model the raw signal, whose sensor noise is the
white innovation an autoregressive mixture density model draws, and pass its samples
through the same chain: their spectrum above 20 Hz and their slow drift are then shaped
exactly as the data's were. `SignalChain` is that map, jittable and differentiable, so
the sampler stays one pure JAX function.

Zero-phase filters look both ways in time: a window of L steps is computed from a
longer generated series, `margin_before` steps before it and `margin_after` after it.
"""

import dataclasses
from typing import Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.signal

from sensegen.data import preprocess

# Processed channel family -> (raw family it is computed from, what the chain does to it).
_SOURCES = {
  "total_acc": ("raw_acc", "denoised"),
  "body_acc": ("raw_acc", "body"),
  "gravity_acc": ("raw_acc", "gravity"),
  "body_gyro": ("raw_gyro", "denoised"),
  "raw_acc": ("raw_acc", "raw"),
  "raw_gyro": ("raw_gyro", "raw"),
}
# Steps of context around a window: the 0.3 Hz filter's response has decayed to ~1e-4
# of its peak after ~300 steps at 50 Hz; the 20 Hz one after a few steps.
MARGIN_BEFORE = 400
MARGIN_AFTER = 300


def _sos(cutoff_hz: float, sample_rate_hz: float) -> np.ndarray:
  return scipy.signal.butter(
    preprocess.FILTER_ORDER, cutoff_hz, btype="low", fs=sample_rate_hz, output="sos"
  )


def sosfilt(sos: np.ndarray, x, zi):
  """Cascaded second-order sections along axis 1 (as `scipy.signal.sosfilt`).

  Args:
    sos: `[S, 6]` sections (numpy constants).
    x: `[N, T, C]`.
    zi: `[S, 2, N, C]` initial section states.

  Returns:
    (`[N, T, C]` output, final states).
  """
  b, a = jnp.asarray(sos[:, :3], x.dtype), jnp.asarray(sos[:, 3:], x.dtype)

  def step(z, xt):
    new = []
    for s in range(len(sos)):
      y = b[s, 0] * xt + z[s, 0]
      new.append(jnp.stack([b[s, 1] * xt - a[s, 1] * y + z[s, 1], b[s, 2] * xt - a[s, 2] * y]))
      xt = y
    return jnp.stack(new), xt

  zf, ys = jax.lax.scan(step, zi, jnp.swapaxes(x, 0, 1))
  return jnp.swapaxes(ys, 0, 1), zf


def sosfiltfilt(sos: np.ndarray, x):
  """Zero-phase filtering along axis 1 of `[N, T, C]`, as `scipy.signal.sosfiltfilt` with its
  default odd extension at both ends."""
  padlen = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
  ext = jnp.concatenate(
    [2 * x[:, :1] - x[:, padlen:0:-1], x, 2 * x[:, -1:] - x[:, -2 : -padlen - 2 : -1]], axis=1
  )
  zi = jnp.asarray(scipy.signal.sosfilt_zi(sos), x.dtype)[:, :, None, None]
  y, _ = sosfilt(sos, ext, zi * ext[None, None, :, 0])
  y, _ = sosfilt(sos, y[:, ::-1], zi * y[None, None, :, -1])
  return y[:, ::-1][:, padlen:-padlen]


def median3(x):
  """Median over 3 steps along axis 1 of `[N, T, C]`, edges replicated (as
  `scipy.ndimage.median_filter(size=3, mode="nearest")`)."""
  prev = jnp.concatenate([x[:, :1], x[:, :-1]], axis=1)
  nxt = jnp.concatenate([x[:, 1:], x[:, -1:]], axis=1)
  return jnp.maximum(jnp.minimum(prev, x), jnp.minimum(jnp.maximum(prev, x), nxt))


@dataclasses.dataclass(frozen=True)
class SignalChain:
  """Raw channels -> processed channels, in physical units; hashable (static under jit).

  Attributes:
    sources: the raw channels a generator models, e.g. ("raw_acc_x",).
    outputs: per processed channel, (index into `sources`, kind), kind one of "raw",
      "denoised", "body", "gravity".
    sample_rate_hz: sampling rate of both.
  """

  sources: tuple
  outputs: tuple
  sample_rate_hz: float = preprocess.SAMPLE_RATE_HZ
  margin_before: int = MARGIN_BEFORE
  margin_after: int = MARGIN_AFTER

  @classmethod
  def for_channels(
    cls, channels: Sequence[str], sample_rate_hz: float = preprocess.SAMPLE_RATE_HZ
  ) -> Optional["SignalChain"]:
    """The chain that computes `channels` (HAR names) from raw ones; None if a channel is
    not a HAR channel."""
    sources, outputs = [], []
    for name in channels:
      family, _, axis = name.rpartition("_")
      if family not in _SOURCES or axis not in ("x", "y", "z"):
        return None
      raw_family, kind = _SOURCES[family]
      raw = f"{raw_family}_{axis}"
      if raw not in sources:
        sources.append(raw)
      outputs.append((sources.index(raw), kind))
    return cls(tuple(sources), tuple(outputs), float(sample_rate_hz))

  def __call__(self, raw):
    """`[N, T, len(sources)]` raw signals -> `[N, T, len(outputs)]` processed ones."""
    need = {kind for _, kind in self.outputs}
    denoised = gravity = None
    if need - {"raw"}:
      denoised = sosfiltfilt(_sos(preprocess.NOISE_CUTOFF_HZ, self.sample_rate_hz), median3(raw))
    if need & {"body", "gravity"}:
      gravity = sosfiltfilt(_sos(preprocess.GRAVITY_CUTOFF_HZ, self.sample_rate_hz), denoised)
    columns = {
      "raw": lambda i: raw[..., i],
      "denoised": lambda i: denoised[..., i],
      "gravity": lambda i: gravity[..., i],
      "body": lambda i: denoised[..., i] - gravity[..., i],
    }
    return jnp.stack([columns[kind](i) for i, kind in self.outputs], axis=-1)
