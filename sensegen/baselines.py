"""Reference generators to put the model's metrics in context.

Each returns windows `[n, L, D]` in the space of its input windows and draws
all randomness from its `seed`:

  real_holdout: real test windows (the best a generator can do).
  train_replay: training windows replayed (a pure memoriser: perfect fidelity,
    no privacy).
  gaussian: iid per-channel Gaussian steps (right marginal mean and variance,
    no temporal structure).
  ar: per-channel AR(p) processes (right short-range dynamics, no
    cross-channel structure).
"""

import numpy as np

from sensegen.data.windows import check_windows
from sensegen.errors import DataError

__all__ = [
  "ar_baseline",
  "baseline_sets",
  "fit_ar",
  "gaussian_baseline",
  "holdout_baseline",
  "replay_baseline",
]


def _pick(windows: np.ndarray, n: int, seed: int) -> np.ndarray:
  """`n` windows drawn (seeded) without replacement while they last."""
  rng = np.random.default_rng(seed)
  return windows[rng.choice(len(windows), n, replace=n > len(windows))]


def gaussian_baseline(train_windows, n: int, length: int, seed: int = 0) -> np.ndarray:
  """iid Gaussian steps with each channel's mean and std over all train steps.

  Args:
    train_windows: `[N, L, D]`.
    n: windows to generate.
    length: steps per window.
    seed: random seed.

  Returns:
    float32 `[n, length, D]`.
  """
  x = check_windows(train_windows, "train_windows")
  mean, std = x.mean(axis=(0, 1)), x.std(axis=(0, 1))
  rng = np.random.default_rng(seed)
  return (mean + std * rng.standard_normal((n, length, x.shape[2]))).astype(np.float32)


def fit_ar(train_windows, order: int) -> tuple:
  """Per-channel AR(order) with intercept, by least squares within windows.

  Models x[t] = c + sum_k phi[k] x[t-1-k] + sigma e[t]; lagged rows never
  cross a window boundary.

  Args:
    train_windows: `[N, L, D]` with L > order.
    order: number of lags p >= 1.

  Returns:
    (phi `[D, p]`, intercept `[D]`, sigma `[D]` residual std).
  """
  x = check_windows(train_windows, "train_windows").astype(np.float64)
  if order < 1:
    raise DataError(f"order: {order}, must be at least 1")
  if x.shape[1] <= order + 1:
    raise DataError(
      f"train_windows: windows of {x.shape[1]} steps, more than {order + 1} needed for AR({order})"
    )
  # [N, L - p, D, p + 1]: each row holds x[t-p..t].
  rows = np.lib.stride_tricks.sliding_window_view(x, order + 1, axis=1)
  phis, intercepts, sigmas = [], [], []
  for c in range(x.shape[2]):
    block = rows[:, :, c].reshape(-1, order + 1)
    target = block[:, -1]
    design = np.column_stack([block[:, -2::-1], np.ones(len(block))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    phis.append(coef[:-1])
    intercepts.append(coef[-1])
    sigmas.append(np.std(target - design @ coef))
  return np.array(phis), np.array(intercepts), np.array(sigmas)


def ar_baseline(
  train_windows, n: int, length: int, order: int = 4, seed: int = 0, burn_in: int = 200
) -> np.ndarray:
  """Per-channel AR(order) fitted on the train windows, simulated.

  Simulation starts at each channel's train mean and discards `burn_in`
  steps so that windows start in the stationary regime.

  Args:
    train_windows: `[N, L, D]` with L > order + 1.
    n: windows to generate.
    length: steps per window.
    order: AR lags p.
    seed: random seed.
    burn_in: simulated steps dropped before each window.

  Returns:
    float32 `[n, length, D]`.
  """
  phi, intercept, sigma = fit_ar(train_windows, order)
  d = len(intercept)
  rng = np.random.default_rng(seed)
  start = np.asarray(train_windows, np.float64).mean(axis=(0, 1))
  history = np.broadcast_to(start, (order, n, d)).copy()  # latest step last
  out = np.empty((burn_in + length, n, d))
  for t in range(burn_in + length):
    # phi[:, k] weighs lag k + 1, i.e. history[-1 - k].
    step = intercept + np.einsum("dk,knd->nd", phi, history[::-1])
    step += sigma * rng.standard_normal((n, d))
    history = np.concatenate([history[1:], step[None]])
    out[t] = step
  return out[burn_in:].transpose(1, 0, 2).astype(np.float32)


def replay_baseline(train_windows, n: int, seed: int = 0) -> np.ndarray:
  """`n` training windows `[N, L, D]` replayed as they are (a pure memoriser): float32
  `[n, L, D]` drawn with `seed`, with repeats only when n > N."""
  return _pick(check_windows(train_windows, "train_windows"), n, seed)


def holdout_baseline(test_windows, n: int, seed: int = 0) -> np.ndarray:
  """`n` real test windows as "synthetic" data (the best achievable), drawn as in
  `replay_baseline`."""
  return _pick(check_windows(test_windows, "test_windows"), n, seed)


def baseline_sets(train_windows, test_windows, n: int, seed: int = 0, ar_order: int = 4) -> dict:
  """All baselines, `n` windows each of the train window length.

  Args:
    train_windows: `[N, L, D]`.
    test_windows: `[M, L, D]`.
    n: windows per baseline.
    seed: random seed shared by all baselines.
    ar_order: lags of the AR baseline.

  Returns:
    {"real_holdout", "train_replay", "gaussian", "ar"} -> `[n, L, D]`.
  """
  train_windows = check_windows(train_windows, "train_windows")
  test_windows = check_windows(test_windows, "test_windows")
  length = train_windows.shape[1]
  if test_windows.shape[1:] != train_windows.shape[1:]:
    raise DataError(
      f"test_windows: windows [{test_windows.shape[1]}, "
      f"{test_windows.shape[2]}], train_windows has "
      f"[{length}, {train_windows.shape[2]}]"
    )
  return {
    "real_holdout": holdout_baseline(test_windows, n, seed),
    "train_replay": replay_baseline(train_windows, n, seed),
    "gaussian": gaussian_baseline(train_windows, n, length, seed),
    "ar": ar_baseline(train_windows, n, length, order=ar_order, seed=seed),
  }
