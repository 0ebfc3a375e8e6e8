"""Mixture density network (MDN) over a D-channel next step: pure JAX functions.

A K-component mixture of diagonal Gaussians is described by
  logits     `[..., K]`     unnormalised mixture weights (pi = softmax(logits)),
  mu         `[..., K, D]`  component means,
  log_sigma  `[..., K, D]`  log standard deviations (sigma = exp(log_sigma)).
Nothing here knows about Flax, flags or data.
"""

import math

import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


def num_outputs(mixtures: int, channels: int) -> int:
  """Size of the dense layer that parameterises the mixture (paper: 24 * 3 = 72 for D=1)."""
  return mixtures * (1 + 2 * channels)


def split_outputs(outputs, mixtures: int, channels: int):
  """Splits raw network outputs `[..., K*(1+2D)]` into (logits, mu, log_sigma)."""
  logits = outputs[..., :mixtures]
  rest = outputs[..., mixtures:].reshape(outputs.shape[:-1] + (2, mixtures, channels))
  return logits, rest[..., 0, :, :], rest[..., 1, :, :]


def log_prob(logits, mu, log_sigma, x):
  """log sum_k pi_k prod_d N(x_d; mu_kd, sigma_kd).

  Args:
    logits: `[..., K]`.
    mu: `[..., K, D]`.
    log_sigma: `[..., K, D]`.
    x: `[..., D]`.

  Returns:
    `[...]` log densities, computed with logsumexp so that extreme logits or
    far-away points give finite values instead of log(0).
  """
  log_pi = jax.nn.log_softmax(logits, axis=-1)
  z = (x[..., None, :] - mu) * jnp.exp(-log_sigma)
  log_normal = jnp.sum(-0.5 * z * z - log_sigma - 0.5 * _LOG_2PI, axis=-1)
  return jax.nn.logsumexp(log_pi + log_normal, axis=-1)


def sample(key, logits, mu, log_sigma, temperature=1.0):
  """Draws x ~ the mixture, `[..., D]`.

  Temperature follows Graves (2013): it sharpens the choice of component
  (logits / temperature) and narrows each Gaussian (sigma * temperature), so
  temperature -> 0 approaches the mean of the most likely component.
  Temperature must be positive.
  """
  k_key, n_key = jax.random.split(key)
  component = jax.random.categorical(k_key, logits / temperature, axis=-1)
  pick = lambda a: jnp.take_along_axis(a, component[..., None, None], axis=-2)[..., 0, :]
  eps = jax.random.normal(n_key, mu.shape[:-2] + mu.shape[-1:], mu.dtype)
  return pick(mu) + jnp.exp(pick(log_sigma)) * temperature * eps


def mean(logits, mu):
  """Mixture mean sum_k pi_k mu_k, `[..., D]`."""
  return jnp.einsum("...k,...kd->...d", jax.nn.softmax(logits, axis=-1), mu)
