"""Tests of the reference generators in sensegen.baselines."""

import numpy as np
import pytest

from sensegen import baselines
from sensegen.errors import DataError
from sensegen.evaluate import stats


def _ar1(seed, n, length, phi, mean=0.0, burn_in=100):
  """`[n, length, 1]` windows of x[t] - mean = phi (x[t-1] - mean) + N(0, 1)."""
  rng = np.random.default_rng(seed)
  x = np.zeros(n)
  steps = []
  for _ in range(burn_in + length):
    x = phi * x + rng.normal(size=n)
    steps.append(x)
  return (np.stack(steps[burn_in:], axis=1)[..., None] + mean).astype(np.float32)


def _noise(seed, n, length=16, d=2):
  return np.random.default_rng(seed).normal(size=(n, length, d)).astype(np.float32)


def test_fit_ar_recovers_ar1_coefficient():
  phi, intercept, sigma = baselines.fit_ar(_ar1(0, 40, 200, 0.7, mean=3.0), 1)
  assert phi[0, 0] == pytest.approx(0.7, abs=0.03)
  assert intercept[0] == pytest.approx(3.0 * (1 - 0.7), abs=0.1)
  assert sigma[0] == pytest.approx(1.0, abs=0.05)


def test_ar_baseline_reproduces_ar1_dynamics():
  train = _ar1(0, 40, 200, 0.7, mean=3.0)
  synth = baselines.ar_baseline(train, 200, 100, order=1, seed=1)
  assert synth.shape == (200, 100, 1) and synth.dtype == np.float32
  lag1 = stats.autocorrelation(synth, 1).mean()
  # The per-window estimator is biased low by about (1 + 4 phi) / L.
  assert lag1 == pytest.approx(0.7, abs=0.06)
  assert synth.mean() == pytest.approx(3.0, abs=0.1)
  assert synth.std() == pytest.approx(train.std(), rel=0.1)


def test_gaussian_baseline_matches_channel_moments():
  train = _noise(0, 50) * np.array([1.0, 3.0]) + np.array([-2.0, 5.0])
  synth = baselines.gaussian_baseline(train, 400, 24, seed=0)
  assert synth.shape == (400, 24, 2) and synth.dtype == np.float32
  np.testing.assert_allclose(synth.mean(axis=(0, 1)), [-2.0, 5.0], atol=0.05)
  np.testing.assert_allclose(synth.std(axis=(0, 1)), [1.0, 3.0], rtol=0.03)


def test_replay_and_holdout_return_distinct_input_windows():
  train = _noise(0, 10)
  for fn in (baselines.replay_baseline, baselines.holdout_baseline):
    out = fn(train, 6, seed=0)
    matches = [np.flatnonzero((train == w).all(axis=(1, 2))) for w in out]
    assert all(len(m) == 1 for m in matches)
    assert len({int(m[0]) for m in matches}) == 6


def test_replay_repeats_only_when_more_windows_are_asked():
  assert baselines.replay_baseline(_noise(0, 3), 7, seed=0).shape == (7, 16, 2)


def test_baseline_sets_are_named_shaped_and_seeded():
  train, test = _noise(0, 20), _noise(1, 8)
  sets = baselines.baseline_sets(train, test, 12, seed=4)
  assert set(sets) == {"real_holdout", "train_replay", "gaussian", "ar"}
  assert all(x.shape == (12, 16, 2) for x in sets.values())
  again = baselines.baseline_sets(train, test, 12, seed=4)
  assert all(np.array_equal(sets[k], again[k]) for k in sets)


@pytest.mark.parametrize(
  "call, message",
  [
    (
      lambda: baselines.gaussian_baseline(np.zeros((3, 4)), 2, 4, seed=0),
      "train_windows: rank 2, expected windows",
    ),
    (
      lambda: baselines.replay_baseline(np.full((2, 4, 1), np.nan), 2),
      "train_windows: contains NaN",
    ),
    (
      lambda: baselines.ar_baseline(_noise(0, 3, length=4), 2, 8, order=4),
      "train_windows: windows of 4 steps, more than 5 needed",
    ),
    (lambda: baselines.fit_ar(_noise(0, 3), 0), "order: 0, must be at least 1"),
    (
      lambda: baselines.baseline_sets(_noise(0, 3), _noise(1, 3, d=3), 2),
      "test_windows: windows [16, 3], train_windows has [16, 2]",
    ),
  ],
)
def test_bad_input_raises_data_error(call, message):
  with pytest.raises(DataError) as info:
    call()
  assert str(info.value).startswith(message)
  assert "\n" not in str(info.value)
