"""The LSTM stack as pure functions over explicit parameters, plus a thin Flax owner.

Parameters of one layer: a fused kernel `[I + H, 4H]` acting on `[x_t, h_{t-1}]`
(one matmul per step, which measured as fast as anything on CPU) and a bias `[4H]`.
Gate order in the 4H axis: input, candidate, forget, output.

The recurrent state of a stack is one array `[layers, 2, B, H]` (c then h), so it
can be reset with a mask, checkpointed and sharded like any other array.
"""

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def cell(kernel, bias, c, h, x):
  """One LSTM step. x `[B, I]`, c/h `[B, H]` -> (c, h)."""
  z = jnp.concatenate([x, h], axis=-1) @ kernel + bias
  i, g, f, o = jnp.split(z, 4, axis=-1)
  c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
  return c, jax.nn.sigmoid(o) * jnp.tanh(c)


def layer(kernel, bias, state, xs):
  """Runs one layer over time. state `[2, B, H]`, xs `[B, T, I]` -> (state, hs `[B, T, H]`)."""

  def step(carry, x):
    c, h = cell(kernel, bias, carry[0], carry[1], x)
    return (c, h), h

  (c, h), hs = jax.lax.scan(step, (state[0], state[1]), jnp.swapaxes(xs, 0, 1))
  return jnp.stack([c, h]), jnp.swapaxes(hs, 0, 1)


def stack(params: Sequence, state, xs):
  """Layer-major evaluation of the stack over a sequence.

  Args:
    params: per layer a (kernel, bias) pair.
    state: `[layers, 2, B, H]`.
    xs: `[B, T, I]`.

  Returns:
    (new state `[layers, 2, B, H]`, top-layer outputs `[B, T, H]`).
  """
  new_state = []
  for (kernel, bias), s in zip(params, state):
    s, xs = layer(kernel, bias, s, xs)
    new_state.append(s)
  return jnp.stack(new_state), xs


def stack_step(params: Sequence, state, x):
  """One time step through every layer. x `[B, I]` -> (state, top output `[B, H]`)."""
  new_state = []
  for (kernel, bias), s in zip(params, state):
    c, x = cell(kernel, bias, s[0], s[1], x)
    new_state.append(jnp.stack([c, x]))
  return jnp.stack(new_state), x


def zero_state(layers: int, batch: int, units: int, dtype=jnp.float32):
  """The initial recurrent state `[layers, 2, batch, units]`."""
  return jnp.zeros((layers, 2, batch, units), dtype)


def _kernel_init(input_size: int, units: int):
  """Glorot-uniform input rows, orthogonal recurrent blocks per gate."""

  def init(key, shape, dtype=jnp.float32):
    k_in, k_rec = jax.random.split(key)
    w_in = nn.initializers.glorot_uniform()(k_in, (input_size, 4 * units), dtype)
    rec_keys = jax.random.split(k_rec, 4)
    w_rec = jnp.concatenate(
        [nn.initializers.orthogonal()(k, (units, units), dtype) for k in rec_keys], axis=1)
    return jnp.concatenate([w_in, w_rec], axis=0)

  return init


def _bias_init(units: int):
  """Forget-gate bias 1 so that early training does not forget the state."""

  def init(key, shape, dtype=jnp.float32):
    del key
    return jnp.zeros(shape, dtype).at[2 * units:3 * units].set(1.0)

  return init


class LSTMStack(nn.Module):
  """Owns the stack's parameters; the computation is the pure functions above."""
  input_size: int
  layers: int
  units: int

  def setup(self):
    sizes = [self.input_size] + [self.units] * (self.layers - 1)
    self.kernels = [
        self.param(f"kernel_{i}", _kernel_init(n, self.units), (n + self.units, 4 * self.units))
        for i, n in enumerate(sizes)]
    self.biases = [
        self.param(f"bias_{i}", _bias_init(self.units), (4 * self.units,))
        for i in range(self.layers)]

  def _params(self):
    return list(zip(self.kernels, self.biases))

  def __call__(self, state, xs):
    """state `[layers, 2, B, H]`, xs `[B, T, I]` -> (state, `[B, T, H]`)."""
    return stack(self._params(), state, xs)

  def step(self, state, x):
    """state `[layers, 2, B, H]`, x `[B, I]` -> (state, `[B, H]`)."""
    return stack_step(self._params(), state, x)
