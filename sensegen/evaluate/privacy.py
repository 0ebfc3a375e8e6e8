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


def nearest_distances(queries: np.ndarray, refs: np.ndarray, k: int = 1) -> np.ndarray:
  """Euclidean distances of each query window to its `k` nearest reference windows.

  Args:
    queries: `[N, L, D]`.
    refs: `[M, L, D]`.
    k: neighbours per query.

  Returns:
    `[N]` distances to the nearest (k = 1), else `[N, k]`, nearest first.
  """
  flat = lambda x: x.reshape(len(x), -1).astype(np.float64)
  distances, _ = (
    sklearn.neighbors.NearestNeighbors(n_neighbors=k).fit(flat(refs)).kneighbors(flat(queries))
  )
  return distances[:, 0] if k == 1 else distances


def dcr(train: np.ndarray, holdout: np.ndarray, synth: np.ndarray) -> dict:
  """Distance to closest record (DCR) and nearest-neighbour distance ratio (NNDR).

  DCR scales with amplitude: synthetic windows slightly quieter than real ones sit
  closer to every record without copying any. NNDR, the distance to the nearest
  record over the distance to the second nearest, is scale-free: near 0 for a copy
  of one record, near 1 for a window no closer to one record than to the next.

  Args:
    train: `[N, L, D]` training windows (the records), N >= 2.
    holdout: `[M, L, D]` real windows not used for training.
    synth: `[K, L, D]` synthetic windows.

  Returns:
    {synthetic_median, holdout_median, ratio = synthetic / holdout median DCR,
    nndr_synthetic_median, nndr_holdout_median, nndr_ratio}; a ratio is NaN when
    its denominator is 0.
  """
  ratio = lambda a, b: a / b if b > 0 else float("nan")
  synth_d, holdout_d = (nearest_distances(x, train, k=2) for x in (synth, holdout))
  medians = [float(np.median(d[:, 0])) for d in (synth_d, holdout_d)]
  nndr = [float(np.median(_nndr(d))) for d in (synth_d, holdout_d)]
  return {
    "synthetic_median": medians[0],
    "holdout_median": medians[1],
    "ratio": ratio(*medians),
    "nndr_synthetic_median": nndr[0],
    "nndr_holdout_median": nndr[1],
    "nndr_ratio": ratio(*nndr),
  }


def _nndr(distances: np.ndarray) -> np.ndarray:
  """`[N, 2]` nearest and second-nearest distances -> `[N]` ratios (1 where both are 0)."""
  first, second = distances[:, 0], distances[:, 1]
  return np.where(second > 0, first / np.where(second > 0, second, 1.0), 1.0)


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
