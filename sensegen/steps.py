"""Train states and the jitted steps of the generator (NLL) and the discriminator (BCE).

Everything here is a pure function of arrays; the host loop that drives these steps
lives in `sensegen.train`.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state

from sensegen import mdn

__all__ = [
  "TrainState",
  "create_train_state",
  "gaussian_nll",
  "generator_step",
  "learning_rate_schedule",
  "make_discriminator_accuracy",
  "make_discriminator_step",
  "make_generator_step",
  "make_nll_eval",
  "make_optimizer",
  "make_scheduled_sampling_step",
  "prediction_nll",
  "sequence_nll",
  "update_rule",
]


class TrainState(train_state.TrainState):
  """Flax's TrainState; `apply_fn` is unused (models are passed explicitly)."""


def learning_rate_schedule(learning_rate: float, lr_decay: float = 1.0, decay_steps: int = 1):
  """`learning_rate`, decayed exponentially to `lr_decay` times it over `decay_steps` (then
  held); a constant when `lr_decay` is 1."""
  if lr_decay == 1.0:
    return learning_rate
  return optax.exponential_decay(
    learning_rate, max(decay_steps, 1), lr_decay, end_value=learning_rate * lr_decay
  )


def make_optimizer(learning_rate, decay: float, clip_norm: float, optimizer: str = "rmsprop"):
  """Global-norm clipping followed by RMSProp (the paper's; `decay` is its squared-gradient
  average) or Adam; `learning_rate` is a number or an optax schedule."""
  return optax.chain(
    optax.clip_by_global_norm(clip_norm), update_rule(optimizer, learning_rate, decay)
  )


def update_rule(optimizer: str, learning_rate, rmsprop_decay: float):
  """The optax transformation named `optimizer` ("adam" or "rmsprop")."""
  if optimizer == "adam":
    return optax.adam(learning_rate)
  return optax.rmsprop(learning_rate, decay=rmsprop_decay)


def create_train_state(key, model, example_inputs: tuple, tx) -> TrainState:
  """Initialises `model` on `example_inputs` (positional args of its __call__)."""
  return TrainState.create(apply_fn=None, params=_init(model, key, *example_inputs), tx=tx)


# Jitted: run op by op, the initialisers compile ~170 tiny programs (~10 s on 2 cores). The
# model is static, so a process that builds the same model again reuses the trace.
@functools.partial(jax.jit, static_argnums=0)
def _init(model, key, *example_inputs):
  return model.init(key, *example_inputs)


def sequence_nll(model, params, state, inputs, targets, labels=None):
  """Mean next-step NLL (nats per step, summed over channels) of `targets` `[B, T, D]`.

  Returns (nll, new recurrent state).
  """
  state, mix = model.apply(params, state, inputs, labels)
  return -jnp.mean(mdn.mixture_log_prob(mix, targets)), state


def all_finite(tree) -> jax.Array:
  """Whether every leaf of `tree` is finite (a scalar bool array)."""
  leaves = jax.tree.leaves(tree)
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def keep_if(ok, new, old):
  """`new` where the scalar `ok` holds, else `old`, leaf by leaf."""
  return jax.tree.map(lambda n, o: jnp.where(ok, n, o), new, old)


def _carried_state(rnn_state, reset):
  """The carried LSTM state `[layers, 2, B, H]`, zeroed for streams starting a session
  (`reset` `[B]`); no gradient flows into it."""
  return jax.lax.stop_gradient(rnn_state * ~reset[None, None, :, None])


def _guarded_update(ts: TrainState, nll, grads, new_rnn_state):
  """Applies `grads` and carries `new_rnn_state` only if the loss and gradients are finite
  (else the old params and a zero state); returns (train_state, rnn_state, metrics)."""
  ok = jnp.isfinite(nll) & all_finite(grads)
  new_ts = keep_if(ok, ts.apply_gradients(grads=grads), ts)
  new_rnn_state = jnp.where(ok, new_rnn_state, jnp.zeros_like(new_rnn_state))
  metrics = {"train_nll": nll, "grad_norm": optax.tree.norm(grads), "finite": ok}
  return new_ts, new_rnn_state, metrics


def make_generator_step(model):
  """A jitted truncated-BPTT step:
  (train_state, rnn_state, batch) -> (train_state, rnn_state, metrics).

  `batch` holds `inputs`/`targets` `[B, k, D]`, `reset` `[B]` (streams starting a new
  session get a zero state) and optionally `labels` `[B, k]`. No gradient flows into
  the carried state. A step whose loss or gradients are not finite is not applied
  (`metrics["finite"]` is False) and the recurrent state restarts from zero.
  """
  return jax.jit(generator_step(model), donate_argnums=(0, 1))


def generator_step(model, reduce=lambda loss_and_grads: loss_and_grads):
  """The step of `make_generator_step`, not jitted; `reduce` maps (nll, grads) of this
  batch to those of the whole batch (the mean over data-parallel shards)."""

  def step(ts: TrainState, rnn_state, batch):
    rnn_state = _carried_state(rnn_state, batch["reset"])
    loss_fn = lambda p: sequence_nll(
      model, p, rnn_state, batch["inputs"], batch["targets"], batch.get("labels")
    )
    (nll, new_rnn_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.params)
    nll, grads = reduce((nll, grads))
    return _guarded_update(ts, nll, grads, new_rnn_state)

  return step


def make_scheduled_sampling_step(model, probability: float):
  """A jitted step (train_state, rnn_state, batch, key) -> (train_state, rnn_state, metrics)
  with parallel scheduled sampling (Duckworth et al., 2019).

  A first teacher-forced pass (no gradient) gives the model's one-step predictions; each
  input after the first is replaced, with `probability`, by a draw from the prediction
  made for it, and the NLL of the true targets is minimised on those mixed inputs. The
  model thus also learns to continue from its own draws. The carried state is that of
  the true inputs; batch, reset and non-finite handling as in `make_generator_step`.
  `metrics["train_nll"]` is the NLL on the mixed inputs.
  """

  def step(ts: TrainState, rnn_state, batch, key):
    rnn_state = _carried_state(rnn_state, batch["reset"])
    labels = batch.get("labels")
    true_state, mix = model.apply(ts.params, rnn_state, batch["inputs"], labels)
    draw_key, mix_key = jax.random.split(key)
    # The prediction at t is for input t + 1.
    draws = mdn.mixture_sample(draw_key, jax.tree.map(lambda a: a[:, :-1], mix))
    use = jax.random.bernoulli(mix_key, probability, draws.shape[:2] + (1,))
    own = jnp.where(use, jax.lax.stop_gradient(draws), batch["inputs"][:, 1:])
    inputs = jnp.concatenate([batch["inputs"][:, :1], own], axis=1)
    loss_fn = lambda p: sequence_nll(model, p, rnn_state, inputs, batch["targets"], labels)
    (nll, _), grads = jax.value_and_grad(loss_fn, has_aux=True)(ts.params)
    return _guarded_update(ts, nll, grads, jax.lax.stop_gradient(true_state))

  return jax.jit(step, donate_argnums=(0, 1))


def make_nll_eval(model, batch_size: int = 64, noise_key=None, context: int = 1):
  """A function windows `[N, L, D]` (, labels `[N, L]`) -> mean next-step NLL of steps
  `context` + 2..L of each window, each given the window's steps before it, from a zero
  state.

  The window's first `context` predictions are context, not scored: from the zero state a
  generator's first few predictions (up to 4 steps, measured) can be absurdly confident
  for a held-out subject unlike the training ones, and one such step could reach an NLL
  of 1e28 and hide how well the rest is predicted (README, "What a run writes"). The
  inputs carry the model's `input_noise`, as in training, drawn from `noise_key` (default:
  key 0), the same on every call.
  """
  noise_key = jax.random.key(0) if noise_key is None else noise_key

  @jax.jit
  def chunk_nll(params, windows, labels, key):
    return jnp.mean(prediction_nll(model, params, windows, labels, key)[:, context:])

  def evaluate(params, windows, labels=None) -> float:
    total, count = 0.0, 0
    for i in range(0, len(windows), batch_size):
      part = windows[i : i + batch_size]
      lab = None if labels is None else labels[i : i + batch_size]
      key = jax.random.fold_in(noise_key, i)
      total += float(chunk_nll(params, part, lab, key)) * len(part)
      count += len(part)
    return total / count

  return evaluate


def prediction_nll(model, params, windows, labels=None, noise_key=None):
  """The NLL of every next-step prediction of windows `[N, L, D]` (, labels `[N, L]`) run
  from a zero state -> `[N, L - 1]`, the i-th for step i + 2 given the steps before it;
  the inputs carry the model's `input_noise` drawn from `noise_key` (default: key 0)."""
  noise_key = jax.random.key(0) if noise_key is None else noise_key
  lab = None if labels is None else labels[:, :-1]
  inputs = model.with_input_noise(noise_key, windows[:, :-1])
  _, mix = model.apply(params, model.zero_state(windows.shape[0]), inputs, lab)
  return -mdn.mixture_log_prob(mix, windows[:, 1:])


def gaussian_nll(train_series, windows, context: int = 1) -> float:
  """NLL per step (summed over channels) of `windows[:, context + 1:]` (the steps
  `make_nll_eval` scores) under per-channel Gaussians fitted on the train series: the
  baseline every generator must beat."""
  x = np.concatenate([np.asarray(s, np.float64) for s in train_series])
  mu, var = x.mean(0), x.var(0)
  t = np.asarray(windows, np.float64)[:, context + 1 :]
  return float(np.mean(np.sum(0.5 * ((t - mu) ** 2 / var + np.log(2 * np.pi * var)), -1)))


def discriminator_loss(disc, params, windows, is_real):
  """Binary cross-entropy (real = 1, generated = 0) and accuracy of D on `windows` `[B, L, D]`."""
  logits = disc.apply(params, windows)
  loss = jnp.mean(optax.sigmoid_binary_cross_entropy(logits, is_real))
  accuracy = jnp.mean((logits > 0) == (is_real > 0.5))
  return loss, accuracy


def make_discriminator_step(disc):
  """A jitted step (train_state, windows `[B, L, D]`, is_real `[B]`) ->
  (train_state, loss, accuracy)."""

  def step(ts: TrainState, windows, is_real):
    grad_fn = jax.value_and_grad(
      lambda p: discriminator_loss(disc, p, windows, is_real), has_aux=True
    )
    (loss, accuracy), grads = grad_fn(ts.params)
    return ts.apply_gradients(grads=grads), loss, accuracy

  return jax.jit(step, donate_argnums=(0,))


def make_discriminator_accuracy(disc):
  """A jitted (params, windows, is_real) -> accuracy."""
  return jax.jit(lambda p, w, y: discriminator_loss(disc, p, w, y)[1])
