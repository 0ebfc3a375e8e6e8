"""Fidelity, utility and privacy metrics of synthetic sensor windows.

Everything here works on arrays of windows `[N, L, D]` (N windows, L steps,
D channels), real and synthetic in the same (normalised) space. Metrics are
computed per call from explicit seeds; nothing is cached between calls.

`evaluate` compares the synthetic windows with the real train windows
(fidelity, discriminative), forecasts real test windows (predictive), and
uses train vs test windows as members vs non-members (privacy). It returns a
report dict with exactly these keys:

  discriminative_score: {mean, std} of |accuracy - 0.5| of a post-hoc LSTM
    classifier, real (train) vs synthetic, over seeds (0 = indistinguishable,
    0.5 = perfectly separable).
  predictive_score: {tstr_mae, trtr_mae}: MAE on real test windows of an LSTM
    next-step forecaster trained on synthetic (TSTR) or real train (TRTR).
  marginal_wasserstein: per channel, Wasserstein-1 between the marginals
    (all steps of all windows pooled).
  acf_distance: per channel, mean over lags 1..50 of the absolute difference
    of the mean per-window autocorrelation.
  psd_distance: per channel, mean absolute difference of log10 of the mean
    per-window Welch PSD (DC bin excluded).
  correlation_difference: mean absolute difference of the off-diagonal
    cross-channel correlations (all steps pooled); None when D == 1.
  dcr: {synthetic_median, holdout_median, ratio}: median Euclidean distance
    of synthetic / real test windows to their closest train window, and
    synthetic_median / holdout_median (near 0 = copies, near 1 = holdout-like).
  membership_auc: AUC of a distance-to-synthetic membership attack, train
    windows (members) vs test windows (non-members); 0.5 = no leak.
  counts: {train, test, synthetic}: windows used after subsampling.
  window: L.
  channels: the D channel names.

A non-finite value (e.g. an undefined ratio) is NaN in the dict and null in
`report.json`.
"""

import functools
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.signal
import scipy.stats

from sensegen import fileio
from sensegen import plots
from sensegen.errors import DataError
from sensegen.plots import plt

# Floor of PSD values before log10, so that bins with no power stay finite.
_PSD_FLOOR = 1e-12

# Rows of the markdown table, in order; lists expand to one row per channel.
_REPORT_METRICS = ("discriminative_score", "predictive_score",
                   "marginal_wasserstein", "acf_distance", "psd_distance",
                   "correlation_difference", "dcr", "membership_auc", "counts")

_TARGETS = (
    "discriminative_score: 0 is best (0.5 = perfectly separable).",
    "predictive_score: lower is better; tstr_mae close to trtr_mae means "
    "synthetic data is as useful as real.",
    "marginal_wasserstein, acf_distance, psd_distance, "
    "correlation_difference: 0 is best.",
    "dcr.ratio: near 1 is like fresh real data, near 0 means copies of "
    "training windows.",
    "membership_auc: 0.5 is no leak, 1 is full leak.",
)


# ----------------------------------------------------------------- validation


def check_windows(x, name: str, min_windows: int = 1,
                  min_length: int = 2) -> np.ndarray:
  """Returns `x` as float32 `[N, L, D]`, or raises DataError naming `name`."""
  x = np.asarray(x)
  if x.dtype == object or not (np.issubdtype(x.dtype, np.integer) or
                               np.issubdtype(x.dtype, np.floating)):
    raise DataError(f"{name}: dtype {x.dtype}, expected float windows")
  if x.ndim != 3:
    raise DataError(f"{name}: rank {x.ndim}, expected windows [N, L, D]")
  n, length, channels = x.shape
  if n < min_windows:
    raise DataError(f"{name}: {n} windows, at least {min_windows} needed")
  if length < min_length:
    raise DataError(
        f"{name}: windows of {length} steps, at least {min_length} needed")
  if channels < 1:
    raise DataError(f"{name}: 0 channels")
  if np.isnan(x).any():
    raise DataError(f"{name}: contains NaN")
  if not np.isfinite(x).all():
    raise DataError(f"{name}: contains inf")
  return x.astype(np.float32, copy=False)


def _check_same_shape(x: np.ndarray, name: str, ref: np.ndarray,
                      ref_name: str) -> None:
  """Raises DataError unless `x` has the channels and length of `ref`."""
  if x.shape[2] != ref.shape[2]:
    raise DataError(
        f"{name}: {x.shape[2]} channels, {ref_name} has {ref.shape[2]}")
  if x.shape[1] != ref.shape[1]:
    raise DataError(
        f"{name}: windows of {x.shape[1]} steps, {ref.shape[1]} needed")


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
  """At most `n` windows of `x` without replacement, in a seeded order."""
  if len(x) <= n:
    return x
  return x[np.sort(rng.choice(len(x), n, replace=False))]


# ------------------------------------------------------- distribution metrics


def marginal_wasserstein(real: np.ndarray, synth: np.ndarray) -> list:
  """Per-channel Wasserstein-1 distance of the marginals, all steps pooled.

  Args:
    real: `[N, L, D]`.
    synth: `[M, K, D]`.

  Returns:
    D floats.
  """
  return [float(scipy.stats.wasserstein_distance(real[..., c].ravel(),
                                                 synth[..., c].ravel()))
          for c in range(real.shape[-1])]


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
  lagged = np.stack([np.sum(xc[:, :-k] * xc[:, k:], axis=1)
                     for k in range(1, max_lag + 1)], axis=1)
  safe = np.where(denom > 0, denom, 1.0)[:, None, :]
  return np.where(denom[:, None, :] > 0, lagged / safe, 0.0)


def acf_distance(real: np.ndarray, synth: np.ndarray,
                 max_lag: int = 50) -> list:
  """Per channel, mean over lags of |mean ACF(real) - mean ACF(synth)|.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    max_lag: largest lag; capped at L - 1.

  Returns:
    D floats (mean absolute difference over lags 1..max_lag).
  """
  max_lag = min(max_lag, real.shape[1] - 1, synth.shape[1] - 1)
  diff = np.abs(autocorrelation(real, max_lag).mean(axis=0) -
                autocorrelation(synth, max_lag).mean(axis=0))  # [lags, D]
  return [float(v) for v in diff.mean(axis=0)]


def mean_log_psd(x: np.ndarray, fs: float) -> tuple:
  """Frequencies and log10 of the mean per-window Welch PSD, DC excluded.

  Args:
    x: `[N, L, D]`.
    fs: sampling rate in Hz.

  Returns:
    (frequencies `[F]`, log10 PSD `[F, D]`).
  """
  freqs, psd = scipy.signal.welch(x, fs=fs, nperseg=min(x.shape[1], 128),
                                  axis=1)  # psd: [N, F, D]
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


# ----------------------------------------------------------- privacy metrics


def nearest_distances(queries: np.ndarray, refs: np.ndarray,
                      chunk_size: int = 256) -> np.ndarray:
  """Euclidean distance of each query window to its nearest reference window.

  Windows are flattened to L*D vectors. Queries go in chunks so that memory
  stays at `chunk_size x M` distances plus one float64 copy of each set.

  Args:
    queries: `[N, L, D]`.
    refs: `[M, L, D]`.
    chunk_size: queries per block.

  Returns:
    `[N]` distances.
  """
  q = queries.reshape(len(queries), -1).astype(np.float64)
  r = refs.reshape(len(refs), -1).astype(np.float64)
  r_sq = np.sum(r * r, axis=1)
  out = np.empty(len(q))
  for start in range(0, len(q), chunk_size):
    block = q[start:start + chunk_size]
    d2 = np.sum(block * block, axis=1)[:, None] + r_sq[None] - 2 * block @ r.T
    # The expansion can dip just below 0 for (near) identical windows.
    out[start:start + chunk_size] = np.sqrt(np.maximum(d2.min(axis=1), 0.0))
  return out


def dcr(train: np.ndarray, holdout: np.ndarray, synth: np.ndarray,
        chunk_size: int = 256) -> dict:
  """Distance to closest record (DCR) of synthetic and holdout windows.

  Args:
    train: `[N, L, D]` training windows (the records).
    holdout: `[M, L, D]` real windows not used for training.
    synth: `[K, L, D]` synthetic windows.
    chunk_size: queries per block of the distance matrix.

  Returns:
    {synthetic_median, holdout_median, ratio = synthetic / holdout median};
    ratio is NaN when holdout_median is 0.
  """
  synth_median = float(np.median(nearest_distances(synth, train, chunk_size)))
  holdout_median = float(
      np.median(nearest_distances(holdout, train, chunk_size)))
  ratio = synth_median / holdout_median if holdout_median > 0 else float("nan")
  return {"synthetic_median": synth_median, "holdout_median": holdout_median,
          "ratio": ratio}


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
  """P(positive score > negative score) + P(tie) / 2, by Mann-Whitney ranks.

  Args:
    positive: `[N]` scores.
    negative: `[M]` scores.

  Returns:
    The ROC AUC in [0, 1].
  """
  ranks = scipy.stats.rankdata(np.concatenate([positive, negative]))
  n_pos, n_neg = len(positive), len(negative)
  u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
  return float(u / (n_pos * n_neg))


def membership_auc(train_members: np.ndarray, holdout_nonmembers: np.ndarray,
                   synthetic: np.ndarray, seed: int = 0,
                   chunk_size: int = 256) -> float:
  """AUC of a distance-based membership attack; 0.5 means no leak.

  A candidate's score is minus its distance to the nearest synthetic window.
  Members and non-members are subsampled (seeded) to equal counts.

  Args:
    train_members: `[N, L, D]` windows the generator was trained on.
    holdout_nonmembers: `[M, L, D]` real windows it never saw.
    synthetic: `[K, L, D]` generated windows.
    seed: seed of the subsampling.
    chunk_size: queries per block of the distance matrix.

  Returns:
    The AUC of members vs non-members.
  """
  rng = np.random.default_rng(seed)
  n = min(len(train_members), len(holdout_nonmembers))
  members = _subsample(train_members, n, rng)
  nonmembers = _subsample(holdout_nonmembers, n, rng)
  return auc(-nearest_distances(members, synthetic, chunk_size),
             -nearest_distances(nonmembers, synthetic, chunk_size))


# ------------------------------------------------------ post-hoc LSTM models


class _Recurrent(nn.Module):
  """LSTM over time then a Dense head: `[B, L, D]` -> `[B, F]` or `[B, L, F]`.

  Attributes:
    hidden: LSTM units.
    features: outputs per step.
    last_step_only: keep only the last step's output (sequence classifier).
  """
  hidden: int
  features: int
  last_step_only: bool

  @nn.compact
  def __call__(self, x):
    h = nn.RNN(nn.OptimizedLSTMCell(self.hidden))(x)  # [B, L, hidden]
    if self.last_step_only:
      h = h[:, -1]
    return nn.Dense(self.features)(h)


def _loss(out, target, kind: str):
  """Binary cross-entropy on logits `[B, 1]`, softmax cross-entropy on logits `[B, C]`
  with integer targets ("ce"), or MAE on `[B, L, F]`."""
  if kind == "bce":
    return optax.sigmoid_binary_cross_entropy(out[:, 0], target).mean()
  if kind == "ce":
    return optax.softmax_cross_entropy_with_integer_labels(out, target).mean()
  return jnp.abs(out - target).mean()


def _optimizer(learning_rate: float):
  """Adam with global-norm clipping, so early LSTM steps cannot blow up."""
  return optax.chain(optax.clip_by_global_norm(1.0), optax.adam(learning_rate))


@functools.partial(jax.jit, static_argnames=(
    "hidden", "features", "last_step_only", "learning_rate"))
def _init(keys, inputs, *, hidden, features, last_step_only, learning_rate):
  """Fresh params and optimiser states of S models, one per key `[S, 2]`."""
  model = _Recurrent(hidden, features, last_step_only)
  params = jax.vmap(lambda key: model.init(key, inputs[:1]))(keys)
  return params, jax.vmap(_optimizer(learning_rate).init)(params)


@functools.partial(jax.jit, static_argnames=(
    "hidden", "features", "last_step_only", "loss", "batch_size",
    "learning_rate"))
def _train_step(params, opt_state, keys, step, inputs, targets, pools,
                pool_sizes, *, hidden, features, last_step_only, loss,
                batch_size, learning_rate):
  """One Adam step of each of S models on its own random batch (vmapped)."""
  model = _Recurrent(hidden, features, last_step_only)
  tx = _optimizer(learning_rate)

  def update(params, opt_state, key, pool, pool_size):
    batch_key = jax.random.fold_in(key, step)
    idx = pool[jax.random.randint(batch_key, (batch_size,), 0, pool_size)]
    grads = jax.grad(lambda p: _loss(model.apply(p, inputs[idx]),
                                     targets[idx], loss))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return jax.vmap(update)(params, opt_state, keys, pools, pool_sizes)


def _fit(keys, inputs, targets, pools, pool_sizes, *, hidden, features,
         last_step_only, loss, steps, batch_size, learning_rate):
  """Trains S fresh `_Recurrent` models side by side with Adam.

  Model s draws its batches from `inputs[pools[s, :pool_sizes[s]]]`. Running
  the S models in one vmapped step is cheaper than one after the other on
  CPU, where the sequential scan over time dominates the small matmuls.

  Args:
    keys: `[S, 2]` PRNG keys, for init and batch sampling.
    inputs: `[N, L, D]`.
    targets: `[N]` labels for "bce", `[N, L, F]` for "mae".
    pools: `[S, P]` indices into `inputs` each model trains on (padded).
    pool_sizes: `[S]` valid entries of each row of `pools`.
    hidden, features, last_step_only: the model.
    loss: "bce" or "mae".
    steps, batch_size, learning_rate: the optimisation.

  Returns:
    Params with a leading axis S.
  """
  config = dict(hidden=hidden, features=features,
                last_step_only=last_step_only, learning_rate=learning_rate)
  init_keys, data_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
  inputs, targets = jnp.asarray(inputs), jnp.asarray(targets)
  pools, pool_sizes = jnp.asarray(pools), jnp.asarray(pool_sizes)
  params, opt_state = _init(init_keys, inputs, **config)
  for step in range(steps):
    params, opt_state = _train_step(params, opt_state, data_keys, step, inputs,
                                    targets, pools, pool_sizes, loss=loss,
                                    batch_size=batch_size, **config)
  return params


@functools.partial(jax.jit,
                   static_argnames=("hidden", "features", "last_step_only"))
def _apply(params, inputs, *, hidden, features, last_step_only):
  """Outputs `[S, N, ...]` of S stacked models, model s on `inputs[s]`.

  Args:
    params: params with a leading axis S.
    inputs: `[S, N, L, D]`.
    hidden, features, last_step_only: the model.
  """
  return jax.vmap(_Recurrent(hidden, features, last_step_only).apply)(
      params, inputs)


def discriminative_score(real: np.ndarray, synth: np.ndarray,
                         seeds=(0, 1, 2), hidden: int = 16, steps: int = 300,
                         batch_size: int = 32, learning_rate: float = 3e-3,
                         test_fraction: float = 0.2) -> dict:
  """|accuracy - 0.5| of a post-hoc LSTM classifier, real vs synthetic.

  Equal counts of real (label 1) and synthetic (label 0) windows are pooled;
  per seed, the pool is split (seeded) into train / test, a fresh
  LSTM(hidden) -> Dense(1) classifier on the last step is trained on the
  train part and its accuracy measured on the test part.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    seeds: one classifier (split, init, batches) per seed.
    hidden: LSTM units.
    steps: Adam steps.
    batch_size: windows per step.
    learning_rate: Adam learning rate.
    test_fraction: held-out share of the pool.

  Returns:
    {mean, std} over seeds (0 = indistinguishable, 0.5 = separable).
  """
  n = min(len(real), len(synth))
  rng = np.random.default_rng(seeds[0])
  x = np.concatenate([_subsample(real, n, rng), _subsample(synth, n, rng)])
  y = np.concatenate([np.ones(n), np.zeros(n)]).astype(np.float32)
  n_test = min(max(1, int(round(test_fraction * 2 * n))), 2 * n - 1)
  orders = np.stack([np.random.default_rng(s).permutation(2 * n)
                     for s in seeds])  # [S, 2n]
  config = dict(hidden=hidden, features=1, last_step_only=True)
  params = _fit(jnp.stack([jax.random.PRNGKey(s) for s in seeds]), x, y,
                orders[:, n_test:], np.full(len(seeds), 2 * n - n_test),
                loss="bce", steps=steps, batch_size=batch_size,
                learning_rate=learning_rate, **config)
  test = orders[:, :n_test]  # [S, n_test]
  logits = np.asarray(_apply(params, x[test], **config))[..., 0]
  scores = np.abs(np.mean((logits > 0) == (y[test] > 0.5), axis=1) - 0.5)
  return {"mean": float(np.mean(scores)), "std": float(np.std(scores))}


def predictive_score(real_train: np.ndarray, real_test: np.ndarray,
                     synth: np.ndarray, seed: int = 0, hidden: int = 16,
                     steps: int = 300, batch_size: int = 32,
                     learning_rate: float = 3e-3) -> dict:
  """Train-on-synthetic / train-on-real next-step forecasting MAE.

  An LSTM(hidden) -> Dense(D) predicts x[t+1] (all channels) from x[:t+1];
  one is trained on `synth` (TSTR), one on `real_train` (TRTR), same seed,
  both scored by MAE over all steps and channels of `real_test`.

  Args:
    real_train: `[N, L, D]`.
    real_test: `[M, L, D]`.
    synth: `[K, L, D]`.
    seed: init and batch seed of both forecasters.
    hidden: LSTM units.
    steps: Adam steps.
    batch_size: windows per step.
    learning_rate: Adam learning rate.

  Returns:
    {tstr_mae, trtr_mae}.
  """
  n_synth, n_real = len(synth), len(real_train)
  x = np.concatenate([synth, real_train])
  # Row 0 draws from the synthetic windows, row 1 from the real ones.
  pools = np.zeros((2, max(n_synth, n_real)), np.int32)
  pools[0, :n_synth] = np.arange(n_synth)
  pools[1, :n_real] = n_synth + np.arange(n_real)
  key = jax.random.PRNGKey(seed)
  config = dict(hidden=hidden, features=x.shape[-1], last_step_only=False)
  params = _fit(jnp.stack([key, key]), x[:, :-1], x[:, 1:], pools,
                np.array([n_synth, n_real]), loss="mae", steps=steps,
                batch_size=batch_size, learning_rate=learning_rate, **config)
  inputs = real_test[:, :-1]
  pred = np.asarray(_apply(params, np.stack([inputs, inputs]), **config))
  mae = np.abs(pred - real_test[None, :, 1:]).mean(axis=(1, 2, 3))
  return {"tstr_mae": float(mae[0]), "trtr_mae": float(mae[1])}


def activity_accuracy(real_train, train_classes, real_test, test_classes, synth,
                      synth_classes, num_classes: int, seed: int = 0, hidden: int = 16,
                      steps: int = 300, batch_size: int = 32,
                      learning_rate: float = 3e-3) -> dict:
  """Train-on-synthetic / train-on-real activity recognition accuracy.

  An LSTM(hidden) -> Dense(num_classes) classifier on the last step is trained on
  labelled synthetic windows (TSTR) and, separately, on real train windows (TRTR);
  both are scored by accuracy on the real test windows.

  Args:
    real_train, real_test, synth: windows `[N, L, D]`.
    train_classes, test_classes, synth_classes: class ids in [0, num_classes) `[N]`.
    num_classes: classifier outputs.
    seed, hidden, steps, batch_size, learning_rate: as in `predictive_score`.

  Returns:
    {tstr_accuracy, trtr_accuracy}.
  """
  n_synth, n_real = len(synth), len(real_train)
  x = np.concatenate([synth, real_train])
  y = np.concatenate([synth_classes, train_classes]).astype(np.int32)
  pools = np.zeros((2, max(n_synth, n_real)), np.int32)
  pools[0, :n_synth] = np.arange(n_synth)
  pools[1, :n_real] = n_synth + np.arange(n_real)
  key = jax.random.PRNGKey(seed)
  config = dict(hidden=hidden, features=num_classes, last_step_only=True)
  params = _fit(jnp.stack([key, key]), x, y, pools, np.array([n_synth, n_real]),
                loss="ce", steps=steps, batch_size=batch_size,
                learning_rate=learning_rate, **config)
  logits = np.asarray(_apply(params, np.stack([real_test, real_test]), **config))
  accuracy = (logits.argmax(-1) == np.asarray(test_classes)[None]).mean(axis=1)
  return {"tstr_accuracy": float(accuracy[0]), "trtr_accuracy": float(accuracy[1])}


# ------------------------------------------------------------ embeddings


def window_features(x: np.ndarray) -> np.ndarray:
  """Per-window mean over channels (as in TimeGAN): `[N, L, D]` -> `[N, L]`."""
  return x.mean(axis=2)


def pca_2d(features: np.ndarray) -> np.ndarray:
  """Projection on the first two principal components: `[N, F]` -> `[N, 2]`."""
  centred = features - features.mean(axis=0)
  _, _, vt = np.linalg.svd(centred, full_matrices=False)
  # Fix each component's sign so the result does not depend on the SVD.
  pivots = vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)]
  vt = vt * np.sign(pivots)[:, None]
  out = np.zeros((len(features), 2))
  k = min(2, len(vt))
  out[:, :k] = centred @ vt[:k].T
  return out


def _squared_distances(x: np.ndarray) -> np.ndarray:
  """`[N, F]` -> `[N, N]` squared Euclidean distances."""
  sq = np.sum(x * x, axis=1)
  return np.maximum(sq[:, None] + sq[None] - 2 * x @ x.T, 0.0)


def _tsne_affinities(d2: np.ndarray, perplexity: float) -> np.ndarray:
  """Symmetric t-SNE input affinities `[N, N]` by bisection on precisions."""
  n = len(d2)
  log_lo, log_hi = np.full(n, -20.0), np.full(n, 20.0)
  target = np.log(perplexity)
  mask = ~np.eye(n, dtype=bool)
  # Scale per row so exp() neither under- nor overflows for any bandwidth.
  d2 = d2 / np.maximum(np.median(d2, axis=1, keepdims=True), 1e-12)
  for _ in range(64):
    mid = (log_lo + log_hi) / 2
    logits = np.where(mask, -np.exp(mid)[:, None] * d2, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    entropy = -np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-300)), 0.0),
                      axis=1)
    too_flat = entropy > target  # need a larger precision
    log_lo = np.where(too_flat, mid, log_lo)
    log_hi = np.where(too_flat, log_hi, mid)
  return np.maximum((p + p.T) / (2 * n), 1e-12)


def tsne_2d(features: np.ndarray, seed: int = 0, perplexity: float = 30.0,
            iterations: int = 500) -> np.ndarray:
  """Exact t-SNE to 2-D (O(N^2) memory; meant for a few hundred points).

  Args:
    features: `[N, F]`, N >= 2.
    seed: seed of the initial layout.
    perplexity: effective neighbours; capped at (N - 1) / 3.
    iterations: gradient steps (the first 100 with early exaggeration).

  Returns:
    `[N, 2]`.
  """
  n = len(features)
  x = (features - features.mean(axis=0)).astype(np.float64)
  perplexity = min(perplexity, max((n - 1) / 3, 1.0))
  p = _tsne_affinities(_squared_distances(x), perplexity)
  y = np.random.default_rng(seed).normal(0.0, 1e-4, (n, 2))
  velocity, gains = np.zeros_like(y), np.ones_like(y)
  learning_rate = max(n / 48, 50.0)
  for it in range(iterations):
    num = 1.0 / (1.0 + _squared_distances(y))
    np.fill_diagonal(num, 0.0)
    q = np.maximum(num / num.sum(), 1e-12)
    exaggeration = 12.0 if it < 100 else 1.0
    w = (exaggeration * p - q) * num
    grad = 4.0 * (w.sum(axis=1)[:, None] * y - w @ y)
    gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2,
                     gains * 0.8).clip(0.01)
    momentum = 0.5 if it < 250 else 0.8
    velocity = momentum * velocity - learning_rate * gains * grad
    y = y + velocity
    y -= y.mean(axis=0)
  return y


# ------------------------------------------------------------------- output


def _write_text(path: str, text: str) -> str:
  """Writes `text` to `path` atomically; returns `path`."""
  with fileio.atomic_open(path) as f:
    f.write(text)
  return path


def plot_embedding(real: np.ndarray, synth: np.ndarray, path: str,
                   method: str = "pca", seed: int = 0,
                   max_points: int = 500) -> str:
  """Scatter of real and synthetic windows in a joint 2-D embedding.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    path: PNG to write.
    method: "pca" or "tsne", fitted on both sets' `window_features`.
    seed: subsampling (and t-SNE) seed.
    max_points: windows per set at most.

  Returns:
    `path`.
  """
  if method not in ("pca", "tsne"):
    raise ValueError(f"method: {method!r}, expected 'pca' or 'tsne'")
  rng = np.random.default_rng(seed)
  real = _subsample(real, max_points, rng)
  synth = _subsample(synth, max_points, rng)
  features = window_features(np.concatenate([real, synth]))
  emb = pca_2d(features) if method == "pca" else tsne_2d(features, seed=seed)
  fig, ax = plt.subplots(figsize=(5, 5))
  ax.scatter(*emb[:len(real)].T, s=6, alpha=0.5, c="tab:red", label="real")
  ax.scatter(*emb[len(real):].T, s=6, alpha=0.5, c="tab:blue",
             label="synthetic")
  ax.set_title(f"{method.upper() if method == 'pca' else 't-SNE'}: "
               "real vs synthetic")
  ax.legend()
  fig.tight_layout()
  plots.save_png(fig, path, dpi=120)
  return path


def plot_trace_grid(real: np.ndarray, synth: np.ndarray, path: str,
                    channels, num_examples: int = 3, seed: int = 0) -> str:
  """Grid of example traces: one row per channel, columns real | synthetic.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    path: PNG to write.
    channels: D channel names.
    num_examples: windows overlaid per panel (chosen with `seed`).
    seed: choice of windows.

  Returns:
    `path`.
  """
  rng = np.random.default_rng(seed)
  sets = (("real", _subsample(real, num_examples, rng)),
          ("synthetic", _subsample(synth, num_examples, rng)))
  d = real.shape[-1]
  fig, axes = plt.subplots(d, 2, figsize=(10, 2 * d), sharex=True,
                           sharey="row", squeeze=False)
  for col, (title, windows) in enumerate(sets):
    axes[0, col].set_title(title)
    for c in range(d):
      axes[c, col].plot(windows[..., c].T, lw=0.8)
      axes[c, 0].set_ylabel(channels[c])
  for col in range(2):
    axes[-1, col].set_xlabel("step")
  fig.tight_layout()
  plots.save_png(fig, path, dpi=120)
  return path


# ------------------------------------------------------------------- report


def evaluate(real_train, real_test, synthetic, *, sample_rate_hz: float,
             channels, seed: int = 0, max_windows: int = 1000,
             quick: bool = False, steps: int = 300) -> dict:
  """All metrics of `synthetic` against the real data (see module docstring).

  Each set is first subsampled (seeded, without replacement) to at most
  `max_windows` windows. `quick` trades accuracy for speed: 60 instead of
  300 training steps per LSTM and at most 256 windows per set.

  Args:
    real_train: `[N, L, D]` windows the generator was trained on.
    real_test: `[M, L, D]` held-out real windows.
    synthetic: `[K, L, D]` generated windows.
    sample_rate_hz: sampling rate, for the PSD.
    channels: D channel names.
    seed: seed of subsampling, classifiers and forecasters.
    max_windows: windows per set at most.
    quick: fast, rough settings (for smoke tests).
    steps: training steps of the post-hoc classifier and forecasters.

  Returns:
    The report dict.

  Raises:
    DataError: a set is not finite `[N, L, D]`, or shapes disagree.
  """
  real_train = check_windows(real_train, "real_train", min_windows=2,
                             min_length=3)
  real_test = check_windows(real_test, "real_test", min_windows=2,
                            min_length=3)
  synthetic = check_windows(synthetic, "synthetic", min_windows=2,
                            min_length=3)
  _check_same_shape(real_test, "real_test", real_train, "real_train")
  _check_same_shape(synthetic, "synthetic", real_train, "real data")
  channels = [str(c) for c in channels]
  if len(channels) != real_train.shape[2]:
    raise DataError(f"channels: {len(channels)} names, real data has "
                    f"{real_train.shape[2]} channels")
  if not sample_rate_hz > 0:
    raise DataError(f"sample_rate_hz: {sample_rate_hz}, must be positive")

  steps = min(steps, 60) if quick else steps
  max_windows = min(max_windows, 256) if quick else max_windows
  rng = np.random.default_rng(seed)
  train, test, synth = (_subsample(x, max_windows, rng)
                        for x in (real_train, real_test, synthetic))
  seeds = (seed, seed + 1, seed + 2)
  return {
      "discriminative_score": discriminative_score(train, synth, seeds=seeds,
                                                   steps=steps),
      "predictive_score": predictive_score(train, test, synth, seed=seed,
                                           steps=steps),
      "marginal_wasserstein": marginal_wasserstein(train, synth),
      "acf_distance": acf_distance(train, synth),
      "psd_distance": psd_distance(train, synth, sample_rate_hz),
      "correlation_difference": correlation_difference(train, synth),
      "dcr": dcr(train, test, synth),
      "membership_auc": membership_auc(train, test, synth, seed=seed),
      "counts": {"train": len(train), "test": len(test),
                 "synthetic": len(synth)},
      "window": int(train.shape[1]),
      "channels": channels,
  }


def _json_safe(value):
  """`value` with NaN / inf floats replaced by None, recursively."""
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(v) for v in value]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def _metric_rows(report: dict, channels) -> dict:
  """Flattens a report to {row label: value}, one row per scalar."""
  rows = {}
  for key in _REPORT_METRICS:
    value = report.get(key)
    if isinstance(value, dict):
      rows.update({f"{key}.{k}": v for k, v in value.items()})
    elif isinstance(value, (list, tuple)):
      rows.update({f"{key}[{c}]": v for c, v in zip(channels, value)})
    else:
      rows[key] = value
  return rows


def _format(value) -> str:
  """A table cell: 4 significant digits, "n/a" for None / NaN."""
  if value is None or (isinstance(value, float) and not np.isfinite(value)):
    return "n/a"
  if isinstance(value, (int, np.integer)):
    return str(int(value))
  return f"{value:.4g}"


def markdown_table(report: dict, baselines=None) -> str:
  """Markdown table, rows = metrics, columns = "model" + each baseline."""
  baselines = baselines or {}
  channels = report["channels"]
  columns = {"model": _metric_rows(report, channels)}
  columns.update({name: _metric_rows(r, channels)
                  for name, r in baselines.items()})
  lines = ["| metric | " + " | ".join(columns) + " |",
           "|---|" + "---:|" * len(columns)]
  for label in columns["model"]:
    cells = [_format(col.get(label)) for col in columns.values()]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def write_report(report: dict, out_dir: str, baselines=None) -> tuple:
  """Writes `report.json` and `report.md` into `out_dir`, atomically.

  Args:
    report: the dict from `evaluate`.
    out_dir: directory (created if missing).
    baselines: {name: report dict of that baseline}, or None.

  Returns:
    (json path, markdown path).
  """
  baselines = dict(baselines or {})
  os.makedirs(out_dir, exist_ok=True)
  payload = _json_safe({**report, "baselines": baselines})
  json_path = _write_text(os.path.join(out_dir, "report.json"),
                          json.dumps(payload, indent=2, allow_nan=False) + "\n")
  md = "\n".join([
      "# Evaluation report", "",
      f"Window: {report['window']} steps; channels: "
      f"{', '.join(report['channels'])}.", "",
      *([f"Privacy: the generator spent epsilon = {report['privacy']['epsilon']:.4g} at "
         f"delta = {report['privacy']['delta']:g} ({report['privacy']['unit']}).", ""]
        if report.get("privacy") else []),
      markdown_table(report, baselines), "",
      *(f"- {line}" for line in _TARGETS), ""])
  md_path = _write_text(os.path.join(out_dir, "report.md"), md)
  return json_path, md_path
