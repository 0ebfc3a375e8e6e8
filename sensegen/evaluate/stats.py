"""Fidelity statistics: how far the synthetic windows' marginals, autocorrelation,
spectrum and cross-channel correlations are from the real ones.

Arrays are windows `[N, L, D]` (N windows, L steps, D channels), real and synthetic
in the same (normalised) space; every function is deterministic.
"""

import numpy as np
import scipy.signal
import scipy.stats

# Floor of PSD values before log10, so that bins with no power stay finite.
_PSD_FLOOR = 1e-12
# A window (one channel) is quiet when its std is below this, in normalised units (the
# data's overall std is 1): resting stretches of HAR's body_acc_x have std ~0.02-0.08.
QUIET_STD = 0.1


def scores(real: np.ndarray, synth: np.ndarray, sample_rate_hz: float) -> dict:
  """The report's fidelity entries: marginal_wasserstein, acf_distance, psd_distance
  (D floats each), correlation_difference (a float, None when D == 1) and regime."""
  return {
    "regime": regime(real, synth),
    "marginal_wasserstein": marginal_wasserstein(real, synth),
    "acf_distance": acf_distance(real, synth),
    "psd_distance": psd_distance(real, synth, sample_rate_hz),
    "correlation_difference": correlation_difference(real, synth),
  }


def marginal_wasserstein(real: np.ndarray, synth: np.ndarray) -> list:
  """Per-channel Wasserstein-1 distance of the marginals, all steps pooled.

  Args:
    real: `[N, L, D]`.
    synth: `[M, K, D]`.

  Returns:
    D floats.
  """
  return [
    float(scipy.stats.wasserstein_distance(real[..., c].ravel(), synth[..., c].ravel()))
    for c in range(real.shape[-1])
  ]


def autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
  """Per-window sample autocorrelation at lags 1..max_lag.

  Uses the biased estimator (normalised by the lag-0 sum); a constant window
  has autocorrelation 0.

  Args:
    x: `[N, L, D]`, with L > max_lag.
    max_lag: largest lag.

  Returns:
    `[N, max_lag, D]`.
  """
  xc = x - x.mean(axis=1, keepdims=True)
  denom = np.sum(xc * xc, axis=1)  # [N, D]
  lagged = np.stack([np.sum(xc[:, :-k] * xc[:, k:], axis=1) for k in range(1, max_lag + 1)], axis=1)
  safe = np.where(denom > 0, denom, 1.0)[:, None, :]
  return np.where(denom[:, None, :] > 0, lagged / safe, 0.0)


def acf_distance(real: np.ndarray, synth: np.ndarray, max_lag: int = 50) -> list:
  """Per channel, mean over lags of |mean ACF(real) - mean ACF(synth)|.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    max_lag: largest lag; capped at L - 1.

  Returns:
    D floats (mean absolute difference over lags 1..max_lag).
  """
  max_lag = min(max_lag, real.shape[1] - 1, synth.shape[1] - 1)
  diff = np.abs(
    autocorrelation(real, max_lag).mean(axis=0) - autocorrelation(synth, max_lag).mean(axis=0)
  )  # [lags, D]
  return [float(v) for v in diff.mean(axis=0)]


def mean_log_psd(x: np.ndarray, fs: float) -> tuple:
  """Frequencies and log10 of the mean per-window Welch PSD, DC excluded.

  Args:
    x: `[N, L, D]`.
    fs: sampling rate in Hz.

  Returns:
    (frequencies `[F]`, log10 PSD `[F, D]`).
  """
  freqs, psd = scipy.signal.welch(x, fs=fs, nperseg=min(x.shape[1], 128), axis=1)  # psd: [N, F, D]
  # Welch detrends each segment, so the DC bin is noise around zero power.
  return freqs[1:], np.log10(np.maximum(psd.mean(axis=0)[1:], _PSD_FLOOR))


def psd_distance(real: np.ndarray, synth: np.ndarray, fs: float) -> list:
  """Per channel, mean |log10 PSD(real) - log10 PSD(synth)| over frequencies.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    fs: sampling rate in Hz.

  Returns:
    D floats.
  """
  _, log_real = mean_log_psd(real, fs)
  _, log_synth = mean_log_psd(synth, fs)
  return [float(v) for v in np.abs(log_real - log_synth).mean(axis=0)]


def _correlation_matrix(x: np.ndarray) -> np.ndarray:
  """`[D, D]` correlations of channels over all steps; 0 for a constant one."""
  flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
  flat = flat - flat.mean(axis=0)
  std = flat.std(axis=0)
  z = flat / np.where(std > 0, std, 1.0)
  return z.T @ z / len(z)


def correlation_difference(real: np.ndarray, synth: np.ndarray):
  """Mean |corr(real) - corr(synth)| over channel pairs i < j.

  Args:
    real: `[N, L, D]`.
    synth: `[M, K, D]`.

  Returns:
    A float, or None when D == 1.
  """
  d = real.shape[-1]
  if d == 1:
    return None
  upper = np.triu_indices(d, k=1)
  diff = _correlation_matrix(real) - _correlation_matrix(synth)
  return float(np.abs(diff[upper]).mean())


def window_std(x: np.ndarray) -> np.ndarray:
  """Std of each window and channel, `[N, L, D]` -> `[N * D]` (channels pooled)."""
  return np.asarray(x, np.float64).std(axis=1).reshape(-1)


def regime(real: np.ndarray, synth: np.ndarray, quiet_std: float = QUIET_STD) -> dict:
  """Per-window amplitude statistics: does the synthetic set have the real set's mix of
  quiet and active windows? Windows and channels are pooled.

  Args:
    real: `[N, L, D]`, normalised.
    synth: `[M, L, D]`, normalised.
    quiet_std: a window is quiet when its std is below this.

  Returns:
    {quiet_std, quiet_share_real, quiet_share_synthetic, window_std_ks (two-sample
    Kolmogorov-Smirnov statistic of the per-window stds), window_std_quartiles_real,
    window_std_quartiles_synthetic (25/50/75%), diff_std_real, diff_std_synthetic (median
    per-window std of the first difference)}.
  """
  std_real, std_synth = window_std(real), window_std(synth)
  diff_std = lambda x: float(np.median(window_std(np.diff(x, axis=1))))
  quartiles = lambda v: [float(q) for q in np.quantile(v, (0.25, 0.5, 0.75))]
  return {
    "quiet_std": quiet_std,
    "quiet_share_real": float(np.mean(std_real < quiet_std)),
    "quiet_share_synthetic": float(np.mean(std_synth < quiet_std)),
    "window_std_ks": float(scipy.stats.ks_2samp(std_real, std_synth).statistic),
    "window_std_quartiles_real": quartiles(std_real),
    "window_std_quartiles_synthetic": quartiles(std_synth),
    "diff_std_real": diff_std(real),
    "diff_std_synthetic": diff_std(synth),
  }
