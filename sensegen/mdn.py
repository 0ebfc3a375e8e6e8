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

__all__ = [
  "cholesky_factor",
  "log_prob",
  "log_prob_full",
  "mean",
  "mixture_log_prob",
  "mixture_sample",
  "num_outputs",
  "num_outputs_full",
  "sample",
  "sample_full",
  "split_outputs",
  "split_outputs_full",
]

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


def sample(key, logits, mu, log_sigma, temperature=1.0, weight_temperature=1.0):
  """Draws x ~ the mixture, `[..., D]`.

  Temperature follows Graves (2013): it sharpens the choice of component
  (logits / temperature) and narrows each Gaussian (sigma * temperature), so
  temperature -> 0 approaches the mean of the most likely component.
  `weight_temperature` sharpens (< 1) or flattens (> 1) the component choice alone,
  leaving every sigma as it is.
  Temperature must be positive.
  """
  k_key, n_key = jax.random.split(key)
  component = jax.random.categorical(k_key, logits / (temperature * weight_temperature), axis=-1)
  pick = lambda a: jnp.take_along_axis(a, component[..., None, None], axis=-2)[..., 0, :]
  eps = jax.random.normal(n_key, mu.shape[:-2] + mu.shape[-1:], mu.dtype)
  return pick(mu) + jnp.exp(pick(log_sigma)) * temperature * eps


def mean(logits, mu):
  """Mixture mean sum_k pi_k mu_k, `[..., D]`."""
  return jnp.einsum("...k,...kd->...d", jax.nn.softmax(logits, axis=-1), mu)


# Correlated components: each Gaussian has a full covariance Sigma_k = L_k L_k^T with a
# lower-triangular Cholesky factor L_k whose diagonal is exp(log_sigma) and whose
# strictly-lower entries `offdiag` `[..., K, D(D-1)/2]` are free (row-major order).


def num_outputs_full(mixtures: int, channels: int) -> int:
  """Dense outputs of a full-covariance mixture: logits, mu, log_sigma and offdiag."""
  return mixtures * (1 + 2 * channels + channels * (channels - 1) // 2)


def split_outputs_full(outputs, mixtures: int, channels: int):
  """Splits `[..., num_outputs_full]` into (logits, mu, log_sigma, offdiag)."""
  diag_part = num_outputs(mixtures, channels)
  logits, mu, log_sigma = split_outputs(outputs[..., :diag_part], mixtures, channels)
  offdiag = outputs[..., diag_part:].reshape(outputs.shape[:-1] + (mixtures, -1))
  return logits, mu, log_sigma, offdiag


def cholesky_factor(log_sigma, offdiag):
  """The lower-triangular factors `[..., K, D, D]` of the component covariances."""
  d = log_sigma.shape[-1]
  rows, cols = jnp.tril_indices(d, -1)
  lower = jnp.zeros(log_sigma.shape + (d,), log_sigma.dtype).at[..., rows, cols].set(offdiag)
  return lower + jnp.exp(log_sigma)[..., None] * jnp.eye(d, dtype=log_sigma.dtype)


def log_prob_full(logits, mu, log_sigma, offdiag, x):
  """log sum_k pi_k N(x; mu_k, L_k L_k^T), `[...]`; shapes as `log_prob` plus
  offdiag `[..., K, D(D-1)/2]`."""
  chol = cholesky_factor(log_sigma, offdiag)
  diff = jnp.broadcast_to(x[..., None, :], mu.shape) - mu
  z = jax.scipy.linalg.solve_triangular(chol, diff[..., None], lower=True)[..., 0]
  log_normal = -0.5 * jnp.sum(z * z, -1) - jnp.sum(log_sigma, -1) - 0.5 * mu.shape[-1] * _LOG_2PI
  return jax.nn.logsumexp(jax.nn.log_softmax(logits, -1) + log_normal, axis=-1)


def sample_full(key, logits, mu, log_sigma, offdiag, temperature=1.0, weight_temperature=1.0):
  """Draws `[..., D]` from the full-covariance mixture (temperatures as in `sample`)."""
  k_key, n_key = jax.random.split(key)
  component = jax.random.categorical(k_key, logits / (temperature * weight_temperature), axis=-1)
  chol = cholesky_factor(log_sigma, offdiag)
  pick_mu = jnp.take_along_axis(mu, component[..., None, None], axis=-2)[..., 0, :]
  pick_chol = jnp.take_along_axis(chol, component[..., None, None, None], axis=-3)[..., 0, :, :]
  eps = jax.random.normal(n_key, pick_mu.shape, mu.dtype)
  return pick_mu + temperature * jnp.einsum("...ij,...j->...i", pick_chol, eps)


def mixture_log_prob(mixture: tuple, x):
  """`log_prob` or `log_prob_full`, by the mixture's form (3 or 4 arrays)."""
  return log_prob_full(*mixture, x) if len(mixture) == 4 else log_prob(*mixture, x)


def mixture_sample(key, mixture: tuple, temperature=1.0, weight_temperature=1.0):
  """`sample` or `sample_full`, by the mixture's form (3 or 4 arrays)."""
  if len(mixture) == 4:
    return sample_full(key, *mixture, temperature, weight_temperature)
  return sample(key, *mixture, temperature, weight_temperature)
