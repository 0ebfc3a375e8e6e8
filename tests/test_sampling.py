import jax
import jax.numpy as jnp
import numpy as np

from sensegen import models
from sensegen import sampling


def _gen():
  gen = models.Generator(channels=2, lstm_layers=2, lstm_units=8, dense_units=6, mixtures=3)
  variables = gen.init(jax.random.key(0), gen.zero_state(1), jnp.zeros((1, 2, 2)))
  return gen, variables


def test_shapes_and_determinism_per_key():
  gen, variables = _gen()
  a = sampling.sample_jit(gen, variables, jax.random.key(1), 4, 17)
  b = sampling.sample_jit(gen, variables, jax.random.key(1), 4, 17)
  c = sampling.sample_jit(gen, variables, jax.random.key(2), 4, 17)
  assert a.shape == (4, 17, 2) and a.dtype == jnp.float32
  np.testing.assert_array_equal(a, b)
  assert not np.allclose(a, c)
  assert np.all(np.isfinite(a))


def test_sampler_follows_model_step_by_step():
  """At temperature ~0 each sample is the best component's mean given the past samples."""
  gen, variables = _gen()
  xs = sampling.sample_jit(gen, variables, jax.random.key(3), 2, 6, temperature=1e-4)
  state, x = gen.zero_state(2), jnp.zeros((2, 2))
  for t in range(6):
    state, (logits, mu, _) = gen.apply(variables, state, x, method=gen.step)
    best = jnp.argmax(logits, -1)
    x = mu[jnp.arange(2), best]
    np.testing.assert_allclose(xs[:, t], x, atol=1e-3)


def test_priming_changes_the_continuation():
  gen, variables = _gen()
  key = jax.random.key(4)
  prime_a = jnp.zeros((3, 5, 2))
  prime_b = jnp.full((3, 5, 2), 3.0)
  a = sampling.sample_jit(gen, variables, key, 3, 8, prime=prime_a)
  b = sampling.sample_jit(gen, variables, key, 3, 8, prime=prime_b)
  assert a.shape == (3, 8, 2)
  assert not np.allclose(a, b)
