import functools

import dp_accounting
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from dp_accounting import rdp

from sensegen import models
from sensegen import privacy
from sensegen import steps
from sensegen.errors import ConfigError

B, K = 4, 5
# One tiny model, initialised and compiled once: compilation dominates these tests.
GEN = models.Generator(channels=1, lstm_layers=1, lstm_units=8, dense_units=8, mixtures=2)
PARAMS = jax.jit(GEN.init)(jax.random.key(0), GEN.zero_state(1), jnp.zeros((1, 2, 1)))
# One optimizer object: a new one would be new static data and recompile the steps.
SGD = optax.sgd(1.0)  # parameters move by exactly -gradient
CARRIED = np.asarray(0.5 * jax.random.normal(jax.random.key(1), GEN.zero_state(B).shape))


def _state():
  # A copy, as the steps donate it.
  return steps.TrainState.create(apply_fn=None, params=jax.tree.map(jnp.copy, PARAMS), tx=SGD)


def _batch(seed=0):
  x = np.random.default_rng(seed).normal(size=(B, K + 1, 1)).astype(np.float32)
  return {"inputs": x[:, :-1], "targets": x[:, 1:], "reset": np.zeros(B, bool)}


def _flat(tree):
  return jnp.concatenate([jnp.ravel(x) for x in jax.tree.leaves(tree)])


@jax.jit
def _one_grad(params, state, inputs, targets):
  return _flat(jax.grad(lambda p: steps.sequence_nll(GEN, p, state, inputs, targets)[0])(params))


def _manual_grads(state, batch):
  """Per-example gradients `[B, P]`, one `sequence_nll` call per stream."""
  return np.stack(
    [
      _one_grad(
        PARAMS, state[:, :, i : i + 1], batch["inputs"][i : i + 1], batch["targets"][i : i + 1]
      )
      for i in range(B)
    ]
  )


_per_example = jax.jit(functools.partial(privacy.per_example_gradients, GEN))
_private_mean = jax.jit(privacy.private_mean_gradient)


@functools.cache
def _dp_step(clip, sigma):
  return privacy.make_dp_generator_step(GEN, clip, sigma)


def test_clipped_mean_matches_clipping_one_stream_at_a_time():
  state, batch = CARRIED, _batch()
  manual = _manual_grads(state, batch)
  norms = np.linalg.norm(manual, axis=1)
  clip = float(np.median(norms))  # some examples clipped, some not
  got, clipped = _private_mean(_per_example(PARAMS, state, batch)[1], clip, 0.0, jax.random.key(0))
  want = np.mean(manual * np.minimum(1.0, clip / norms)[:, None], axis=0)
  np.testing.assert_allclose(_flat(got), want, rtol=1e-4, atol=1e-7)
  assert float(clipped) == np.mean(norms > clip)


def test_one_example_moves_the_aggregate_by_at_most_two_clip_norms_over_b():
  state, batch = CARRIED, _batch()
  loud = _batch()
  loud["inputs"][0] *= 1e3
  loud["targets"][0] *= 1e3
  clip = 0.1
  agg = [
    _flat(_private_mean(_per_example(PARAMS, state, b)[1], clip, 0.0, jax.random.key(0))[0])
    for b in (batch, loud)
  ]
  # Replacing one example removes one clipped term and adds another.
  assert np.linalg.norm(agg[0] - agg[1]) <= 2 * clip / B * (1 + 1e-5)
  assert np.linalg.norm(agg[1]) <= clip * (1 + 1e-5)


def test_noise_std_is_noise_multiplier_times_clip_norm_over_b():
  zeros = {"w": jnp.zeros((B, 20_000))}
  got, clipped = _private_mean(zeros, 0.5, 3.0, jax.random.key(7))
  assert float(clipped) == 0.0
  np.testing.assert_allclose(np.std(got["w"]), 3.0 * 0.5 / B, rtol=0.03)
  assert abs(np.mean(got["w"])) < 0.05 * 3.0 * 0.5 / B


def test_dp_step_without_noise_or_clipping_equals_the_plain_step():
  batch, state = _batch(), CARRIED
  ts, rnn, m = steps.make_generator_step(GEN)(_state(), jnp.array(state), batch)
  dts, drnn, dm = _dp_step(1e6, 0.0)(_state(), jnp.array(state), batch, jax.random.key(0))
  np.testing.assert_allclose(_flat(dts.params), _flat(ts.params), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(drnn, rnn, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dm["train_nll"], m["train_nll"], rtol=1e-5)
  np.testing.assert_allclose(dm["grad_norm"], m["grad_norm"], rtol=1e-4)
  assert bool(dm["finite"]) and float(dm["clipped_fraction"]) == 0.0


def test_dp_step_adds_noise_of_the_flagged_std():
  batch, state = _batch(), CARRIED
  step = _dp_step(0.01, 5.0)
  params = [
    _flat(step(_state(), jnp.array(state), batch, jax.random.key(k))[0].params) for k in (1, 2)
  ]
  # With SGD(1) the parameters differ by the difference of two noise draws / B.
  diff = params[0] - params[1]
  assert diff.size > 300
  np.testing.assert_allclose(np.std(diff), np.sqrt(2) * 5.0 * 0.01 / B, rtol=0.15)


def test_non_finite_example_is_dropped_and_its_stream_reset():
  batch, state = _batch(), CARRIED
  batch["inputs"][1, 2] = np.nan
  ts, rnn, m = _dp_step(0.01, 5.0)(_state(), jnp.array(state), batch, jax.random.key(0))
  assert not bool(m["finite"])
  assert np.all(np.isfinite(_flat(ts.params))) and int(ts.step) == 1
  assert np.all(np.asarray(rnn)[:, :, 1] == 0) and np.all(np.asarray(rnn)[:, :, 0] != 0)


def test_epsilon_matches_dp_accounting():
  sigma, q, steps, delta = 1.1, 0.01, 500, 1e-5
  event = dp_accounting.SelfComposedDpEvent(
    dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps
  )
  want = rdp.RdpAccountant().compose(event).get_epsilon(delta)
  assert privacy.epsilon(sigma, q, steps, delta) == pytest.approx(want, rel=1e-12)
  assert privacy.epsilon(sigma, q, 0, delta) == 0.0
  assert privacy.epsilon(sigma, q, 2 * steps, delta) > want


def test_noise_for_target_epsilon_reaches_the_target():
  q, steps, delta = 0.02, 300, 1e-5
  for target in (1.0, 4.0):
    sigma = privacy.noise_for_target_epsilon(target, q, steps, delta)
    assert privacy.epsilon(sigma, q, steps, delta) == pytest.approx(target, rel=0.01)


def test_sampling_probability():
  assert privacy.sampling_probability(16, 100_000, 50) == 16 / 2000
  with pytest.raises(ConfigError):
    privacy.sampling_probability(16, 500, 50)


def test_budget_stops_when_spent():
  budget = privacy.PrivacyBudget(
    noise_multiplier=1.0, sampling_probability=0.01, delta=1e-5, target_epsilon=1.0
  )
  n = budget.steps_allowed()
  assert n > 0
  assert budget.spent(n) <= 1.0 < budget.spent(n + 1)
  assert budget.allows_another(n - 1) and not budget.allows_another(n)
  tight = privacy.PrivacyBudget(0.5, 0.5, 1e-5, target_epsilon=0.01)
  assert tight.steps_allowed() == 0 and not tight.allows_another(0)
  report_only = privacy.PrivacyBudget(1.0, 0.01, 1e-5)
  assert report_only.steps_allowed() is None and report_only.allows_another(10**9)
