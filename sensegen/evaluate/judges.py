"""The discriminative score: the stronger of two judges of real vs synthetic windows.

Two judges see different things: a post-hoc LSTM classifier (`classifiers`) reads the
steps in order, a logistic regression on window statistics (`features`) sees a summary
of the whole window. A generator has to fool both, so the score is the larger of their
|accuracy - 0.5| (means over seeds), 0 = indistinguishable, 0.5 = perfectly separable.
"""

import numpy as np
import scipy.stats

from sensegen.errors import DataError
from sensegen.evaluate import classifiers
from sensegen.evaluate import features

# Windows per set at least: with fewer, a judge's accuracy is too coarse to mean anything
# (3 windows per set gave a confident 0.5).
MIN_WINDOWS = 64
CONFIDENCE = 0.95


def score_interval(score: float, count: int) -> list:
  """95% interval [lo, hi] of a score |accuracy - 0.5| measured on `count` windows.

  The score is read as an accuracy 0.5 + score (a judge right more often than not) and
  the Wilson interval of that accuracy over the windows judged is shifted back, its lower
  end clipped at 0. `count` is the number of distinct windows judged: seeds re-judge the
  same windows, so pooling their predictions would overstate the evidence.
  """
  hits = int(round((0.5 + score) * count))
  ci = scipy.stats.binomtest(hits, count).proportion_ci(CONFIDENCE, method="wilson")
  return [float(max(ci.low - 0.5, 0.0)), float(ci.high - 0.5)]


def _summary(scores: list, count: int) -> dict:
  mean = float(np.mean(scores))
  return {"mean": mean, "std": float(np.std(scores)), "ci95": score_interval(mean, count)}


def check_counts(**sets) -> None:
  """Raises DataError unless every set (name=windows) holds at least `MIN_WINDOWS`."""
  for name, x in sets.items():
    if len(x) < MIN_WINDOWS:
      raise DataError(
        f"{name}: {len(x)} windows, a discriminative score needs at least {MIN_WINDOWS} per set"
      )


def discriminative_score(
  real: np.ndarray, synth: np.ndarray, seeds=(0, 1, 2), steps: int = 300
) -> dict:
  """How well the stronger of the LSTM and the feature judge tells the sets apart.

  Args:
    real: `[N, L, D]`, N >= `MIN_WINDOWS`.
    synth: `[M, L, D]`, M >= `MIN_WINDOWS`.
    seeds: one classifier / fold split per seed and judge.
    steps: Adam steps of the LSTM judge.

  Returns:
    {mean, std, ci95, judge, lstm, features}: mean, std over seeds and 95% interval
    (`score_interval`) of the stronger judge, its name ("lstm" or "features"), and
    {mean, std, ci95} of each judge.

  Raises:
    DataError: fewer than `MIN_WINDOWS` windows in a set.
  """
  check_counts(real=real, synthetic=synth)
  lstm_scores, judged = classifiers.lstm_judge_scores(real, synth, seeds=seeds, steps=steps)
  judges = {
    "lstm": _summary(lstm_scores, judged),
    "features": _summary(
      features.feature_scores(real, synth, seeds), 2 * min(len(real), len(synth))
    ),
  }
  stronger = max(judges, key=lambda name: judges[name]["mean"])
  return {**judges[stronger], "judge": stronger, **judges}
