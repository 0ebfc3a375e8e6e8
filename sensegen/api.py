"""`sensegen.load(workdir)`: a trained generator for notebooks and other JAX code."""

import dataclasses
import functools
import os

import jax
import jax.numpy as jnp

from sensegen import experiment
from sensegen import fileio
from sensegen import sampling
from sensegen.checkpoint import Checkpointer
from sensegen.config import Config
from sensegen.data.windows import Normaliser
from sensegen.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A generator restored from a run directory.

  Attributes:
    model: the `models.Generator` module (hashable; static under jit).
    params: its variables, `{"params": ...}`.
    config: the run's `Config`.
    normaliser: maps the model's normalised space to physical units.
    channels, units, sample_rate_hz, label_names: what the series mean.
  """
  model: object
  params: dict
  config: Config
  normaliser: Normaliser
  channels: tuple
  units: tuple
  sample_rate_hz: float
  label_names: tuple

  @functools.cached_property
  def sample_fn(self):
    """The pure, jitted sampler in physical units:
    `sample_fn(params, key, num_samples, length, temperature=1.0, labels=None)` ->
    `[num_samples, length, D]`. `num_samples` and `length` are static; it can be
    called inside the user's own `jax.jit` / `jax.vmap` (over keys)."""
    mean, std = jnp.asarray(self.normaliser.mean), jnp.asarray(self.normaliser.std)
    model = self.model

    def fn(params, key, num_samples, length, temperature=1.0, labels=None):
      x = sampling.sample(model, params, key, num_samples, length, temperature, labels=labels)
      return x * std + mean

    return jax.jit(fn, static_argnames=("num_samples", "length"))

  def sample(self, key, num_samples: int, length: int, temperature: float = 1.0,
             labels=None) -> jax.Array:
    """`[num_samples, length, D]` series in physical units; the same key gives the same series."""
    return self.sample_fn(self.params, key, num_samples, length, temperature, labels)


def read_config(workdir: str) -> Config:
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"{path} not found: --workdir must be a trained run directory")
  saved = fileio.read_json(path)
  names = {f.name for f in dataclasses.fields(Config)}
  return Config(**{k: v for k, v in saved.items() if k in names})


def load(workdir: str) -> TrainedGenerator:
  """Restores the latest checkpoint of the run in `workdir`."""
  cfg = read_config(workdir)
  record = fileio.read_json(os.path.join(workdir, "dataset.json"))
  channels = tuple(record["channels"])
  fresh = experiment.init_state(cfg, len(channels))
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), cfg.keep_checkpoints)
  found = ckpt.restore_latest(fresh)
  ckpt.close()
  if found is None:
    raise ConfigError(f"{workdir}/checkpoints holds no checkpoint: train the run first")
  _, state, _ = found
  return TrainedGenerator(
      model=experiment.generator(cfg, len(channels)), params=state["g"].params, config=cfg,
      normaliser=Normaliser.from_dict(record["normaliser"]), channels=channels,
      units=tuple(record["units"]), sample_rate_hz=record["sample_rate_hz"],
      label_names=tuple(record["label_names"]))
