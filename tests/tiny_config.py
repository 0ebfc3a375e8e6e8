"""The smallest run configuration and hand-set generators, for tests that build train
states or sample without training."""

import jax
import jax.numpy as jnp

from sensegen import models
from sensegen.config import Config

TINY = Config(
  workdir="x",
  lstm_layers=1,
  lstm_units=4,
  dense_units=4,
  mixtures=2,
  batch_size=2,
  d_lstm_units=4,
  d_dense_units=2,
)


def still_generator(input_noise: float, log_sigma: float, channels: int = 2):
  """A residual-mean generator whose every component predicts "no change" with std
  exp(`log_sigma`): its next step is its (noisy) input plus that narrow spread.

  Returns (model, variables).
  """
  gen = models.Generator(
    channels=channels,
    lstm_layers=1,
    lstm_units=4,
    dense_units=4,
    mixtures=2,
    residual_mean=True,
    input_noise=input_noise,
  )
  variables = gen.init(jax.random.key(0), gen.zero_state(1), jnp.zeros((1, 2, channels)))
  head = variables["params"]["head"]
  k, d = gen.mixtures, channels
  bias = jnp.zeros_like(head["bias"]).at[k + k * d :].set(log_sigma)  # logits, mu, log_sigma
  params = {**variables["params"], "head": {"kernel": jnp.zeros_like(head["kernel"]), "bias": bias}}
  return gen, {"params": params}
