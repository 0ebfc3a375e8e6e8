import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_config

from sensegen import models
from sensegen import sampling
from sensegen.data import signal_chain
from sensegen.data.windows import Normaliser


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
  xs = sampling.sample_jit(gen, variables, jax.random.key(3), 2, 6, temperature=1e-4, burn_in=0)
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


def test_start_state_continues_like_the_prime_it_was_taken_from():
  """Starting from the state and last input a prime leaves gives the primed samples."""
  gen, variables = _gen()
  key = jax.random.key(6)
  prime = jax.random.normal(jax.random.key(7), (3, 5, 2))
  primed = sampling.sample_jit(gen, variables, key, 3, 8, prime=prime)
  state, _ = gen.apply(variables, gen.zero_state(3), prime[:, :-1])
  started = sampling.sample_jit(gen, variables, key, 3, 8, burn_in=0, start=(state, prime[:, -1]))
  np.testing.assert_allclose(started, primed, rtol=1e-5, atol=1e-6)
  zero = (gen.zero_state(3), jnp.zeros((3, 2)))
  np.testing.assert_array_equal(
    sampling.sample_jit(gen, variables, key, 3, 8, burn_in=4, start=zero),
    sampling.sample_jit(gen, variables, key, 3, 8, burn_in=4),
  )


def test_burn_in_returns_the_last_steps_of_a_longer_draw():
  """A window after a burn-in is the tail of the series drawn from the zero state with the
  same key: the first steps are discarded, not drawn differently."""
  gen, variables = _gen()
  key = jax.random.key(5)
  full = sampling.sample_jit(gen, variables, key, 3, 30 + 12, burn_in=0)
  tail = sampling.sample_jit(gen, variables, key, 3, 12, burn_in=30)
  np.testing.assert_allclose(tail, full[:, 30:], rtol=1e-5, atol=1e-6)
  assert sampling.sample_jit(gen, variables, key, 3, 12).shape == (3, 12, 2)
  np.testing.assert_allclose(
    sampling.sample_jit(gen, variables, key, 3, 12),
    sampling.sample_jit(gen, variables, key, 3, 12, burn_in=sampling.DEFAULT_BURN_IN),
  )


def test_weight_temperature_sharpens_the_choice_only():
  gen, variables = _gen()
  key = jax.random.key(6)
  sharp = sampling.sample_jit(gen, variables, key, 64, 5, burn_in=0, weight_temperature=1e-3)
  # Equal to drawing with the logits divided by the same factor by hand, sigma unchanged.
  state, x, xs = gen.zero_state(64), jnp.zeros((64, 2)), []
  for k in jax.random.split(key, 5):
    state, (logits, mu, log_sigma) = gen.apply(variables, state, x, method=gen.step)
    x = sampling.mdn.sample(k, logits / 1e-3, mu, log_sigma)
    xs.append(x)
  np.testing.assert_allclose(sharp, jnp.stack(xs, 1), rtol=1e-5, atol=1e-6)


def test_output_map_applies_the_chain_to_a_draw_with_filter_margins():
  gen = models.Generator(channels=1, lstm_layers=1, lstm_units=8, dense_units=6, mixtures=3)
  variables = gen.init(jax.random.key(0), gen.zero_state(1), jnp.zeros((1, 2, 1)))
  chain = signal_chain.SignalChain.for_channels(["body_acc_x", "gravity_acc_x"])
  model_norm = Normaliser(np.array([0.9], np.float32), np.array([0.3], np.float32))
  out_norm = Normaliser(np.array([0.0, 0.9], np.float32), np.array([0.2, 0.1], np.float32))
  out_map = sampling.OutputMap.from_normalisers(chain, model_norm, out_norm)
  key = jax.random.key(7)
  got = sampling.sample_jit(gen, variables, key, 2, 20, burn_in=10, output_map=out_map)
  before, after = 10 + chain.margin_before, chain.margin_after
  raw = sampling.sample_jit(gen, variables, key, 2, before + 20 + after, burn_in=0)
  want = out_norm.normalise(np.asarray(chain(model_norm.denormalise(raw))))[:, before:-after]
  assert got.shape == (2, 20, 2)
  np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_a_noise_trained_generator_gets_its_draws_back_with_that_noise():
  # "No change" +- exp(-12) per step: with input noise the draws walk by the noise alone.
  for noise in (0.0, 0.05):
    gen, variables = tiny_config.still_generator(input_noise=noise, log_sigma=-12.0)
    xs = np.asarray(sampling.sample_jit(gen, variables, jax.random.key(0), 8, 400, burn_in=0))
    steps_std = np.diff(xs, axis=1).std()
    assert steps_std == pytest.approx(noise, rel=0.05, abs=1e-4)
