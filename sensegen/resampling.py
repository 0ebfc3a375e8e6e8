"""Critic resampling: draw K candidate windows per returned window and keep those that a
critic of window statistics finds most like real ones, at random in proportion to the
density ratio it estimates.

Why: the generator's free-running windows differ from real windows in a few whole-window
statistics (how often and how deeply they rest, amplitude, spectrum), which sampling
settings alone do not fix. A logistic regression on window statistics, fitted on training
windows against the generator's own windows, estimates p_real(x) / p_model(x) as
exp(logit(x)). Keeping n of K n candidates without replacement with probability in
proportion to that ratio (Gumbel top-k) moves the samples toward the real distribution of
those statistics without touching the generator (importance resampling; Azadi et al. 2019,
"Discriminator rejection sampling", do it with a GAN's discriminator).

The critic's statistics are those of the evaluation's feature judge
(`evaluate.features.window_features`), plus in which of `STD_BINS` bins (the real windows'
quantiles) each channel's log window std falls, so that the tilt can match the whole
distribution of window amplitudes and not only its mean. Resampled windows are thus matched
to exactly what the feature judge looks at, so its score is no independent witness of them;
the LSTM judge, the spectrum, autocorrelation and regime statistics are. Arrays are
normalised windows `[N, L, D]` of the run's channels.

A conditioned run has one critic per activity (`LabelCritics`): what gives its windows
away differs by activity (amplitude within a walk, the resting floor when sitting), and a
pooled critic would mostly learn which activity a window shows.
"""

import dataclasses
import os
from typing import Optional, Union

import jax
import numpy as np
import scipy.stats

from sensegen import fileio
from sensegen.errors import ConfigError
from sensegen.evaluate.features import judge_model
from sensegen.evaluate.features import window_features

__all__ = [
  "FILE",
  "STD_BINS",
  "Critic",
  "LabelCritics",
  "fit",
  "read",
  "select",
  "select_matching",
  "write",
]

FILE = "resampling.json"
"""A run's critic, beside its config.json."""
STD_BINS = 8
"""Bins of each channel's log window std, at the real windows' quantiles."""


def _log_std(windows: np.ndarray) -> np.ndarray:
  """`[N, L, D]` -> `[N, D]`."""
  return np.log(windows.std(axis=1) + 1e-8)


def _features(windows: np.ndarray, std_edges: np.ndarray) -> np.ndarray:
  """`window_features` and the one-hot log-std bin of each channel (`std_edges` `[B - 1, D]`)
  -> `[N, F]`."""
  log_std = _log_std(windows)
  bins = [
    np.searchsorted(std_edges[:, c], log_std[:, c])[:, None] == np.arange(len(std_edges) + 1)
    for c in range(windows.shape[-1])
  ]
  return np.concatenate([window_features(windows), *bins], axis=1)


@dataclasses.dataclass(frozen=True)
class Critic:
  """A fitted logistic regression on standardised window statistics.

  Attributes:
    window: steps of the windows it was fitted on.
    std_edges: `[STD_BINS - 1, D]` inner edges of the log-std bins.
    mean, scale: `[F]` standardisation of the statistics.
    coef: `[F]` weights; intercept: the bias.
  """

  window: int
  std_edges: np.ndarray
  mean: np.ndarray
  scale: np.ndarray
  coef: np.ndarray
  intercept: float

  def window_logits(self, windows: np.ndarray) -> np.ndarray:
    """log p_real / p_model of each window `[M, window, D]` -> `[M]`."""
    features = _features(windows, self.std_edges)
    return (features - self.mean) / self.scale @ self.coef + self.intercept

  def logits(self, series: np.ndarray, labels=None) -> np.ndarray:
    """log p_real / p_model of each series `[N, T, D]`, T >= `window`: the sum over its
    consecutive `window`-step windows (a shorter tail is left out) -> `[N]`. `labels` is
    not used (the signature of `LabelCritics.logits`)."""
    return self.window_logits(_cut(series, self.window)).reshape(len(series), -1).sum(axis=1)

  def to_dict(self) -> dict:
    as_list = lambda a: [float(v) for v in a]
    return {
      "window": self.window,
      "std_edges": [as_list(row) for row in self.std_edges],
      "mean": as_list(self.mean),
      "scale": as_list(self.scale),
      "coef": as_list(self.coef),
      "intercept": self.intercept,
    }

  @classmethod
  def from_dict(cls, d: dict) -> "Critic":
    arrays = {k: np.asarray(d[k], np.float64) for k in ("std_edges", "mean", "scale", "coef")}
    return cls(window=int(d["window"]), intercept=float(d["intercept"]), **arrays)


@dataclasses.dataclass(frozen=True)
class LabelCritics:
  """The critics of a conditioned run, one per label id (`critics`), each fitted on that
  activity's training windows against windows generated under its label; every window of
  a series is scored by the critic of its most frequent label (0 when that label has
  none, e.g. a postural transition too short for a window)."""

  critics: dict

  @property
  def window(self) -> int:
    return next(iter(self.critics.values())).window

  def logits(self, series: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`Critic.logits` of series `[N, T, D]` with per-step labels `[N, T]` -> `[N]`."""
    cut = _cut(series, self.window)
    majority = scipy.stats.mode(_cut(labels[..., None], self.window)[..., 0], axis=1).mode
    logits = np.zeros(len(cut))
    for label, critic in self.critics.items():
      rows = majority == label
      if rows.any():
        logits[rows] = critic.window_logits(cut[rows])
    return logits.reshape(len(series), -1).sum(axis=1)

  def to_dict(self) -> dict:
    return {str(label): critic.to_dict() for label, critic in self.critics.items()}

  @classmethod
  def from_dict(cls, d: dict) -> "LabelCritics":
    return cls({int(label): Critic.from_dict(c) for label, c in d.items()})


def _cut(series: np.ndarray, window: int) -> np.ndarray:
  """Consecutive `window`-step windows of series `[N, T, D]` (a shorter tail is left out)
  -> `[N * (T // window), window, D]`."""
  count = series.shape[1] // window
  if count == 0:
    raise ValueError(f"series of {series.shape[1]} steps: the critic needs {window}")
  return series[:, : count * window].reshape(-1, window, series.shape[-1])


def fit(real: np.ndarray, synthetic: np.ndarray) -> Critic:
  """The critic of `synthetic` `[M, L, D]` against `real` `[N, L, D]` windows: the feature
  judge's classifier (`evaluate.features.judge_model`) on `_features`."""
  quantiles = np.linspace(0.0, 1.0, STD_BINS + 1)[1:-1]
  std_edges = np.quantile(_log_std(real), quantiles, axis=0)
  x = np.concatenate([_features(real, std_edges), _features(synthetic, std_edges)])
  y = np.concatenate([np.ones(len(real)), np.zeros(len(synthetic))])
  scaler, regression = judge_model().fit(x, y)  # The feature judge's classifier.
  return Critic(
    window=real.shape[1],
    std_edges=std_edges,
    mean=scaler.mean_,
    scale=scaler.scale_,
    coef=regression.coef_[0],
    intercept=float(regression.intercept_[0]),
  )


def select(key, logits: np.ndarray, count: int) -> np.ndarray:
  """Indices of `count` of the candidates, drawn without replacement with probability in
  proportion to exp(logits) (Gumbel top-k): `[K]` -> `[count]`."""
  if count > len(logits):
    raise ValueError(f"cannot keep {count} of {len(logits)} candidates")
  perturbed = np.asarray(logits) + np.asarray(jax.random.gumbel(key, (len(logits),)))
  return np.argsort(-perturbed, kind="stable")[:count]


def select_matching(key, logits: np.ndarray, labels: np.ndarray, factor: int) -> np.ndarray:
  """`select` within each set of returned series that share one label sequence, so that
  every kept candidate carries the labels of the series it stands for. `labels` `[N, T]`:
  those of the returned series; candidate i `[factor * N]` was drawn with `labels[i % N]`.
  Returns `[N]` candidate indices, the i-th with the labels of `labels[i]`."""
  _, group = np.unique(labels, axis=0, return_inverse=True)
  group = group.ravel()
  candidate_group = np.tile(group, factor)
  keep = np.empty(len(labels), np.int64)
  for g in np.unique(group):
    rows, candidates = np.flatnonzero(group == g), np.flatnonzero(candidate_group == g)
    chosen = select(jax.random.fold_in(key, int(g)), logits[candidates], len(rows))
    keep[rows] = candidates[chosen]
  return keep


def write(workdir: str, critic, record: dict) -> None:
  """Saves the run's critic (a `Critic`, or `LabelCritics` as "critics") with `record`
  (how it was fitted)."""
  name = "critics" if isinstance(critic, LabelCritics) else "critic"
  fileio.write_json(os.path.join(workdir, FILE), {**record, name: critic.to_dict()})


def read(workdir: str) -> Optional[Union[Critic, LabelCritics]]:
  """The run's `Critic` or `LabelCritics`; None for a run without one."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return None
  try:
    record = fileio.read_json(path)
    if "critics" in record:
      return LabelCritics.from_dict(record["critics"])
    return Critic.from_dict(record["critic"])
  except (KeyError, TypeError, ValueError) as err:
    raise ConfigError(
      f"{path} holds no resampling critic of this version ({err!r}): delete it and refit it "
      "with --mode=calibrate"
    ) from err
