"""A feature-based judge: can a linear classifier on standard window statistics (level,
amplitude, shape of the marginal, autocorrelation, spectrum, level changes inside the
window) tell synthetic windows from real ones?

Hard to fool in the ways a small post-hoc LSTM is: it sees a whole-window summary at
once, so a wrong spectrum or a missing quiet regime separates the sets even when the
step-by-step dynamics look plausible. Arrays are windows `[N, L, D]` in the normalised
space. Frequencies are fractions of the sampling rate, so no rate is needed.
"""

import numpy as np
import scipy.signal
import scipy.stats
import sklearn.linear_model
import sklearn.model_selection
import sklearn.pipeline
import sklearn.preprocessing

from sensegen.data.windows import subsample
from sensegen.evaluate import stats

# Autocorrelation lags (steps); lags >= L are left out.
ACF_LAGS = (1, 2, 3, 5, 8, 12, 16, 25, 35, 50)
# Quantiles of each window, standardised by the window's mean and std.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
# Band edges as fractions of the Nyquist frequency (at 50 Hz: 0.3, 1, 2, 3, 5, 8, 12, 16,
# 20, 22.5, 25 Hz): finer bands at the low frequencies, where most power is.
BAND_EDGES = (0.012, 0.04, 0.08, 0.12, 0.2, 0.32, 0.48, 0.64, 0.8, 0.9, 1.0)
# Steps per segment of the within-window level statistics (1 s at 50 Hz).
SEGMENT = 50
# Welch segment length at most (as in `stats.mean_log_psd`).
WELCH_NPERSEG = 128
# Keeps logs of zero amplitude or power finite.
_EPS = 1e-8
# Cross-validation folds of the judge, and its L2 regularisation (inverse strength).
FOLDS = 5
_C = 1.0
_MAX_ITER = 2000


def _log(x: np.ndarray) -> np.ndarray:
  return np.log(x + _EPS)


def _amplitude_features(x: np.ndarray) -> list:
  """Level, amplitude and marginal shape: `[N, L, D]` -> list of `[N, D]`."""
  mean, std = x.mean(axis=1), x.std(axis=1)
  d1 = np.diff(x, axis=1)
  quantiles = np.quantile(x, QUANTILES, axis=1)  # [Q, N, D]
  return [
    _log(std),
    mean,
    _log(np.abs(x).max(axis=1)),
    _log(d1.std(axis=1)),
    _log(np.diff(d1, axis=1).std(axis=1)),
    _log(np.abs(d1).max(axis=1)),
    scipy.stats.skew(x, axis=1),
    _log(scipy.stats.kurtosis(x, axis=1, fisher=False)),
    *((quantiles - mean) / (std + _EPS)),
  ]


def _band_of_bins(length: int) -> tuple:
  """Welch frequencies (cycles per step) of windows of `length` steps, the band of each
  bin, and the bands that have a bin."""
  freqs = np.fft.rfftfreq(min(length, WELCH_NPERSEG))
  band = np.digitize(freqs / 0.5, BAND_EDGES)  # bins in [edge_i, edge_i+1) are band i + 1
  band[freqs >= 0.5] = len(BAND_EDGES) - 1  # the Nyquist bin joins the last band
  return band, [b for b in range(1, len(BAND_EDGES)) if np.any(band == b)]


def _band_powers(x: np.ndarray) -> list:
  """log10 Welch power in each `BAND_EDGES` band that has a bin: list of `[N, D]`."""
  _, psd = scipy.signal.welch(x, fs=1.0, nperseg=min(x.shape[1], WELCH_NPERSEG), axis=1)
  band, present = _band_of_bins(x.shape[1])
  return [np.log10(psd[:, band == b].mean(axis=1) + _EPS) for b in present]


def _temporal_features(x: np.ndarray) -> list:
  """Autocorrelation, zero crossings, band powers and the spread of the level over
  `SEGMENT`-step segments: `[N, L, D]` -> list of `[N, D]`."""
  n, length, d = x.shape
  lags = [k for k in ACF_LAGS if k < length]
  acf = stats.autocorrelation(x, max(lags))  # [N, max_lag, D]
  centred = x - x.mean(axis=1, keepdims=True)
  crossings = (np.diff(np.signbit(centred), axis=1) != 0).mean(axis=1)
  segment = min(SEGMENT, length)
  usable = length // segment * segment
  segment_std = x[:, :usable].reshape(n, -1, segment, d).std(axis=2)  # [N, segments, D]
  return [
    *(acf[:, k - 1] for k in lags),
    crossings,
    *_band_powers(x),
    _log(segment_std.min(axis=1)),
    _log(segment_std.max(axis=1)),
  ]


def _cross_correlations(x: np.ndarray) -> np.ndarray:
  """Per-window correlation of each channel pair i < j: `[N, L, D]` -> `[N, D(D-1)/2]`."""
  centred = x - x.mean(axis=1, keepdims=True)
  cov = np.einsum("nli,nlj->nij", centred, centred)
  scale = np.sqrt(np.einsum("nii->ni", cov) + _EPS)
  corr = cov / (scale[:, :, None] * scale[:, None, :])
  upper = np.triu_indices(x.shape[-1], k=1)
  return corr[:, upper[0], upper[1]]


def window_features(x: np.ndarray) -> np.ndarray:
  """Per-window statistics, the judge's inputs.

  Per channel: log std, mean, log max |x|, log std of the first and second differences,
  log max |first difference|, skewness, log kurtosis, the `QUANTILES` standardised by
  the window's mean and std, autocorrelation at `ACF_LAGS` (those below L), zero-crossing
  rate of the centred window, log10 Welch band powers (`BAND_EDGES`; bands without a
  Welch bin are left out), and log min / max of the std over `SEGMENT`-step segments.
  With D > 1, the correlation of each channel pair. Undefined values (the skewness of a
  constant window) are 0.

  Args:
    x: `[N, L, D]` windows, L >= 3.

  Returns:
    `[N, F]` float64; F depends only on L and D, so sets of equal shape line up.
  """
  x = np.asarray(x, np.float64)
  per_channel = np.stack(_amplitude_features(x) + _temporal_features(x), axis=1)  # [N, K, D]
  out = [per_channel.reshape(len(x), -1)]
  if x.shape[-1] > 1:
    out.append(_cross_correlations(x))
  return np.nan_to_num(np.concatenate(out, axis=1), nan=0.0, posinf=0.0, neginf=0.0)


def feature_names(length: int, channels) -> list:
  """Names of the columns of `window_features` for windows of `length` steps and these
  channel names, e.g. "log_std[body_acc_x]", "band_5-8Hz@50Hz[body_acc_x]" (band edges are
  fractions of the Nyquist frequency, named at 50 Hz)."""
  _, present = _band_of_bins(length)
  edges = BAND_EDGES
  stats_ = [
    "log_std",
    "mean",
    "log_max_abs",
    "log_diff_std",
    "log_diff2_std",
    "log_max_abs_diff",
    "skewness",
    "log_kurtosis",
    *(f"quantile_{q}" for q in QUANTILES),
    *(f"acf_lag{k}" for k in ACF_LAGS if k < length),
    "zero_crossings",
    *(f"band_{edges[b - 1] * 25:g}-{edges[b] * 25:g}Hz@50Hz" for b in present),
    "log_segment_std_min",
    "log_segment_std_max",
  ]
  names = [f"{stat}[{c}]" for stat in stats_ for c in channels]
  pairs = [(a, b) for i, a in enumerate(channels) for b in channels[i + 1 :]]
  return names + [f"correlation[{a},{b}]" for a, b in pairs]


def judge_model() -> sklearn.pipeline.Pipeline:
  """The judge's unfitted classifier: standardisation, then an L2 logistic regression."""
  return sklearn.pipeline.make_pipeline(
    sklearn.preprocessing.StandardScaler(),
    sklearn.linear_model.LogisticRegression(C=_C, max_iter=_MAX_ITER),
  )


def judge_accuracy(real_features: np.ndarray, synth_features: np.ndarray, seed: int) -> float:
  """Cross-validated accuracy of a logistic regression, real vs synthetic features.

  Equal counts (the smaller set's) are drawn without replacement, seeded; every window
  gets one prediction from a model fitted on the other folds (stratified `FOLDS`-fold,
  shuffled with `seed`) of standardised features.

  Args:
    real_features: `[N, F]`.
    synth_features: `[M, F]`.
    seed: subsampling and fold split.

  Returns:
    The accuracy over the 2 min(N, M) windows.
  """
  n = min(len(real_features), len(synth_features))
  rng = np.random.default_rng(seed)
  x = np.concatenate([subsample(real_features, n, rng), subsample(synth_features, n, rng)])
  y = np.concatenate([np.ones(n), np.zeros(n)])
  model = judge_model()
  folds = sklearn.model_selection.StratifiedKFold(FOLDS, shuffle=True, random_state=seed)
  predicted = sklearn.model_selection.cross_val_predict(model, x, y, cv=folds)
  return float(np.mean(predicted == y))


def feature_scores(real: np.ndarray, synth: np.ndarray, seeds=(0, 1, 2)) -> list:
  """|accuracy - 0.5| of the feature judge, one per seed.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    seeds: one subsample and fold split per seed.

  Returns:
    A float per seed (0 = indistinguishable, 0.5 = separable).
  """
  real_features, synth_features = window_features(real), window_features(synth)
  return [abs(judge_accuracy(real_features, synth_features, s) - 0.5) for s in seeds]
