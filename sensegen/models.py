"""The SenseGen generator (LSTM stack -> dense -> MDN) and the paper's discriminator."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from sensegen import lstm
from sensegen import mdn


class Generator(nn.Module):
  """Next-step mixture density model of a D-channel series.

  Paper values: lstm_layers=3, lstm_units=256, dense_units=128, mixtures=24, D=1.
  `output_sigmoid` reproduces the paper's sigmoid on the mixture layer; it bounds
  mu to (0, 1) and sigma to (1, e), which cannot fit normalised data, so it is off
  by default. With `num_labels > 0` a per-step label embedding joins the input.
  """
  channels: int
  lstm_layers: int = 3
  lstm_units: int = 256
  dense_units: int = 128
  mixtures: int = 24
  output_sigmoid: bool = False
  num_labels: int = 0
  label_embedding: int = 16
  covariance: str = "diagonal"  # or "full": correlated channels through a Cholesky factor.
  lstm_impl: str = "scan"  # `lstm.IMPLS`: "scan", "fused" (same numbers, faster) or "bf16".

  def setup(self):
    extra = self.label_embedding if self.num_labels else 0
    self.lstm = lstm.LSTMStack(self.channels + extra, self.lstm_layers, self.lstm_units,
                               self.lstm_impl)
    self.hidden = nn.Dense(self.dense_units)
    full = self.covariance == "full"
    self.head = nn.Dense((mdn.num_outputs_full if full else mdn.num_outputs)(
        self.mixtures, self.channels))
    if self.num_labels:
      self.embed = nn.Embed(self.num_labels, self.label_embedding)

  def _inputs(self, x, labels):
    if not self.num_labels:
      return x
    return jnp.concatenate([x, self.embed(labels)], axis=-1)

  def _mixture(self, h):
    out = self.head(jax.nn.sigmoid(self.hidden(h)))
    if self.output_sigmoid:
      out = jax.nn.sigmoid(out)
    if self.covariance == "full":
      return mdn.split_outputs_full(out, self.mixtures, self.channels)
    return mdn.split_outputs(out, self.mixtures, self.channels)

  def __call__(self, state, x, labels=None):
    """Mixture of x[t+1] given x[..t].

    Args:
      state: `[layers, 2, B, H]` recurrent state.
      x: `[B, T, D]` inputs.
      labels: `[B, T]` int labels when conditioned.

    Returns:
      (state, (logits `[B, T, K]`, mu `[B, T, K, D]`, log_sigma `[B, T, K, D]`)), plus
      offdiag `[B, T, K, D(D-1)/2]` in the mixture when `covariance == "full"`.
    """
    state, h = self.lstm(state, self._inputs(x, labels))
    return state, self._mixture(h)

  def step(self, state, x, labels=None):
    """One step: x `[B, D]`, labels `[B]` -> (state, mixture of `[B, ...]`)."""
    state, h = self.lstm.step(state, self._inputs(x, labels))
    return state, self._mixture(h)

  def zero_state(self, batch: int):
    return lstm.zero_state(self.lstm_layers, batch, self.lstm_units)


class Discriminator(nn.Module):
  """LSTM -> Dense (sigmoid) -> 1 logit: the paper's D is LSTM 64 -> 16 -> 1.

  Returns logits `[B]`; sigmoid(logit) is the probability that a window is real.
  """
  lstm_units: int = 64
  dense_units: int = 16

  @nn.compact
  def __call__(self, x):
    """x `[B, T, D]` -> logits `[B]`."""
    stack = lstm.LSTMStack(x.shape[-1], 1, self.lstm_units)
    _, h = stack(lstm.zero_state(1, x.shape[0], self.lstm_units, x.dtype), x)
    h = jax.nn.sigmoid(nn.Dense(self.dense_units)(h[:, -1]))
    return nn.Dense(1)(h)[:, 0]
