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
(`evaluate.features.window_features`): resampled windows are matched to exactly what that
judge looks at, so its score is no independent witness of them; the LSTM judge, the
spectrum, autocorrelation and regime statistics are. Arrays are normalised windows
`[N, L, D]` of the run's channels.
"""

import dataclasses
import os
from typing import Optional

import jax
import numpy as np
import sklearn.linear_model
import sklearn.pipeline
import sklearn.preprocessing

from sensegen import fileio
from sensegen.evaluate.features import window_features

__all__ = ["FILE", "Critic", "fit", "read", "select", "write"]

FILE = "resampling.json"
"""A run's critic, beside its config.json."""
# L2 regularisation (inverse strength) and iterations of the critic's logistic regression.
_C = 1.0
_MAX_ITER = 2000


@dataclasses.dataclass(frozen=True)
class Critic:
  """A fitted logistic regression on standardised window statistics.

  Attributes:
    window: steps of the windows it was fitted on.
    mean, scale: `[F]` standardisation of the statistics.
    coef: `[F]` weights; intercept: the bias.
  """

  window: int
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
    logits = (window_features(cut) - self.mean) / self.scale @ self.coef + self.intercept
    return logits.reshape(len(series), count).sum(axis=1)

  def to_dict(self) -> dict:
    as_list = lambda a: [float(v) for v in a]
    return {
      "window": self.window,
      "mean": as_list(self.mean),
      "scale": as_list(self.scale),
      "coef": as_list(self.coef),
      "intercept": self.intercept,
    }

  @classmethod
  def from_dict(cls, d: dict) -> "Critic":
    arrays = {k: np.asarray(d[k], np.float64) for k in ("mean", "scale", "coef")}
    return cls(window=int(d["window"]), intercept=float(d["intercept"]), **arrays)


def fit(real: np.ndarray, synthetic: np.ndarray) -> Critic:
  """The critic of `synthetic` `[M, L, D]` against `real` `[N, L, D]` windows."""
  x = np.concatenate([window_features(real), window_features(synthetic)])
  y = np.concatenate([np.ones(len(real)), np.zeros(len(synthetic))])
  scaler = sklearn.preprocessing.StandardScaler()
  regression = sklearn.linear_model.LogisticRegression(C=_C, max_iter=_MAX_ITER)
  sklearn.pipeline.make_pipeline(scaler, regression).fit(x, y)
  return Critic(
    window=real.shape[1],
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
  return Critic.from_dict(fileio.read_json(path)["critic"])
