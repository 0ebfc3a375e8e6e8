import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from sensegen import mdn


def _reference_log_prob(logits, mu, log_sigma, x):
  """log sum_k pi_k prod_d N(x_d) with scipy, in float64."""
  log_pi = logits - special.logsumexp(logits, axis=-1, keepdims=True)
  log_n = stats.norm.logpdf(x[..., None, :], mu, np.exp(log_sigma)).sum(-1)
  return special.logsumexp(log_pi + log_n, axis=-1)


@pytest.mark.parametrize("channels", [1, 3])
def test_log_prob_matches_scipy(channels):
  rng = np.random.default_rng(0)
  k = 5
  logits = rng.normal(size=(4, 7, k))
  mu = rng.normal(size=(4, 7, k, channels))
  log_sigma = rng.normal(scale=0.5, size=(4, 7, k, channels))
  x = rng.normal(size=(4, 7, channels))
  got = mdn.log_prob(*(jnp.asarray(a, jnp.float32) for a in (logits, mu, log_sigma, x)))
  assert got.shape == (4, 7)
  np.testing.assert_allclose(
    got, _reference_log_prob(logits, mu, log_sigma, x), rtol=1e-5, atol=1e-4
  )


def test_log_prob_finite_for_extreme_values():
  logits = jnp.array([[1e4, -1e4, 0.0], [-3e3, -3e3, -3e3]])
  mu = jnp.array([[[0.0], [5.0], [-5.0]], [[1e3], [-1e3], [0.0]]])
  log_sigma = jnp.array([[[-7.0], [7.0], [0.0]], [[-5.0], [5.0], [9.0]]])
  x = jnp.array([[1e3], [-2e3]])
  got = mdn.log_prob(logits, mu, log_sigma, x)
  assert np.all(np.isfinite(got))
  ref = _reference_log_prob(*(np.asarray(a, np.float64) for a in (logits, mu, log_sigma, x)))
  np.testing.assert_allclose(got, ref, rtol=1e-4)


def test_log_prob_gradients_finite_far_from_data():
  f = lambda m: mdn.log_prob(jnp.zeros(3), m, jnp.full((3, 1), -6.0), jnp.array([50.0]))
  g = jax.grad(f)(jnp.zeros((3, 1)))
  assert np.all(np.isfinite(g))


def test_split_outputs_layout_and_size():
  k, d = 24, 1
  assert mdn.num_outputs(k, d) == 72  # the paper's 72 outputs
  out = jnp.arange(2 * mdn.num_outputs(4, 3), dtype=jnp.float32).reshape(2, -1)
  logits, mu, log_sigma = mdn.split_outputs(out, 4, 3)
  assert logits.shape == (2, 4) and mu.shape == (2, 4, 3) and log_sigma.shape == (2, 4, 3)
  np.testing.assert_array_equal(logits[0], [0, 1, 2, 3])
  np.testing.assert_array_equal(mu[0, 0], [4, 5, 6])
  np.testing.assert_array_equal(log_sigma[0, 0], [16, 17, 18])


def test_sample_statistics_match_mixture():
  logits = jnp.log(jnp.array([0.3, 0.7]))
  mu = jnp.array([[-2.0, 1.0], [3.0, 0.0]])
  log_sigma = jnp.log(jnp.array([[0.5, 1.0], [1.0, 2.0]]))
  n = 200_000
  keys = jax.random.split(jax.random.key(0), n)
  x = np.asarray(jax.vmap(lambda k: mdn.sample(k, logits, mu, log_sigma))(keys))
  pi = np.array([0.3, 0.7])
  mean = pi @ np.asarray(mu)
  second = pi @ (np.asarray(mu) ** 2 + np.exp(2 * np.asarray(log_sigma)))
  np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
  np.testing.assert_allclose(x.var(0), second - mean**2, rtol=0.02)
  np.testing.assert_allclose(mdn.mean(logits, mu), mean, rtol=1e-6)


def test_sample_low_temperature_approaches_best_component_mean():
  logits = jnp.array([0.0, 2.0, 1.0])
  mu = jnp.array([[-1.0], [4.0], [2.0]])
  log_sigma = jnp.zeros((3, 1))
  xs = jax.vmap(lambda k: mdn.sample(k, logits, mu, log_sigma, temperature=1e-3))(
    jax.random.split(jax.random.key(1), 100)
  )
  np.testing.assert_allclose(xs, 4.0, atol=0.01)


def test_sample_deterministic_per_key_and_batched():
  logits = jnp.zeros((5, 3))
  mu = jax.random.normal(jax.random.key(2), (5, 3, 2))
  log_sigma = jnp.zeros((5, 3, 2))
  a = mdn.sample(jax.random.key(3), logits, mu, log_sigma)
  b = mdn.sample(jax.random.key(3), logits, mu, log_sigma)
  c = mdn.sample(jax.random.key(4), logits, mu, log_sigma)
  assert a.shape == (5, 2)
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)


def _random_full(rng, batch, k, d):
  return (
    rng.normal(size=(batch, k)),
    rng.normal(size=(batch, k, d)),
    rng.normal(scale=0.3, size=(batch, k, d)),
    rng.normal(scale=0.5, size=(batch, k, d * (d - 1) // 2)),
  )


def test_full_covariance_log_prob_matches_scipy_multivariate_normal():
  rng = np.random.default_rng(1)
  k, d = 3, 3
  logits, mu, log_sigma, offdiag = _random_full(rng, 5, k, d)
  x = rng.normal(size=(5, d))
  got = mdn.log_prob_full(
    *(jnp.asarray(a, jnp.float32) for a in (logits, mu, log_sigma, offdiag, x))
  )
  chol = np.asarray(mdn.cholesky_factor(jnp.asarray(log_sigma), jnp.asarray(offdiag)))
  for b in range(5):
    log_pi = logits[b] - special.logsumexp(logits[b])
    comps = [
      log_pi[j] + stats.multivariate_normal(mu[b, j], chol[b, j] @ chol[b, j].T).logpdf(x[b])
      for j in range(k)
    ]
    np.testing.assert_allclose(got[b], special.logsumexp(comps), rtol=1e-4, atol=1e-4)


def test_full_covariance_with_zero_offdiag_equals_diagonal():
  rng = np.random.default_rng(2)
  logits, mu, log_sigma, offdiag = _random_full(rng, 4, 2, 3)
  x = rng.normal(size=(4, 3))
  np.testing.assert_allclose(
    mdn.log_prob_full(logits, mu, log_sigma, 0 * offdiag, x),
    mdn.log_prob(logits, mu, log_sigma, x),
    rtol=1e-5,
  )


def test_full_covariance_sample_covariance():
  chol = np.array([[1.0, 0.0], [0.8, 0.6]])
  logits = jnp.zeros(1)
  mu = jnp.array([[1.0, -1.0]])
  log_sigma = jnp.log(jnp.array([[1.0, 0.6]]))
  offdiag = jnp.array([[0.8]])
  keys = jax.random.split(jax.random.key(0), 100_000)
  x = np.asarray(jax.vmap(lambda k: mdn.sample_full(k, logits, mu, log_sigma, offdiag))(keys))
  np.testing.assert_allclose(x.mean(0), [1.0, -1.0], atol=0.02)
  np.testing.assert_allclose(np.cov(x.T), chol @ chol.T, atol=0.02)
  assert mdn.num_outputs_full(24, 3) == 24 * (1 + 6 + 3)


def test_weight_temperature_sharpens_the_choice_and_leaves_sigma_alone():
  keys = jax.random.split(jax.random.key(5), 20000)
  one = (jnp.zeros(1), jnp.zeros((1, 1)), jnp.log(jnp.full((1, 1), 2.0)))
  draw = lambda mix, **kw: np.asarray(jax.vmap(lambda k: mdn.sample(k, *mix, **kw))(keys))
  # One component: the spread is its sigma at any weight temperature, unlike temperature.
  np.testing.assert_array_equal(draw(one, weight_temperature=0.1), draw(one))
  assert draw(one, temperature=0.5).std() == pytest.approx(1.0, rel=0.03)
  # Two components: pi = (0.25, 0.75) becomes (0.1, 0.9) at weight temperature 0.5.
  two = (jnp.log(jnp.array([0.25, 0.75])), jnp.array([[-10.0], [10.0]]), jnp.zeros((2, 1)))
  assert (draw(two) > 0).mean() == pytest.approx(0.75, abs=0.015)
  x = draw(two, weight_temperature=0.5)
  assert (x > 0).mean() == pytest.approx(0.9, abs=0.01)
  assert x[x > 0].std() == pytest.approx(1.0, rel=0.03)
