"""Autoregressive sampling from a Generator over `lax.scan`: jittable, any length.

All arrays here are in the model's (normalised) space; `sensegen.api` adds units.
"""

import jax
import jax.numpy as jnp

from sensegen import mdn

__all__ = [
  "sample",
  "sample_jit",
]


def sample(
  model, params, key, num_samples: int, length: int, temperature=1.0, prime=None, labels=None
):
  """Draws `[num_samples, length, D]` series from the generator.

  Args:
    model: a `models.Generator` (static under jit).
    params: its variables (`{"params": ...}`).
    key: a `jax.random` key; the same key gives the same samples.
    num_samples, length: output size (static under jit).
    temperature: > 0; see `mdn.sample`.
    prime: optional real prefix `[num_samples, P, D]` the samples continue from.
    labels: `[num_samples, length]` int per-step labels, for a conditioned model.

  Returns:
    `[num_samples, length, D]` float32.
  """
  state = model.zero_state(num_samples)
  x = jnp.zeros((num_samples, model.channels), jnp.float32)
  if labels is None:
    labels = jnp.zeros((num_samples, length), jnp.int32)
  if prime is not None:
    prime_labels = jnp.broadcast_to(labels[:, :1], prime.shape[:2])[:, :-1]
    state, _ = model.apply(params, state, prime[:, :-1], prime_labels if model.num_labels else None)
    x = prime[:, -1]

  def step(carry, inputs):
    state, x = carry
    step_key, label = inputs
    state, mix = model.apply(
      params, state, x, label if model.num_labels else None, method=model.step
    )
    x = mdn.mixture_sample(step_key, mix, temperature=temperature)
    return (state, x), x

  keys = jax.random.split(key, length)
  _, xs = jax.lax.scan(step, (state, x), (keys, jnp.swapaxes(labels, 0, 1)))
  return jnp.swapaxes(xs, 0, 1)


sample_jit = jax.jit(sample, static_argnames=("model", "num_samples", "length"))
"""`sample` compiled once per (model, num_samples, length)."""
