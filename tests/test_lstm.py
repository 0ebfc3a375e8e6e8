import jax
import jax.numpy as jnp
import numpy as np

from sensegen import lstm


def _init(input_size=2, layers=2, units=8, batch=3, steps=10):
  module = lstm.LSTMStack(input_size, layers, units)
  xs = jax.random.normal(jax.random.key(0), (batch, steps, input_size))
  state = lstm.zero_state(layers, batch, units)
  variables = module.init(jax.random.key(1), state, xs)
  return module, variables, state, xs


def _numpy_cell(kernel, bias, c, h, x):
  sig = lambda v: 1 / (1 + np.exp(-v))
  z = np.concatenate([x, h], -1) @ kernel + bias
  i, g, f, o = np.split(z, 4, -1)
  c = sig(f) * c + sig(i) * np.tanh(g)
  return c, sig(o) * np.tanh(c)


def test_stack_matches_numpy_reference():
  module, variables, state, xs = _init()
  new_state, out = module.apply(variables, state, xs)
  p = jax.tree.map(np.asarray, variables["params"])
  hs = np.asarray(xs, np.float64)
  for layer in range(2):
    c = h = np.zeros((3, 8))
    seq = []
    for t in range(hs.shape[1]):
      c, h = _numpy_cell(p[f"kernel_{layer}"], p[f"bias_{layer}"], c, h, hs[:, t])
      seq.append(h)
    hs = np.stack(seq, 1)
    np.testing.assert_allclose(new_state[layer, 0], c, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out, hs, rtol=1e-5, atol=1e-5)


def test_carried_state_equals_running_at_once():
  module, variables, state, xs = _init(steps=12)
  full_state, full = module.apply(variables, state, xs)
  mid, first = module.apply(variables, state, xs[:, :5])
  end, second = module.apply(variables, mid, xs[:, 5:])
  np.testing.assert_allclose(jnp.concatenate([first, second], 1), full, atol=1e-6)
  np.testing.assert_allclose(end, full_state, atol=1e-6)


def test_step_equals_sequence():
  module, variables, state, xs = _init(steps=6)
  _, full = module.apply(variables, state, xs)
  outs = []
  for t in range(xs.shape[1]):
    state, h = module.apply(variables, state, xs[:, t], method=module.step)
    outs.append(h)
  np.testing.assert_allclose(jnp.stack(outs, 1), full, atol=1e-6)


def test_init_forget_bias_and_shapes():
  module, variables, _, _ = _init(input_size=3, layers=3, units=4)
  p = variables["params"]
  assert p["kernel_0"].shape == (3 + 4, 16)
  assert p["kernel_1"].shape == (4 + 4, 16)
  np.testing.assert_array_equal(p["bias_2"], [0] * 8 + [1] * 4 + [0] * 4)
