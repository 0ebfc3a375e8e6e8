"""Differentially private training of the generator (DP-SGD) and its privacy accounting.

DP-SGD (Abadi et al., 2016): every step computes one gradient per example, clips each
to L2 norm `clip_norm`, sums them, adds Gaussian noise of std `noise_multiplier *
clip_norm` and divides by the batch size. The generator's parameters are a function
of these noisy sums only, so releasing them costs no more than the accounted budget.

What an example is. One example is one stream's truncated-BPTT chunk: `bptt_steps`
inputs and targets of one session, with the recurrent state carried in from the
stream's previous chunks. Consecutive chunks of one recording are different examples,
so the guarantee is per chunk-window, NOT per recording, subject or user: a recording
read through m chunks is protected only by group privacy over m examples, i.e.
(m * eps, m * exp((m - 1) * eps) * delta), which is vacuous for long recordings.
Two further caveats:
- the carried state makes a chunk's gradient depend on the earlier chunks of its
  stream; the accounting treats each (chunk, incoming state) pair as an independent
  example. Resetting the state at every chunk (all `batch["reset"]` True) makes each
  example exactly one window of `bptt_steps + 1` steps.
- streams start at random offsets, so two streams can overlap in one session and a
  time step can sit in two examples of one batch.

Accounting. `epsilon` runs dp-accounting's RDP accountant on `steps` compositions of
a Poisson-subsampled Gaussian mechanism, with add/remove-one-example neighbours. It
ASSUMES that every step's batch is a Poisson sample in which each example appears
independently with probability q = batch_size / number_of_examples, where
number_of_examples = (time steps of all training sessions) // bptt_steps
(`sampling_probability`). The trainer does not sample that way: it draws a fixed
number of streams that read sessions contiguously. Accounting fixed-size or shuffled
batches as if they were Poisson is an approximation commonly made in practice (Abadi
et al., 2016, and the DP libraries built on it), not a proof: it can under-estimate
epsilon (Chua et al., "How Private are DP-SGD Implementations?", ICML 2024). The
reported epsilon is that of the idealised Poisson-sampled mechanism.

What is not private. Only the generator's parameters are covered. The training
metrics (`train_nll`, `grad_norm`, `clipped_fraction`) are computed from the raw
batch, and the alternating schedule's discriminator is trained on raw data without
noise: neither it nor its accuracies may be released.
"""

import dataclasses

import jax
import jax.numpy as jnp
import optax

from sensegen import steps
from sensegen.errors import ConfigError

__all__ = [
  "PrivacyBudget",
  "epsilon",
  "make_dp_generator_step",
  "make_dp_optimizer",
  "noise_for_target_epsilon",
  "per_example_gradients",
  "private_mean_gradient",
  "sampling_probability",
]


def make_dp_optimizer(learning_rate, decay: float, optimizer: str = "rmsprop"):
  """`steps.make_optimizer`'s update rule (`learning_rate` may be a schedule), without its
  global-norm clip.

  Per-example clipping already bounds every example's contribution. The noisy mean's
  norm is dominated by noise (about noise_multiplier * clip_norm * sqrt(#params) / B),
  so a second clip would mostly shrink steps at random.
  """
  return steps.update_rule(optimizer, learning_rate, decay)


def per_example_gradients(model, params, rnn_state, batch):
  """One NLL and one gradient per stream of a truncated-BPTT batch.

  Args:
    model: the generator.
    params: its parameters.
    rnn_state: `[layers, 2, B, H]` state carried into the chunk.
    batch: `inputs`/`targets` `[B, k, D]` and optionally `labels` `[B, k]`.

  Returns:
    (nll `[B]`, gradients with leaves `[B, ...]`, next state `[layers, 2, B, H]`).
  """

  def one(params, state, inputs, targets, labels):
    # vmap strips the batch axis; the model wants one, so each example is a batch of 1.
    labels = None if labels is None else labels[None]
    nll, state = steps.sequence_nll(
      model, params, state[:, :, None], inputs[None], targets[None], labels
    )
    return nll, state[:, :, 0]

  grad_fn = jax.vmap(
    jax.value_and_grad(one, has_aux=True), in_axes=(None, 2, 0, 0, 0), out_axes=((0, 2), 0)
  )
  (nll, state), grads = grad_fn(
    params, rnn_state, batch["inputs"], batch["targets"], batch.get("labels")
  )
  return nll, grads, state


def private_mean_gradient(per_example_grads, clip_norm: float, noise_multiplier: float, key):
  """The DP-SGD aggregate: (sum of clipped gradients + N(0, (sigma * clip_norm)^2)) / B.

  Args:
    per_example_grads: gradient tree with leaves `[B, ...]`; must be finite.
    clip_norm: L2 bound of each example's gradient (global norm over the tree).
    noise_multiplier: sigma, the noise std in units of `clip_norm`.
    key: `jax.random` key of the noise.

  Returns:
    (gradient tree with the batch axis removed, fraction of examples that were clipped).
  """
  batch = jax.tree.leaves(per_example_grads)[0].shape[0]
  summed, num_clipped = optax.transforms.per_example_global_norm_clip(per_example_grads, clip_norm)
  noise = optax.tree.random_like(key, summed)
  grads = jax.tree.map(lambda s, n: (s + noise_multiplier * clip_norm * n) / batch, summed, noise)
  return grads, num_clipped / batch


def _finite_per_example(nll, grads) -> jax.Array:
  """`[B]` True where an example's loss and every gradient entry are finite."""
  per_leaf = [
    jnp.all(jnp.isfinite(g.reshape(g.shape[0], -1)), axis=1) for g in jax.tree.leaves(grads)
  ]
  return jnp.isfinite(nll) & jnp.all(jnp.stack(per_leaf), axis=0)


def make_dp_generator_step(model, clip_norm: float, noise_multiplier: float):
  """A jitted DP-SGD step (train_state, rnn_state, batch, key) -> (train_state, rnn_state, metrics).

  As `steps.make_generator_step` (same batch, state `[layers, 2, B, H]` and metrics,
  plus `clipped_fraction`), with the gradient replaced by `private_mean_gradient` of
  the per-stream gradients; `key` draws the noise and must differ between steps. Use
  `make_dp_optimizer` (no second clip). A non-finite example contributes a zero
  gradient and its stream restarts from zero, while the step is still applied:
  skipping it would make the update depend on one example beyond the clip bound.
  `metrics["finite"]` is False when any example was non-finite.
  """
  if not clip_norm > 0:
    raise ConfigError(f"DP clip norm must be positive, got {clip_norm}")
  if not noise_multiplier >= 0:
    raise ConfigError(f"DP noise multiplier must be non-negative, got {noise_multiplier}")

  def step(ts: steps.TrainState, rnn_state, batch, key):
    keep = ~batch["reset"][None, None, :, None]
    rnn_state = jax.lax.stop_gradient(rnn_state * keep)
    nll, grads, new_rnn_state = per_example_gradients(model, ts.params, rnn_state, batch)
    finite = _finite_per_example(nll, grads)
    grads = jax.tree.map(
      lambda g: jnp.where(finite.reshape((-1,) + (1,) * (g.ndim - 1)), g, 0.0), grads
    )
    grads, clipped = private_mean_gradient(grads, clip_norm, noise_multiplier, key)
    new_rnn_state = jnp.where(finite[None, None, :, None], new_rnn_state, 0.0)
    metrics = {
      "train_nll": jnp.mean(nll),
      "grad_norm": optax.tree.norm(grads),
      "finite": jnp.all(finite),
      "clipped_fraction": clipped,
    }
    return ts.apply_gradients(grads=grads), new_rnn_state, metrics

  return jax.jit(step, donate_argnums=(0, 1))


# --- accounting --------------------------------------------------------------


def sampling_probability(batch_size: int, total_train_steps_in_data: int, bptt_steps: int) -> float:
  """q = batch_size / number_of_examples, with number_of_examples = total // bptt_steps.

  `total_train_steps_in_data` is the number of time steps of all training sessions.
  """
  examples = total_train_steps_in_data // bptt_steps
  if not 0 < batch_size <= examples:
    raise ConfigError(
      f"DP accounting needs 0 < batch ({batch_size}) <= number of examples "
      f"({total_train_steps_in_data} steps // bptt {bptt_steps} = {examples})"
    )
  return batch_size / examples


def _dp_event(noise_multiplier: float, sampling_probability: float, steps: int):
  import dp_accounting  # pylint: disable=g-import-not-at-top  (2 s of imports; --dp runs only)

  return dp_accounting.SelfComposedDpEvent(
    dp_accounting.PoissonSampledDpEvent(
      sampling_probability, dp_accounting.GaussianDpEvent(noise_multiplier)
    ),
    steps,
  )


def epsilon(
  noise_multiplier: float, sampling_probability: float, steps: int, delta: float
) -> float:
  """Epsilon (RDP accountant) after `steps` Poisson-sampled Gaussian steps; inf without noise."""
  if steps == 0:
    return 0.0  # dp-accounting refuses a composition of zero events.
  from dp_accounting import rdp  # pylint: disable=g-import-not-at-top

  accountant = rdp.RdpAccountant()
  accountant.compose(_dp_event(noise_multiplier, sampling_probability, steps))
  return accountant.get_epsilon(delta)


def noise_for_target_epsilon(
  target_epsilon: float, sampling_probability: float, steps: int, delta: float
) -> float:
  """The smallest noise multiplier whose `epsilon` after `steps` is at most `target_epsilon`."""
  import dp_accounting  # pylint: disable=g-import-not-at-top
  from dp_accounting import rdp  # pylint: disable=g-import-not-at-top

  return dp_accounting.calibrate_dp_mechanism(
    rdp.RdpAccountant,
    lambda sigma: _dp_event(sigma, sampling_probability, steps),
    target_epsilon,
    delta,
  )


@dataclasses.dataclass(frozen=True)
class PrivacyBudget:
  """The budget of one DP training run; without `target_epsilon` it only reports."""

  noise_multiplier: float
  sampling_probability: float
  delta: float
  target_epsilon: float | None = None

  def spent(self, steps: int) -> float:
    """Epsilon after `steps` steps."""
    return epsilon(self.noise_multiplier, self.sampling_probability, steps, self.delta)

  def allows_another(self, steps_done: int) -> bool:
    """Whether one more step keeps epsilon within the target."""
    return self.target_epsilon is None or self.spent(steps_done + 1) <= self.target_epsilon

  def steps_allowed(self) -> int | None:
    """The most steps with epsilon <= target (None without a target)."""
    if self.target_epsilon is None:
      return None
    fits = lambda n: self.spent(n) <= self.target_epsilon
    # Epsilon grows with steps: double to bracket the limit, then bisect (fits(lo) holds).
    lo, hi = 0, 1
    while fits(hi):
      lo, hi = hi, 2 * hi
    while hi - lo > 1:
      mid = (lo + hi) // 2
      lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo
