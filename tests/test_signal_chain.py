"""The JAX HAR chain equals the numpy/scipy preprocessing the dataset was built with."""

import jax
import numpy as np
import scipy.ndimage
import scipy.signal

from sensegen.data import preprocess
from sensegen.data import signal_chain


def _session(seed, n=1500):
  rng = np.random.default_rng(seed)
  acc = 1.0 + np.cumsum(rng.normal(0, 0.01, (n, 3)), 0) + rng.normal(0, 0.05, (n, 3))
  return acc, rng.normal(0, 0.5, (n, 3))


def test_sosfiltfilt_and_median_match_scipy():
  x = np.random.default_rng(0).normal(size=(2, 300, 3))
  for cutoff in (20.0, 0.3):
    sos = signal_chain._sos(cutoff, 50.0)  # pylint: disable=protected-access
    np.testing.assert_allclose(
      signal_chain.sosfiltfilt(sos, x.astype(np.float32)),
      scipy.signal.sosfiltfilt(sos, x, axis=1),
      atol=3e-4,
    )
  np.testing.assert_allclose(
    signal_chain.median3(x.astype(np.float32)),
    scipy.ndimage.median_filter(x, size=(1, 3, 1), mode="nearest"),
    atol=1e-6,
  )


def test_chain_reproduces_the_har_channels_of_a_session():
  acc, gyro = _session(1)
  want = preprocess.har_channels(acc, gyro)
  names = ["body_acc_x", "gravity_acc_y", "total_acc_z", "body_gyro_y", "raw_acc_x", "body_acc_z"]
  chain = signal_chain.SignalChain.for_channels(names)
  assert chain.sources == ("raw_acc_x", "raw_acc_y", "raw_acc_z", "raw_gyro_y")
  raw = np.concatenate([acc, gyro[:, 1:2]], axis=1)[None].astype(np.float32)
  got = np.asarray(jax.jit(chain)(raw))[0]
  columns = [preprocess.CHANNELS.index(n) for n in names]
  np.testing.assert_allclose(got, want[:, columns], atol=3e-4)


def test_other_channel_names_have_no_chain():
  assert signal_chain.SignalChain.for_channels(["body_acc_x", "heart_rate"]) is None
  assert signal_chain.SignalChain.for_channels(["body_acc_w"]) is None


def test_gradients_flow_through_the_chain():
  chain = signal_chain.SignalChain.for_channels(["body_acc_x"])
  x = np.random.default_rng(2).normal(size=(1, 200, 1)).astype(np.float32)
  g = jax.grad(lambda r: chain(r)[0, 100, 0])(x)
  assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0
  # Zero phase: the output at step 100 depends on inputs on both sides of it.
  assert np.abs(g[0, 90:100]).sum() > 0 and np.abs(g[0, 101:110]).sum() > 0
