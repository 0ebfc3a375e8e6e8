import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensegen import models


def test_generator_shapes_and_step_consistency():
  gen = models.Generator(channels=3, lstm_layers=2, lstm_units=8, dense_units=6, mixtures=4)
  x = jax.random.normal(jax.random.key(0), (2, 5, 3))
  variables = gen.init(jax.random.key(1), gen.zero_state(2), x)
  state, (logits, mu, log_sigma) = gen.apply(variables, gen.zero_state(2), x)
  assert state.shape == (2, 2, 2, 8)
  assert logits.shape == (2, 5, 4) and mu.shape == (2, 5, 4, 3) and log_sigma.shape == mu.shape
  s = gen.zero_state(2)
  for t in range(5):
    s, (lt, mt, st) = gen.apply(variables, s, x[:, t], method=gen.step)
  np.testing.assert_allclose(lt, logits[:, -1], atol=1e-5)
  np.testing.assert_allclose(st, log_sigma[:, -1], atol=1e-5)


def test_paper_generator_has_paper_shapes():
  gen = models.Generator(channels=1)
  variables = jax.eval_shape(gen.init, jax.random.key(0), gen.zero_state(1), jnp.zeros((1, 2, 1)))
  p = variables["params"]
  assert p["lstm"]["kernel_0"].shape == (1 + 256, 1024)
  assert p["lstm"]["kernel_2"].shape == (512, 1024)
  assert p["hidden"]["kernel"].shape == (256, 128)
  assert p["head"]["kernel"].shape == (128, 72)


def test_output_sigmoid_bounds_mu_and_sigma():
  gen = models.Generator(
    channels=1, lstm_layers=1, lstm_units=4, dense_units=4, mixtures=3, output_sigmoid=True
  )
  x = 10 * jax.random.normal(jax.random.key(0), (2, 6, 1))
  variables = gen.init(jax.random.key(1), gen.zero_state(2), x)
  _, (_, mu, log_sigma) = gen.apply(variables, gen.zero_state(2), x)
  assert np.all((mu > 0) & (mu < 1)) and np.all((log_sigma > 0) & (log_sigma < 1))


def test_conditioned_generator_depends_on_labels():
  gen = models.Generator(
    channels=1,
    lstm_layers=1,
    lstm_units=8,
    dense_units=4,
    mixtures=2,
    num_labels=3,
    label_embedding=4,
  )
  x = jnp.ones((1, 4, 1))
  variables = gen.init(jax.random.key(0), gen.zero_state(1), x, jnp.zeros((1, 4), jnp.int32))
  _, a = gen.apply(variables, gen.zero_state(1), x, jnp.zeros((1, 4), jnp.int32))
  _, b = gen.apply(variables, gen.zero_state(1), x, jnp.full((1, 4), 2, jnp.int32))
  assert not np.allclose(a[1], b[1])


def test_discriminator_outputs_one_logit_per_window():
  disc = models.Discriminator(lstm_units=8, dense_units=4)
  x = jnp.ones((5, 30, 2))
  variables = disc.init(jax.random.key(0), x)
  logits = disc.apply(variables, x)
  assert logits.shape == (5,)
  assert variables["params"]["Dense_0"]["kernel"].shape == (8, 4)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_residual_mean_adds_the_input_to_every_component_mean(covariance):
  """Same params: the means move by the step's input, nothing else in the mixture does,
  over a sequence and one step at a time."""
  kw = dict(channels=2, lstm_layers=1, lstm_units=4, dense_units=4, mixtures=3)
  plain = models.Generator(**kw, covariance=covariance)
  residual = models.Generator(**kw, covariance=covariance, residual_mean=True)
  x = jax.random.normal(jax.random.key(0), (2, 5, 2))
  variables = plain.init(jax.random.key(1), plain.zero_state(2), x)
  _, (logits, mu, *rest) = plain.apply(variables, plain.zero_state(2), x)
  _, (r_logits, r_mu, *r_rest) = residual.apply(variables, residual.zero_state(2), x)
  np.testing.assert_allclose(r_mu, np.asarray(mu) + np.asarray(x)[:, :, None, :], atol=1e-6)
  np.testing.assert_allclose(r_logits, logits, rtol=1e-6, atol=1e-6)
  for got, want in zip(r_rest, rest):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  _, (_, step_mu, *_) = residual.apply(
    variables, residual.zero_state(2), x[:, 0], method=residual.step
  )
  np.testing.assert_allclose(step_mu, r_mu[:, 0], atol=1e-5)
