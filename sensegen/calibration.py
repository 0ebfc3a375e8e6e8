"""The weight temperature a trained generator samples with, fitted to the real data's mix
of quiet and active windows.

Why: how often a free-running generator comes to rest depends steeply on its mixture
weights and differs between seeds of one training recipe (`har_quick`: 2% to 30% quiet
windows against ~22% real). Sharpening (< 1) or flattening (> 1) the weights alone moves
that share without changing any component. The fit picks the value whose generated
windows have the per-window std distribution closest (Kolmogorov-Smirnov) to training
windows'; held-out data stays untouched for the evaluation.
"""

import os
from typing import Callable

import numpy as np
import scipy.stats

from sensegen import fileio
from sensegen.evaluate.stats import window_std

__all__ = [
  "COARSE",
  "COARSE_STEP",
  "FILE",
  "FINE_STEPS",
  "RANGE",
  "fit_weight_temperature",
  "read",
  "write",
]

FILE = "sampling.json"
"""The fit of a run, beside its config.json."""

COARSE = (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)
"""Weight temperatures tried first."""
COARSE_STEP = 0.1
RANGE = (0.3, 2.0)
"""While the best value is the lowest (highest) tried, the search steps on by COARSE_STEP
in that direction (a 3-axis conditioned run fitted at COARSE's lower edge); no value
outside RANGE is tried."""
FINE_STEPS = ((-0.05, -0.025, 0.025, 0.05), (-0.0125, 0.0125))
"""Then, in turn, these offsets from the best value so far: the quiet share moves steeply
with the weight temperature (for one `har_quick` run, from 27% to 9% quiet windows between
0.85 and 0.9)."""


def fit_weight_temperature(draw: Callable[[float], np.ndarray], real: np.ndarray) -> dict:
  """The weight temperature whose windows' stds match `real`'s best.

  Args:
    draw: weight temperature -> generated windows `[N, L, D]` (normalised). Drawing every
      candidate with the same key makes their differences those of the temperature alone.
    real: training windows `[M, L, D]` (normalised).

  Returns:
    {"weight_temperature": the best, "window_std_ks": its KS statistic, "tried": [[weight
    temperature, KS], ...] in increasing temperature}. Ties go to the value nearest 1.
  """
  real_std = window_std(real)
  ks = {}

  def score(wt: float) -> None:
    wt = round(wt, 6)
    if RANGE[0] <= wt <= RANGE[1] and wt not in ks:
      ks[wt] = float(scipy.stats.ks_2samp(real_std, window_std(draw(wt))).statistic)

  best = lambda: min(ks, key=lambda wt: (ks[wt], abs(wt - 1.0)))
  for wt in COARSE:
    score(wt)
  _extend_at_the_edges(score, best, ks)
  for offsets in FINE_STEPS:
    centre = best()
    for offset in offsets:
      score(centre + offset)
  chosen = best()
  return {
    "weight_temperature": chosen,
    "window_std_ks": ks[chosen],
    "tried": [[wt, ks[wt]] for wt in sorted(ks)],
  }


def _extend_at_the_edges(score: Callable, best: Callable, ks: dict) -> None:
  """Scores further coarse values beyond the lowest or highest tried while it is the best."""
  for edge, direction in ((min, -1), (max, 1)):
    while best() == edge(ks):
      before = len(ks)
      score(best() + direction * COARSE_STEP)
      if len(ks) == before:  # Out of RANGE.
        break


def write(workdir: str, fit: dict) -> None:
  """Saves `fit` (`fit_weight_temperature`'s result) as the run's sampling setting."""
  fileio.write_json(os.path.join(workdir, FILE), fit)


def read(workdir: str) -> float:
  """The run's fitted weight temperature; 1 when it has none."""
  path = os.path.join(workdir, FILE)
  if not os.path.exists(path):
    return 1.0
  return float(fileio.read_json(path)["weight_temperature"])
