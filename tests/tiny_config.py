"""The smallest run configuration and hand-set generators, for tests that build train
states or sample without training, and a tiny trainable run on a sine file."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

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


def sine_run(root, steps: int = 2000, **overrides) -> Config:
  """A tiny run on a sine of `steps` steps written to `root`/sine.npz (workdir `root`/run),
  with its end-of-training fits at their smallest useful size; `overrides`: other flags."""
  t = np.arange(steps, dtype=np.float32)
  np.savez(root / "sine.npz", x=np.sin(t / 5)[None, :, None])
  cfg = Config(
    workdir=str(root / "run"),
    data=str(root / "sine.npz"),
    lstm_layers=1,
    lstm_units=8,
    dense_units=8,
    mixtures=2,
    batch_size=4,
    bptt_steps=10,
    train_steps=40,
    window=20,
    eval_windows=4,
    log_every=5,
    eval_every=20,
    checkpoint_every=10,
    figures=False,
    calibration_windows=8,
    burn_in=20,
  )
  return dataclasses.replace(cfg, **overrides)


def still_generator(input_noise: float, log_sigma: float, channels: int = 2, drift: float = 0.0):
  """A residual-mean generator whose every component predicts a change of `drift` (default
  "no change") with std exp(`log_sigma`): its next step is its (noisy) input plus `drift`
  and that narrow spread.

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
  bias = jnp.zeros_like(head["bias"]).at[k : k + k * d].set(drift)  # logits, mu, log_sigma
  bias = bias.at[k + k * d :].set(log_sigma)
  params = {**variables["params"], "head": {"kernel": jnp.zeros_like(head["kernel"]), "bias": bias}}
  return gen, {"params": params}
