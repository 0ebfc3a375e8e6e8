"""Every network of the project (Flax modules):

Generator            the SenseGen generator: LSTM stack -> dense -> MDN
Discriminator        the paper's D (LSTM 64 -> 16 -> 1), the judge of Algorithm 1
CriticDiscriminator  the adversarial schedule's critic (gradients reach the generator)
PosthocLSTM          the evaluation's post-hoc classifier / forecaster
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from sensegen import lstm
from sensegen import mdn
from sensegen import styles

__all__ = [
  "CriticDiscriminator",
  "Discriminator",
  "Generator",
  "PosthocLSTM",
]


class Generator(nn.Module):
  """Next-step mixture density model of a D-channel series.

  Paper values: lstm_layers=3, lstm_units=256, dense_units=128, mixtures=24, D=1.
  `output_sigmoid` reproduces the paper's sigmoid on the mixture layer; it bounds
  mu to (0, 1) and sigma to (1, e), which cannot fit normalised data, so it is off
  by default. With `num_labels > 0` a per-step label embedding joins the input. With
  `residual_mean` every component's mean is the input plus the head's output: the head
  predicts each step's change, so holding still needs no exact copy of x through the LSTM.
  `input_noise` is the std of the Gaussian noise its inputs carry in training (added by the
  data pipeline and the held-out NLL); the sampler adds the same noise to its own draws
  before feeding them back. With `num_styles > 0` its labels also carry a per-series style
  id (`sensegen.styles`), embedded beside the label.
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
  residual_mean: bool = False
  input_noise: float = 0.0
  num_styles: int = 0

  def setup(self):
    extra = self.label_embedding * ((self.num_labels > 0) + (self.num_styles > 0))
    self.lstm = lstm.LSTMStack(
      self.channels + extra, self.lstm_layers, self.lstm_units, self.lstm_impl
    )
    self.hidden = nn.Dense(self.dense_units)
    full = self.covariance == "full"
    self.head = nn.Dense(
      (mdn.num_outputs_full if full else mdn.num_outputs)(self.mixtures, self.channels)
    )
    if self.num_labels:
      self.embed = nn.Embed(self.num_labels, self.label_embedding)
    if self.num_styles:
      self.style_embed = nn.Embed(self.num_styles + 1, self.label_embedding)

  def _inputs(self, x, labels):
    if not self.num_labels:
      return x
    if not self.num_styles:
      return jnp.concatenate([x, self.embed(labels)], axis=-1)
    activity, style = styles.unpack(labels, self.num_labels)
    return jnp.concatenate([x, self.embed(activity), self.style_embed(style)], axis=-1)

  def random_styles(self, key, num_samples: int):
    """`[num_samples]` style ids drawn uniformly from the training subjects' 1..num_styles."""
    return jax.random.randint(key, (num_samples,), 1, self.num_styles + 1)

  def _mixture(self, h, x):
    """The mixture of the next step from the top LSTM output h and the current input x
    (`[..., D]`, for `residual_mean`)."""
    out = self.head(jax.nn.sigmoid(self.hidden(h)))
    if self.output_sigmoid:
      out = jax.nn.sigmoid(out)
    split = mdn.split_outputs_full if self.covariance == "full" else mdn.split_outputs
    logits, mu, *rest = split(out, self.mixtures, self.channels)
    if self.residual_mean:
      mu = mu + x[..., None, :]
    return (logits, mu, *rest)

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
    return state, self._mixture(h, x)

  def step(self, state, x, labels=None):
    """One step: x `[B, D]`, labels `[B]` -> (state, mixture of `[B, ...]`)."""
    state, h = self.lstm.step(state, self._inputs(x, labels))
    return state, self._mixture(h, x)

  def zero_state(self, batch: int):
    return lstm.zero_state(self.lstm_layers, batch, self.lstm_units)

  def with_input_noise(self, key, x):
    """x (any shape) plus Gaussian noise of std `input_noise`; x itself when that is 0."""
    if not self.input_noise:
      return x
    return x + self.input_noise * jax.random.normal(key, x.shape, x.dtype)

  def fed_back(self, key, x):
    """A sampler's draw x `[B, D]` as the next input, with the training input noise, and
    the key left for the next draw: (key, x). Without input noise both come back as they
    are, so such a generator samples exactly as before the option existed."""
    if not self.input_noise:
      return key, x
    key, noise_key = jax.random.split(key)
    return key, self.with_input_noise(noise_key, x)


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


def _spectral_normalise(kernel, power_iterations: int):
  """kernel `[I, O]` / its largest singular value, estimated by power iteration.

  The iteration starts from a fixed vector on every call, so the critic keeps no
  state besides its params; as in Miyato et al. (2018) no gradient flows through
  the singular vectors.
  """
  u = jnp.ones((kernel.shape[1],), kernel.dtype)
  for _ in range(power_iterations):
    v = kernel @ u
    v = v / (jnp.linalg.norm(v) + 1e-12)
    u = kernel.T @ v
    u = u / (jnp.linalg.norm(u) + 1e-12)
  u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
  return kernel / (v @ kernel @ u)


class _Dense(nn.Module):
  """`nn.Dense` with an optionally spectrally normalised kernel."""

  features: int
  spectral_norm: bool
  power_iterations: int

  @nn.compact
  def __call__(self, x):
    kernel = self.param("kernel", nn.initializers.lecun_normal(), (x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    if self.spectral_norm:
      kernel = _spectral_normalise(kernel, self.power_iterations)
    return x @ kernel + bias


class CriticDiscriminator(nn.Module):
  """The generator's adversary in the loop (the paper's `Discriminator` stays the judge).

  [x, x_t - x_{t-1}] -> stacked LSTM -> [last, mean, max over time] -> Dense -> 1 logit.
  The first difference makes sharp transitions visible to the first layer; max pooling
  lets a single rare event anywhere in the window decide. Defaults are stronger than
  the paper's LSTM 64 -> 16 -> 1 (two layers, three poolings, a wider head).
  """

  lstm_layers: int = 2
  lstm_units: int = 64
  dense_units: int = 64
  spectral_norm: bool = True  # of the dense head; the LSTM is left as is.
  power_iterations: int = 5

  @nn.compact
  def __call__(self, x):
    """x `[B, T, D]` -> logits `[B]` (sigmoid(logit) = probability that x is real)."""
    diff = jnp.diff(x, axis=1, prepend=x[:, :1])
    feats = jnp.concatenate([x, diff], axis=-1)
    stack = lstm.LSTMStack(feats.shape[-1], self.lstm_layers, self.lstm_units)
    state = lstm.zero_state(self.lstm_layers, x.shape[0], self.lstm_units, x.dtype)
    _, h = stack(state, feats)
    pooled = jnp.concatenate([h[:, -1], h.mean(axis=1), h.max(axis=1)], axis=-1)
    dense = lambda n: _Dense(n, self.spectral_norm, self.power_iterations)
    h = nn.leaky_relu(dense(self.dense_units)(pooled), 0.2)
    return dense(1)(h)[:, 0]


class PosthocLSTM(nn.Module):
  """LSTM over time then a Dense head: `[B, L, D]` -> `[B, F]` or `[B, L, F]`.

  Attributes:
    hidden: LSTM units.
    features: outputs per step.
    last_step_only: keep only the last step's output (sequence classifier).
  """

  hidden: int
  features: int
  last_step_only: bool

  @nn.compact
  def __call__(self, x):
    stack = lstm.LSTMStack(x.shape[-1], 1, self.hidden)
    _, h = stack(lstm.zero_state(1, x.shape[0], self.hidden, x.dtype), x)  # [B, L, hidden]
    if self.last_step_only:
      h = h[:, -1]
    return nn.Dense(self.features)(h)
