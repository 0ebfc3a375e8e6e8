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
"""

import dataclasses
import os
from typing import Optional

import jax
import numpy as np

from sensegen import fileio
from sensegen.errors import ConfigError
from sensegen.evaluate.features import judge_model
from sensegen.evaluate.features import window_features

__all__ = ["FILE", "STD_BINS", "Critic", "fit", "read", "select", "write"]

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

  def logits(self, series: np.ndarray) -> np.ndarray:
    """log p_real / p_model of each series `[N, T, D]`, T >= `window`: the sum over its
    consecutive `window`-step windows (a shorter tail is left out) -> `[N]`."""
    count = series.shape[1] // self.window
    if count == 0:
      raise ValueError(f"series of {series.shape[1]} steps: the critic needs {self.window}")
    cut = series[:, : count * self.window].reshape(-1, self.window, series.shape[-1])
    features = _features(cut, self.std_edges)
    logits = (features - self.mean) / self.scale @ self.coef + self.intercept
    return logits.reshape(len(series), count).sum(axis=1)

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


def write(workdir: str, critic: Critic, record: dict) -> None:
  """Saves the run's critic with `record` (how it was fitted)."""
  fileio.write_json(os.path.join(workdir, FILE), {**record, "critic": critic.to_dict()})


def read(workdir: str) -> Optional[Critic]:
  """The run's critic; None for a run without one."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return None
  try:
    return Critic.from_dict(fileio.read_json(path)["critic"])
  except (KeyError, TypeError, ValueError) as err:
    raise ConfigError(
      f"{path} holds no resampling critic of this version ({err!r}): delete it and refit it "
      "with --mode=calibrate"
    ) from err
