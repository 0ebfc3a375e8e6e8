"""Memorisation metrics of synthetic windows (how close they sit to training windows).

Not to be confused with `sensegen.privacy`, the differentially private training: these
metrics measure leaks empirically, whatever the generator's training.

Windows `[N, L, D]` are compared as flattened L*D vectors by Euclidean distance.
"""

import numpy as np
import sklearn.metrics
import sklearn.neighbors

from sensegen.data.windows import subsample


def scores(train: np.ndarray, test: np.ndarray, synth: np.ndarray, seed: int = 0) -> dict:
  """The report's privacy entries: dcr and membership_auc (train = members, test =
  non-members)."""
  return {
    "dcr": dcr(train, test, synth),
    "membership_auc": membership_auc(train, test, synth, seed=seed),
  }


def nearest_distances(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
  """Euclidean distance of each query window to its nearest reference window.

  Args:
    queries: `[N, L, D]`.
    refs: `[M, L, D]`.

  Returns:
    `[N]` distances.
  """
  flat = lambda x: x.reshape(len(x), -1).astype(np.float64)
  distances, _ = (
    sklearn.neighbors.NearestNeighbors(n_neighbors=1).fit(flat(refs)).kneighbors(flat(queries))
  )
  return distances[:, 0]


def dcr(train: np.ndarray, holdout: np.ndarray, synth: np.ndarray) -> dict:
  """Distance to closest record (DCR) of synthetic and holdout windows.

  Args:
    train: `[N, L, D]` training windows (the records).
    holdout: `[M, L, D]` real windows not used for training.
    synth: `[K, L, D]` synthetic windows.

  Returns:
    {synthetic_median, holdout_median, ratio = synthetic / holdout median};
    ratio is NaN when holdout_median is 0.
  """
  synth_median = float(np.median(nearest_distances(synth, train)))
  holdout_median = float(np.median(nearest_distances(holdout, train)))
  ratio = synth_median / holdout_median if holdout_median > 0 else float("nan")
  return {"synthetic_median": synth_median, "holdout_median": holdout_median, "ratio": ratio}


def membership_auc(
  train_members: np.ndarray, holdout_nonmembers: np.ndarray, synthetic: np.ndarray, seed: int = 0
) -> float:
  """AUC of a distance-based membership attack; 0.5 means no leak.

  A candidate's score is minus its distance to the nearest synthetic window.
  Members and non-members are subsampled (seeded) to equal counts.

  Args:
    train_members: `[N, L, D]` windows the generator was trained on.
    holdout_nonmembers: `[M, L, D]` real windows it never saw.
    synthetic: `[K, L, D]` generated windows.
    seed: seed of the subsampling.

  Returns:
    The ROC AUC of members (positive) vs non-members; ties count one half.
  """
  rng = np.random.default_rng(seed)
  n = min(len(train_members), len(holdout_nonmembers))
  members = subsample(train_members, n, rng)
  nonmembers = subsample(holdout_nonmembers, n, rng)
  scores_ = -np.concatenate(
    [nearest_distances(members, synthetic), nearest_distances(nonmembers, synthetic)]
  )
  is_member = np.concatenate([np.ones(n), np.zeros(n)])
  return float(sklearn.metrics.roc_auc_score(is_member, scores_))
