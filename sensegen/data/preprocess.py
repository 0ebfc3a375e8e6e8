"""UCI HAR signal preprocessing: noise filtering and gravity separation.

Follows the UCI HAR "Inertial Signals" recipe (Anguita et al., ESANN 2013):
a median filter and a 20 Hz low-pass Butterworth remove noise from the raw
accelerometer and gyroscope; a 0.3 Hz low-pass Butterworth of the denoised
total acceleration estimates gravity, and body acceleration is the rest.
Every function works on ONE recording session: zero-phase filters look both
ways in time, so running them over concatenated sessions would leak signal
across the boundary.
"""

import numpy as np
from scipy import ndimage
from scipy import signal

from sensegen.errors import DataError

SAMPLE_RATE_HZ = 50.0
MEDIAN_KERNEL = 3
NOISE_CUTOFF_HZ = 20.0
GRAVITY_CUTOFF_HZ = 0.3
FILTER_ORDER = 3

CHANNELS = (
  "total_acc_x",
  "total_acc_y",
  "total_acc_z",
  "body_acc_x",
  "body_acc_y",
  "body_acc_z",
  "gravity_acc_x",
  "gravity_acc_y",
  "gravity_acc_z",
  "body_gyro_x",
  "body_gyro_y",
  "body_gyro_z",
  # The unfiltered recordings, for generators that model the signal before this chain.
  "raw_acc_x",
  "raw_acc_y",
  "raw_acc_z",
  "raw_gyro_x",
  "raw_gyro_y",
  "raw_gyro_z",
)
UNITS = ("g",) * 9 + ("rad/s",) * 3 + ("g",) * 3 + ("rad/s",) * 3


def lowpass(
  x: np.ndarray, cutoff_hz: float, sample_rate_hz: float = SAMPLE_RATE_HZ, order: int = FILTER_ORDER
) -> np.ndarray:
  """Zero-phase Butterworth low-pass along time.

  Args:
    x: `[T, C]` signal.
    cutoff_hz: -3 dB corner of the single-pass filter.
    sample_rate_hz: sampling rate of `x`.
    order: Butterworth order (the forward-backward pass doubles it).

  Returns:
    `[T, C]` float64 filtered signal.
  """
  sos = signal.butter(order, cutoff_hz, btype="low", fs=sample_rate_hz, output="sos")
  # scipy's default edge padding; shorter inputs cannot be filtered.
  padlen = 3 * (2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum()))
  if len(x) <= padlen:
    raise DataError(
      f"session has {len(x)} samples, at least {padlen + 1} "
      f"needed for a zero-phase order-{order} filter"
    )
  return signal.sosfiltfilt(sos, x, axis=0)


def denoise(
  x: np.ndarray,
  sample_rate_hz: float = SAMPLE_RATE_HZ,
  kernel: int = MEDIAN_KERNEL,
  cutoff_hz: float = NOISE_CUTOFF_HZ,
  order: int = FILTER_ORDER,
) -> np.ndarray:
  """Median filter per channel, then a zero-phase low-pass.

  Args:
    x: `[T, C]` raw signal.
    sample_rate_hz: sampling rate of `x`.
    kernel: median filter length in samples.
    cutoff_hz: low-pass corner.
    order: Butterworth order.

  Returns:
    `[T, C]` float64 denoised signal.
  """
  # Edge replication, not zero padding: a zero would bias the first sample.
  med = ndimage.median_filter(np.asarray(x, np.float64), size=(kernel, 1), mode="nearest")
  return lowpass(med, cutoff_hz, sample_rate_hz, order)


def split_gravity(
  total_acc: np.ndarray,
  sample_rate_hz: float = SAMPLE_RATE_HZ,
  cutoff_hz: float = GRAVITY_CUTOFF_HZ,
  order: int = FILTER_ORDER,
) -> tuple[np.ndarray, np.ndarray]:
  """Splits denoised total acceleration `[T, 3]` into (body `[T, 3]`, gravity `[T, 3]`)."""
  gravity = lowpass(total_acc, cutoff_hz, sample_rate_hz, order)
  return total_acc - gravity, gravity


def har_channels(
  acc: np.ndarray, gyro: np.ndarray, sample_rate_hz: float = SAMPLE_RATE_HZ
) -> np.ndarray:
  """Maps one raw session to the 12 UCI HAR channels and the 6 raw ones.

  Args:
    acc: `[T, 3]` raw accelerometer in g.
    gyro: `[T, 3]` raw gyroscope in rad/s, same instants as `acc`.
    sample_rate_hz: sampling rate of both.

  Returns:
    `[T, 18]` float32 array, columns in the order of `CHANNELS`.
  """
  if acc.shape != gyro.shape or acc.ndim != 2 or acc.shape[1] != 3:
    raise DataError(f"acc {acc.shape} and gyro {gyro.shape}: expected both [T, 3] with the same T")
  total_acc = denoise(acc, sample_rate_hz)
  body_acc, gravity_acc = split_gravity(total_acc, sample_rate_hz)
  body_gyro = denoise(gyro, sample_rate_hz)
  return np.concatenate([total_acc, body_acc, gravity_acc, body_gyro, acc, gyro], axis=1).astype(
    np.float32
  )
