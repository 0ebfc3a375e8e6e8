"""Closing the adversarial loop through the MDN (the paper's future work).

`sampling.sample` draws a discrete mixture component at every step, so no gradient
reaches the generator from a discriminator's verdict on its samples. Here each draw
is reparameterised: the Gaussian noise as mu + sigma * eps, the component choice
with a Gumbel-softmax (straight-through by default). Generated windows are then
differentiable functions of the generator's parameters, and the generator can
minimise NLL + a non-saturating GAN loss against a critic trained alongside it.
"""

import jax
import jax.numpy as jnp
import optax

from sensegen import mdn
from sensegen import sampling
from sensegen import steps
from sensegen.errors import ConfigError

__all__ = [
  "critic_input",
  "critic_loss",
  "differentiable_sample",
  "generator_adversarial_loss",
  "make_adversarial_generator_step",
  "make_critic_step",
  "relaxed_sample",
]


def relaxed_sample(key, logits, mu, log_sigma, gumbel_temperature, hard=True, offdiag=None):
  """A differentiable draw x ~ the mixture, `[..., D]`.

  x = sum_k w_k (mu_k + sigma_k * eps_k) with eps_k ~ N(0, I) and w the Gumbel-softmax
  of `logits` at `gumbel_temperature`. With `hard`, w is the one-hot of its argmax in
  the forward pass (so x is an exact mixture sample, as `mdn.sample` at temperature 1)
  and the soft w's gradient in the backward pass (straight-through).

  Args:
    key: a `jax.random` key.
    logits: `[..., K]`.
    mu: `[..., K, D]`.
    log_sigma: `[..., K, D]`.
    gumbel_temperature: > 0; lower is closer to a discrete choice, with noisier gradients.
    hard: straight-through one-hot choice instead of a soft blend of components.
    offdiag: `[..., K, D(D-1)/2]` of a full-covariance mixture (`mdn.sample_full`);
      the noise is then L_k eps_k with L_k the component's Cholesky factor.

  Returns:
    `[..., D]` samples; gradients reach logits, mu, log_sigma (and offdiag).
  """
  g_key, n_key = jax.random.split(key)
  gumbel = jax.random.gumbel(g_key, logits.shape, logits.dtype)
  w = jax.nn.softmax((logits + gumbel) / gumbel_temperature, axis=-1)
  if hard:
    one_hot = jax.nn.one_hot(jnp.argmax(w, axis=-1), w.shape[-1], dtype=w.dtype)
    w = one_hot + w - jax.lax.stop_gradient(w)
  eps = jax.random.normal(n_key, mu.shape, mu.dtype)
  if offdiag is None:
    noise = jnp.exp(log_sigma) * eps
  else:
    noise = jnp.einsum("...ij,...j->...i", mdn.cholesky_factor(log_sigma, offdiag), eps)
  return jnp.einsum("...k,...kd->...d", w, mu + noise)


def differentiable_sample(
  model,
  params,
  key,
  num_samples: int,
  length: int,
  gumbel_temperature=0.5,
  hard=True,
  labels=None,
  start=None,
):
  """Free-running generation `[num_samples, length, D]` that gradients flow through.

  Same recursion as `sampling.sample` (each draw fed back as the next input, with the
  model's input noise) with `relaxed_sample` in place of `mdn.sample`, so the gradient of
  any function of the output reaches `params` through every step. It starts from `start`
  (state `[layers, 2, N, H]`, last draw `[N, S]`, e.g. `sampling.burn_in_state`'s), else
  from the zero state and a zero input. `labels` `[N, length]`: the per-step labels of a
  conditioned generator. Diagonal or full covariance.
  """
  if bool(model.num_labels) != (labels is not None):
    raise ConfigError("differentiable_sample: pass labels= exactly for a conditioned generator")
  if labels is None:
    labels = jnp.zeros((num_samples, length), jnp.int32)
  draw = lambda key, mix: relaxed_sample(key, *mix[:3], gumbel_temperature, hard, *mix[3:])
  step = sampling.free_run_step(model, params, draw)
  start = sampling.zero_start(model, num_samples) if start is None else start
  keys = jax.random.split(key, length)
  _, xs = jax.lax.scan(step, start, (keys, jnp.swapaxes(labels, 0, 1)))
  return jnp.swapaxes(xs, 0, 1)


def critic_input(x, labels, num_labels: int):
  """What the critic judges: windows `[N, L, S]`, with the one-hot per-step labels
  `[N, L]` appended as channels for a conditioned run (`num_labels` > 0), so that it
  judges each window against what its labels ask for -> `[N, L, S (+ num_labels)]`."""
  if not num_labels:
    return x
  return jnp.concatenate([x, jax.nn.one_hot(labels, num_labels, dtype=x.dtype)], axis=-1)


def generator_adversarial_loss(critic, critic_params, fake):
  """Non-saturating GAN loss -log D(fake), mean over fake windows `[B, L, D]`."""
  logits = critic.apply(critic_params, fake)
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, jnp.ones_like(logits)))


def make_adversarial_generator_step(
  model,
  critic,
  adversarial_weight: float,
  window: int,
  gumbel_temperature: float,
  burn_in: int = 0,
):
  """A jitted step (g_state, rnn_state, batch, critic_params, key, adv_labels=None) ->
  (g_state, rnn_state, metrics).

  Minimises NLL(batch) + adversarial_weight * -log D(G(z)). The NLL term is exactly
  `steps.make_generator_step`'s (teacher forcing on `batch` `inputs`/`targets`
  `[B, k, D]`, `reset` `[B]`, carried state without gradient); the adversarial term
  scores B fresh differentiable windows `[B, window, D]` drawn with `key` by the
  critic, whose params are held fixed. Like `sampling.sample`'s, those windows start
  after `burn_in` free steps (without gradient), so that they stand anywhere in a session
  as the critic's real windows do. A conditioned generator draws them under
  `adv_labels` `[B, window]` (the burn-in under each row's first label), which the critic
  sees too (`critic_input`). A non-finite step is not applied and the recurrent state
  restarts from zero. Clipping comes from g_state's optimizer.
  Metrics: train_nll, adv_g_loss, grad_norm, finite.
  """

  def loss_fn(params, rnn_state, batch, critic_params, key, adv_labels, start):
    nll, new_rnn_state = steps.sequence_nll(
      model, params, rnn_state, batch["inputs"], batch["targets"], batch.get("labels")
    )
    n = batch["inputs"].shape[0]
    fake = differentiable_sample(
      model, params, key, n, window, gumbel_temperature, labels=adv_labels, start=start
    )
    judged = critic_input(fake, adv_labels, model.num_labels)
    adv = generator_adversarial_loss(critic, critic_params, judged)
    return nll + adversarial_weight * adv, (nll, adv, new_rnn_state)

  def step(ts: steps.TrainState, rnn_state, batch, critic_params, key, adv_labels=None):
    keep = ~batch["reset"][None, None, :, None]
    rnn_state = jax.lax.stop_gradient(rnn_state * keep)
    start = None
    if burn_in:
      burn_key, key = jax.random.split(key)
      first = jnp.zeros((batch["inputs"].shape[0], 1), jnp.int32)
      first = first if adv_labels is None else adv_labels[:, :1]
      labels = jnp.repeat(first, burn_in, axis=1)
      start = jax.lax.stop_gradient(sampling.burn_in_state(model, ts.params, burn_key, labels))
    (_, (nll, adv, new_rnn_state)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
      ts.params, rnn_state, batch, critic_params, key, adv_labels, start
    )
    ok = jnp.isfinite(nll) & jnp.isfinite(adv) & steps.all_finite(grads)
    new_ts = steps.keep_if(ok, ts.apply_gradients(grads=grads), ts)
    new_rnn_state = jnp.where(ok, new_rnn_state, jnp.zeros_like(new_rnn_state))
    metrics = {
      "train_nll": nll,
      "adv_g_loss": adv,
      "grad_norm": optax.tree.norm(grads),
      "finite": ok,
    }
    return new_ts, new_rnn_state, metrics

  return jax.jit(step, donate_argnums=(0, 1))


def critic_loss(critic, params, real, fake, gradient_penalty: float = 0.0):
  """BCE (real = 1, fake = 0) + gradient_penalty / 2 * E||grad_x D(real)||^2 (R1).

  Args:
    critic: a `models.CriticDiscriminator` (or any module mapping `[B, L, D]` to logits `[B]`).
    params: its variables.
    real, fake: `[B, L, D]` windows.
    gradient_penalty: the R1 weight gamma (Mescheder et al., 2018); 0 turns it off.

  Returns:
    (total loss, (BCE, accuracy)).
  """
  apply = lambda x: critic.apply(params, x)
  real_logits, fake_logits = apply(real), apply(fake)
  bce = 0.5 * (
    jnp.mean(optax.sigmoid_binary_cross_entropy(real_logits, 1.0))
    + jnp.mean(optax.sigmoid_binary_cross_entropy(fake_logits, 0.0))
  )
  accuracy = 0.5 * (jnp.mean(real_logits > 0) + jnp.mean(fake_logits < 0))
  loss = bce
  if gradient_penalty:
    # Each window's logit depends only on that window, so the gradient of the sum
    # holds every per-window input gradient.
    grad_real = jax.grad(lambda x: jnp.sum(apply(x)))(real)
    r1 = jnp.mean(jnp.sum(grad_real**2, axis=(1, 2)))
    loss = loss + 0.5 * gradient_penalty * r1
  return loss, (bce, accuracy)


def make_critic_step(critic, gradient_penalty: float = 0.0):
  """A jitted step (c_state, real `[B, L, D]`, fake `[B, L, D]`) -> (c_state, metrics).

  Metrics: adv_d_loss (the BCE, without the penalty) and adv_d_accuracy.
  """

  def step(ts: steps.TrainState, real, fake):
    grad_fn = jax.value_and_grad(
      lambda p: critic_loss(critic, p, real, fake, gradient_penalty), has_aux=True
    )
    (_, (bce, accuracy)), grads = grad_fn(ts.params)
    metrics = {"adv_d_loss": bce, "adv_d_accuracy": accuracy}
    return ts.apply_gradients(grads=grads), metrics

  return jax.jit(step, donate_argnums=(0,))
