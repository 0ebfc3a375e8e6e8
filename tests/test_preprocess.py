"""UCI HAR preprocessing against direct scipy references on synthetic signals."""

import numpy as np
import pytest
from scipy import signal

from sensegen.data import preprocess
from sensegen.errors import DataError

FS = preprocess.SAMPLE_RATE_HZ


def _t(n):
  return np.arange(n) / FS


def _reference_lowpass(x, cutoff_hz):
  sos = signal.butter(3, cutoff_hz, btype="low", fs=FS, output="sos")
  return signal.sosfiltfilt(sos, x, axis=0)


def _reference_median3(x):
  """Sliding median of 3 with edge replication, written independently."""
  padded = np.pad(x, ((1, 1), (0, 0)), mode="edge")
  return np.median(np.stack([padded[:-2], padded[1:-1], padded[2:]]), axis=0)


def test_constants_follow_uci_har():
  assert (
    preprocess.MEDIAN_KERNEL,
    preprocess.NOISE_CUTOFF_HZ,
    preprocess.GRAVITY_CUTOFF_HZ,
    preprocess.FILTER_ORDER,
    preprocess.SAMPLE_RATE_HZ,
  ) == (3, 20.0, 0.3, 3, 50.0)
  assert len(preprocess.CHANNELS) == len(preprocess.UNITS) == 18
  assert preprocess.UNITS == ("g",) * 9 + ("rad/s",) * 3 + ("g",) * 3 + ("rad/s",) * 3


def test_lowpass_matches_scipy():
  x = np.random.default_rng(0).normal(size=(500, 3))
  for cutoff in (0.3, 20.0):
    np.testing.assert_allclose(
      preprocess.lowpass(x, cutoff), _reference_lowpass(x, cutoff), atol=1e-12
    )


def test_denoise_is_median_then_lowpass():
  rng = np.random.default_rng(1)
  x = np.sin(2 * np.pi * 1.5 * _t(400))[:, None] + rng.normal(0, 0.1, (400, 2))
  x[100, 0] = 25.0  # A spike the median filter removes.
  out = preprocess.denoise(x)
  np.testing.assert_allclose(out, _reference_lowpass(_reference_median3(x), 20.0), atol=1e-12)
  assert abs(out[100, 0]) < 2.0


def test_gravity_of_constant_plus_sine():
  t = _t(3000)
  gravity = np.array([0.8, -0.1, 0.55])
  motion = 0.4 * np.sin(2 * np.pi * 2.0 * t)[:, None] * np.array([1.0, 0.5, -1.0])
  body, grav = preprocess.split_gravity(gravity + motion)
  np.testing.assert_allclose(body + grav, gravity + motion, atol=1e-12)
  inner = slice(250, -250)  # Away from the 0.3 Hz filter's edge transients.
  np.testing.assert_allclose(grav[inner], np.broadcast_to(gravity, grav[inner].shape), atol=0.01)
  np.testing.assert_allclose(body[inner], motion[inner], atol=0.01)
  np.testing.assert_allclose(grav, _reference_lowpass(gravity + motion, 0.3), atol=1e-12)


def test_filters_are_zero_phase():
  # A symmetric bump keeps its peak position through both filters.
  x = np.exp(-0.5 * ((np.arange(1001) - 500) / 40.0) ** 2)[:, None]
  assert np.argmax(preprocess.lowpass(x, 0.3)) == 500
  assert np.argmax(preprocess.denoise(x)) == 500
  # A 2 Hz sine passes the 20 Hz filter with no lag and no gain change.
  s = np.sin(2 * np.pi * 2.0 * _t(1000))[:, None]
  np.testing.assert_allclose(preprocess.lowpass(s, 20.0)[50:-50], s[50:-50], atol=1e-3)


def test_har_channels_layout():
  rng = np.random.default_rng(2)
  acc = np.array([1.0, 0.0, 0.0]) + rng.normal(0, 0.2, (300, 3))
  gyro = rng.normal(0, 0.5, (300, 3))
  out = preprocess.har_channels(acc, gyro)
  assert out.shape == (300, 18) and out.dtype == np.float32
  total = preprocess.denoise(acc)
  body, grav = preprocess.split_gravity(total)
  np.testing.assert_allclose(out[:, 0:3], total, atol=1e-6)
  np.testing.assert_allclose(out[:, 3:6], body, atol=1e-6)
  np.testing.assert_allclose(out[:, 6:9], grav, atol=1e-6)
  np.testing.assert_allclose(out[:, 9:12], preprocess.denoise(gyro), atol=1e-6)
  np.testing.assert_allclose(out[:, 0:3], out[:, 3:6] + out[:, 6:9], atol=1e-6)
  np.testing.assert_allclose(out[:, 12:15], acc, atol=1e-6)
  np.testing.assert_allclose(out[:, 15:18], gyro, atol=1e-6)


def test_per_session_filtering_does_not_leak_across_boundaries():
  # Two sessions with opposite gravity: filtered one by one, each keeps its
  # own gravity to the last sample; filtered as one stream, the 0.3 Hz
  # filter would smear one into the other around the boundary.
  n = 1000
  up, down = np.tile([1.0, 0.0, 0.0], (n, 1)), np.tile([-1.0, 0.0, 0.0], (n, 1))
  gyro = np.zeros((n, 3))
  a = preprocess.har_channels(up, gyro)
  b = preprocess.har_channels(down, gyro)
  np.testing.assert_allclose(a[:, 6], 1.0, atol=1e-5)
  np.testing.assert_allclose(b[:, 6], -1.0, atol=1e-5)
  joint = preprocess.har_channels(np.concatenate([up, down]), np.concatenate([gyro, gyro]))
  assert abs(joint[n - 1, 6] - 1.0) > 0.5


def test_bad_input_raises_data_error():
  with pytest.raises(DataError, match="at least 13"):
    preprocess.har_channels(np.ones((12, 3)), np.ones((12, 3)))
  with pytest.raises(DataError, match="same T"):
    preprocess.har_channels(np.ones((50, 3)), np.ones((49, 3)))
  with pytest.raises(DataError, match=r"\[T, 3\]"):
    preprocess.har_channels(np.ones((50, 2)), np.ones((50, 2)))
