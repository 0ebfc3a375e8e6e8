import dp_accounting
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from dp_accounting import rdp

from sensegen import models
from sensegen import privacy
from sensegen import train
from sensegen.errors import ConfigError

B, K = 4, 5


def _gen():
  return models.Generator(channels=1, lstm_layers=1, lstm_units=8, dense_units=8, mixtures=2)


def _state(gen, tx=None):
  tx = tx or optax.sgd(1.0)  # params move by exactly -gradient
  return train.create_train_state(jax.random.key(0), gen,
                                  (gen.zero_state(1), jnp.zeros((1, 2, 1))), tx)


def _batch(seed=0):
  x = np.random.default_rng(seed).normal(size=(B, K + 1, 1)).astype(np.float32)
  return {"inputs": x[:, :-1], "targets": x[:, 1:], "reset": np.zeros(B, bool)}


def _carried_state(gen, seed=1):
  return 0.5 * jax.random.normal(jax.random.key(seed), gen.zero_state(B).shape)


def _flat(tree):
  return np.concatenate([np.ravel(x) for x in jax.tree.leaves(tree)])


def _manual_grads(gen, params, state, batch):
  """Per-example gradients, one `sequence_nll` call per stream."""
  return [_flat(jax.grad(lambda p: train.sequence_nll(
      gen, p, state[:, :, i:i + 1], batch["inputs"][i:i + 1],
      batch["targets"][i:i + 1])[0])(params)) for i in range(B)]


def test_per_example_gradients_match_one_call_per_stream():
  gen = _gen()
  params, state, batch = _state(gen).params, _carried_state(gen), _batch()
  nll, grads, new_state = privacy.per_example_gradients(gen, params, state, batch)
  want = _manual_grads(gen, params, state, batch)
  got = jax.vmap(_flat)(grads)
  np.testing.assert_allclose(got, np.stack(want), rtol=1e-4, atol=1e-6)
  full_nll, full_state = train.sequence_nll(gen, params, state, batch["inputs"],
                                            batch["targets"])
  np.testing.assert_allclose(np.mean(nll), full_nll, rtol=1e-5)
  np.testing.assert_allclose(new_state, full_state, rtol=1e-5, atol=1e-6)


def test_clipped_mean_matches_manual_clipping():
  gen = _gen()
  params, state, batch = _state(gen).params, _carried_state(gen), _batch()
  _, grads, _ = privacy.per_example_gradients(gen, params, state, batch)
  norms = [np.linalg.norm(g) for g in _manual_grads(gen, params, state, batch)]
  clip = float(np.median(norms))  # some examples clipped, some not
  got, clipped = privacy.private_mean_gradient(grads, clip, 0.0, jax.random.key(0))
  want = np.mean([g * min(1.0, clip / n) for g, n in
                  zip(_manual_grads(gen, params, state, batch), norms)], axis=0)
  np.testing.assert_allclose(_flat(got), want, rtol=1e-4, atol=1e-7)
  assert float(clipped) == np.mean(np.array(norms) > clip)


def test_one_example_moves_the_aggregate_by_at_most_two_clip_norms_over_b():
  gen = _gen()
  params, state, batch = _state(gen).params, _carried_state(gen), _batch()
  loud = dict(batch, inputs=batch["inputs"].copy(), targets=batch["targets"].copy())
  loud["inputs"][0] *= 1e3
  loud["targets"][0] *= 1e3
  clip = 0.1
  agg = [privacy.private_mean_gradient(
      privacy.per_example_gradients(gen, params, state, b)[1], clip, 0.0,
      jax.random.key(0))[0] for b in (batch, loud)]
  # Replacing one example removes one clipped term and adds another.
  assert np.linalg.norm(_flat(agg[0]) - _flat(agg[1])) <= 2 * clip / B * (1 + 1e-5)
  assert np.linalg.norm(_flat(agg[1])) <= clip * (1 + 1e-5)


def test_noise_std_is_noise_multiplier_times_clip_norm_over_b():
  zeros = {"w": jnp.zeros((B, 20_000))}
  got, clipped = privacy.private_mean_gradient(zeros, 0.5, 3.0, jax.random.key(7))
  assert float(clipped) == 0.0
  np.testing.assert_allclose(np.std(got["w"]), 3.0 * 0.5 / B, rtol=0.03)
  assert abs(np.mean(got["w"])) < 0.05 * 3.0 * 0.5 / B


def test_dp_step_without_noise_or_clipping_equals_the_plain_step():
  gen = _gen()
  batch, state = _batch(), _carried_state(gen)
  ts, rnn, m = train.make_generator_step(gen)(_state(gen), state.copy(), batch)
  dts, drnn, dm = privacy.make_dp_generator_step(gen, 1e6, 0.0)(
      _state(gen), state.copy(), batch, jax.random.key(0))
  np.testing.assert_allclose(_flat(dts.params), _flat(ts.params), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(drnn, rnn, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(dm["train_nll"], m["train_nll"], rtol=1e-5)
  np.testing.assert_allclose(dm["grad_norm"], m["grad_norm"], rtol=1e-4)
  assert bool(dm["finite"]) and float(dm["clipped_fraction"]) == 0.0


def test_dp_step_adds_noise_of_the_flagged_std():
  gen = _gen()
  clip, sigma = 0.01, 5.0
  batch, state = _batch(), _carried_state(gen)
  step = lambda s: privacy.make_dp_generator_step(gen, clip, s)(
      _state(gen), state.copy(), batch, jax.random.key(3))[0].params
  # With SGD(1) the parameters differ by exactly the noise / B.
  noise = _flat(step(sigma)) - _flat(step(0.0))
  assert noise.size > 300
  np.testing.assert_allclose(np.std(noise), sigma * clip / B, rtol=0.15)


def test_non_finite_example_is_dropped_and_its_stream_reset():
  gen = _gen()
  batch, state = _batch(), _carried_state(gen)
  batch["inputs"][1, 2] = np.nan
  ts, rnn, m = privacy.make_dp_generator_step(gen, 1.0, 0.0)(
      _state(gen), state, batch, jax.random.key(0))
  assert not bool(m["finite"])
  assert np.all(np.isfinite(_flat(ts.params))) and int(ts.step) == 1
  assert np.all(np.asarray(rnn)[:, :, 1] == 0) and np.all(np.asarray(rnn)[:, :, 0] != 0)


def test_epsilon_matches_dp_accounting():
  sigma, q, steps, delta = 1.1, 0.01, 500, 1e-5
  event = dp_accounting.SelfComposedDpEvent(
      dp_accounting.PoissonSampledDpEvent(q, dp_accounting.GaussianDpEvent(sigma)), steps)
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
  budget = privacy.PrivacyBudget(noise_multiplier=1.0, sampling_probability=0.01,
                                 delta=1e-5, target_epsilon=1.0)
  n = budget.steps_allowed()
  assert n > 0
  assert budget.spent(n) <= 1.0 < budget.spent(n + 1)
  assert budget.allows_another(n - 1) and not budget.allows_another(n)
  tight = privacy.PrivacyBudget(0.5, 0.5, 1e-5, target_epsilon=0.01)
  assert tight.steps_allowed() == 0 and not tight.allows_another(0)
  report_only = privacy.PrivacyBudget(1.0, 0.01, 1e-5)
  assert report_only.steps_allowed() is None and report_only.allows_another(10**9)


def test_dp_refuses_the_adversarial_schedule_only():
  with pytest.raises(ConfigError, match="adversarial is refused"):
    privacy.check_compatible("adversarial", dp=True)
  privacy.check_compatible("adversarial", dp=False)
  privacy.check_compatible("nll", dp=True)
  privacy.check_compatible("alternating", dp=True)
