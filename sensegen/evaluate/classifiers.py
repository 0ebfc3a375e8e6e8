"""Post-hoc LSTM models trained on the windows: can a classifier tell synthetic from real
(the LSTM judge of `judges`), and is synthetic data as useful as real for forecasting
(predictive) or activity recognition?

Each score trains small LSTM models from explicit seeds; several models of one score
train side by side in one vmapped step.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from sensegen import models
from sensegen.data.windows import subsample


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


@functools.partial(
  jax.jit, static_argnames=("hidden", "features", "last_step_only", "learning_rate")
)
def _init(keys, inputs, *, hidden, features, last_step_only, learning_rate):
  """Fresh params and optimiser states of S models, one per key `[S, 2]`."""
  model = models.PosthocLSTM(hidden, features, last_step_only)
  params = jax.vmap(lambda key: model.init(key, inputs[:1]))(keys)
  return params, jax.vmap(_optimizer(learning_rate).init)(params)


@functools.partial(
  jax.jit,
  static_argnames=("hidden", "features", "last_step_only", "loss", "batch_size", "learning_rate"),
)
def _train_step(
  params,
  opt_state,
  keys,
  step,
  inputs,
  targets,
  pools,
  pool_sizes,
  *,
  hidden,
  features,
  last_step_only,
  loss,
  batch_size,
  learning_rate,
):
  """One Adam step of each of S models on its own random batch (vmapped)."""
  model = models.PosthocLSTM(hidden, features, last_step_only)
  tx = _optimizer(learning_rate)

  def update(params, opt_state, key, pool, pool_size):
    batch_key = jax.random.fold_in(key, step)
    idx = pool[jax.random.randint(batch_key, (batch_size,), 0, pool_size)]
    grads = jax.grad(lambda p: _loss(model.apply(p, inputs[idx]), targets[idx], loss))(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  return jax.vmap(update)(params, opt_state, keys, pools, pool_sizes)


def _fit(
  keys,
  inputs,
  targets,
  pools,
  pool_sizes,
  *,
  hidden,
  features,
  last_step_only,
  loss,
  steps,
  batch_size,
  learning_rate,
):
  """Trains S fresh `models.PosthocLSTM` models side by side with Adam.

  Model s draws its batches from `inputs[pools[s, :pool_sizes[s]]]`. Running
  the S models in one vmapped step is cheaper than one after the other on
  CPU, where the sequential scan over time dominates the small matmuls.

  Args:
    keys: `[S, 2]` PRNG keys, for init and batch sampling.
    inputs: `[N, L, D]`.
    targets: `[N]` labels for "bce" and "ce", `[N, L, F]` for "mae".
    pools: `[S, P]` indices into `inputs` each model trains on (padded).
    pool_sizes: `[S]` valid entries of each row of `pools`.
    hidden, features, last_step_only: the model.
    loss: "bce", "ce" or "mae" (see `_loss`).
    steps, batch_size, learning_rate: the optimisation.

  Returns:
    Params with a leading axis S.
  """
  config = dict(
    hidden=hidden, features=features, last_step_only=last_step_only, learning_rate=learning_rate
  )
  init_keys, data_keys = jnp.moveaxis(jax.vmap(jax.random.split)(keys), 1, 0)
  inputs, targets = jnp.asarray(inputs), jnp.asarray(targets)
  pools, pool_sizes = jnp.asarray(pools), jnp.asarray(pool_sizes)
  params, opt_state = _init(init_keys, inputs, **config)
  for step in range(steps):
    params, opt_state = _train_step(
      params,
      opt_state,
      data_keys,
      step,
      inputs,
      targets,
      pools,
      pool_sizes,
      loss=loss,
      batch_size=batch_size,
      **config,
    )
  return params


@functools.partial(jax.jit, static_argnames=("hidden", "features", "last_step_only"))
def _apply(params, inputs, *, hidden, features, last_step_only):
  """Outputs `[S, N, ...]` of S stacked models, model s on `inputs[s]`.

  Args:
    params: params with a leading axis S.
    inputs: `[S, N, L, D]`.
    hidden, features, last_step_only: the model.
  """
  return jax.vmap(models.PosthocLSTM(hidden, features, last_step_only).apply)(params, inputs)


def _two_pools(n_first: int, n_second: int) -> tuple:
  """Pools `[2, P]` and sizes `[2]` of two models trained on stacked windows: model 0
  draws from the first `n_first` rows, model 1 from the `n_second` after them."""
  pools = np.zeros((2, max(n_first, n_second)), np.int32)
  pools[0, :n_first] = np.arange(n_first)
  pools[1, :n_second] = n_first + np.arange(n_second)
  return pools, np.array([n_first, n_second])


def lstm_judge_scores(
  real: np.ndarray,
  synth: np.ndarray,
  seeds=(0, 1, 2),
  hidden: int = 16,
  steps: int = 300,
  batch_size: int = 32,
  learning_rate: float = 3e-3,
  test_fraction: float = 0.2,
) -> tuple:
  """|accuracy - 0.5| of a post-hoc LSTM classifier, real vs synthetic, per seed.

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
    (a score per seed, 0 = indistinguishable and 0.5 = separable; the number of test
    windows each seed's classifier judged).
  """
  n = min(len(real), len(synth))
  rng = np.random.default_rng(seeds[0])
  x = np.concatenate([subsample(real, n, rng), subsample(synth, n, rng)])
  y = np.concatenate([np.ones(n), np.zeros(n)]).astype(np.float32)
  n_test = min(max(1, int(round(test_fraction * 2 * n))), 2 * n - 1)
  orders = np.stack([np.random.default_rng(s).permutation(2 * n) for s in seeds])  # [S, 2n]
  config = dict(hidden=hidden, features=1, last_step_only=True)
  params = _fit(
    jnp.stack([jax.random.PRNGKey(s) for s in seeds]),
    x,
    y,
    orders[:, n_test:],
    np.full(len(seeds), 2 * n - n_test),
    loss="bce",
    steps=steps,
    batch_size=batch_size,
    learning_rate=learning_rate,
    **config,
  )
  test = orders[:, :n_test]  # [S, n_test]
  logits = np.asarray(_apply(params, x[test], **config))[..., 0]
  scores = np.abs(np.mean((logits > 0) == (y[test] > 0.5), axis=1) - 0.5)
  return [float(s) for s in scores], n_test


def predictive_score(
  real_train: np.ndarray,
  real_test: np.ndarray,
  synth: np.ndarray,
  seed: int = 0,
  hidden: int = 16,
  steps: int = 300,
  batch_size: int = 32,
  learning_rate: float = 3e-3,
) -> dict:
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
  x = np.concatenate([synth, real_train])
  key = jax.random.PRNGKey(seed)
  config = dict(hidden=hidden, features=x.shape[-1], last_step_only=False)
  params = _fit(
    jnp.stack([key, key]),
    x[:, :-1],
    x[:, 1:],
    *_two_pools(len(synth), len(real_train)),
    loss="mae",
    steps=steps,
    batch_size=batch_size,
    learning_rate=learning_rate,
    **config,
  )
  inputs = real_test[:, :-1]
  pred = np.asarray(_apply(params, np.stack([inputs, inputs]), **config))
  mae = np.abs(pred - real_test[None, :, 1:]).mean(axis=(1, 2, 3))
  return {"tstr_mae": float(mae[0]), "trtr_mae": float(mae[1])}


def activity_accuracy(
  real_train,
  train_classes,
  real_test,
  test_classes,
  synth,
  synth_classes,
  num_classes: int,
  seed: int = 0,
  hidden: int = 16,
  steps: int = 300,
  batch_size: int = 32,
  learning_rate: float = 3e-3,
) -> dict:
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
  x = np.concatenate([synth, real_train])
  y = np.concatenate([synth_classes, train_classes]).astype(np.int32)
  key = jax.random.PRNGKey(seed)
  config = dict(hidden=hidden, features=num_classes, last_step_only=True)
  params = _fit(
    jnp.stack([key, key]),
    x,
    y,
    *_two_pools(len(synth), len(real_train)),
    loss="ce",
    steps=steps,
    batch_size=batch_size,
    learning_rate=learning_rate,
    **config,
  )
  logits = np.asarray(_apply(params, np.stack([real_test, real_test]), **config))
  accuracy = (logits.argmax(-1) == np.asarray(test_classes)[None]).mean(axis=1)
  return {"tstr_accuracy": float(accuracy[0]), "trtr_accuracy": float(accuracy[1])}
