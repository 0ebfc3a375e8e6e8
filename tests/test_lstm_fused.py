"""The custom-VJP LSTM layers give the autodiff path's losses and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensegen import errors
from sensegen import lstm
from sensegen import models
from sensegen import steps

# The shared fixture runs once: every test of this module on one worker.
pytestmark = pytest.mark.xdist_group("lstm_fused")

_B, _T, _D, _H = 3, 7, 2, 8
_IMPLS = ("scan", "fused", "bf16")


def _gen(impl):
  return models.Generator(
    channels=_D, lstm_layers=2, lstm_units=_H, dense_units=6, mixtures=3, lstm_impl=impl
  )


def _problem():
  """Random variables, a non-zero carried state `[2, 2, B, H]` and a sequence `[B, T+1, D]`.

  Parameters are drawn with numpy from the variables' shapes: an eager `init` would
  compile every initialiser, and any values do for comparing implementations.
  """
  rng = np.random.default_rng(0)
  x = rng.normal(size=(_B, _T + 1, _D)).astype(np.float32)
  shapes = jax.eval_shape(
    _gen("scan").init, jax.random.key(0), _gen("scan").zero_state(_B), x[:, :-1]
  )
  variables = jax.tree.map(lambda s: 0.4 * rng.normal(size=s.shape).astype(np.float32), shapes)
  state = 0.5 * rng.normal(size=(2, 2, _B, _H)).astype(np.float32)
  return variables, state, x


def _loss(impl, params, state, x):
  """NLL plus a term on the final state, so both outputs carry cotangents."""
  nll, new_state = steps.sequence_nll(_gen(impl), params, state, x[:, :-1], x[:, 1:])
  return nll + 0.1 * jnp.sum(new_state**2)


@pytest.fixture(scope="module")
def results():
  """Per impl: (loss, (param grads, state grads)) and forward outputs, from one compile."""

  @jax.jit
  def run(variables, state, x):
    return {
      impl: (
        jax.value_and_grad(lambda p, s, impl=impl: _loss(impl, p, s, x), argnums=(0, 1))(
          variables, state
        ),
        _gen(impl).apply(variables, state, x),
      )
      for impl in _IMPLS
    }

  return run(*_problem())


def _assert_close(tree, expected, rtol):
  for got, want in zip(jax.tree.leaves(tree), jax.tree.leaves(expected)):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * np.abs(want).max())


def test_fused_matches_scan_losses_and_gradients(results):
  (loss, grads), _ = results["scan"]
  (fused_loss, fused_grads), _ = results["fused"]
  np.testing.assert_allclose(fused_loss, loss, rtol=1e-5)
  _assert_close(fused_grads, grads, 1e-5)  # params and the carried initial state


def test_fused_forward_matches_scan(results):
  _assert_close(results["fused"][1], results["scan"][1], 1e-6)


def test_bf16_is_close_to_f32(results):
  """bf16 matmul inputs: a small loss error, gradients only to ~1e-2."""
  (loss, grads), _ = results["scan"]
  (bf16_loss, bf16_grads), _ = results["bf16"]
  np.testing.assert_allclose(bf16_loss, loss, rtol=1e-2)
  flat = lambda t: jnp.concatenate([g.ravel() for g in jax.tree.leaves(t)])
  assert jnp.linalg.norm(flat(bf16_grads) - flat(grads)) < 0.05 * jnp.linalg.norm(flat(grads))


def test_unknown_impl_is_a_config_error():
  params = [(jnp.zeros((3, 8)), jnp.zeros(8))]
  with pytest.raises(errors.ConfigError, match="unknown LSTM impl"):
    lstm.stack(params, lstm.zero_state(1, 1, 2), jnp.zeros((1, 4, 1)), impl="cudnn")
