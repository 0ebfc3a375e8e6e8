"""The interface of a training schedule, and what the schedules share.

A schedule decides what a run does around its generator steps (nothing, discriminator
rounds, critic rounds); `loop.Trainer` owns the generator steps, logging, evaluation,
checkpoints and stopping. Schedules are built once per run from the config and the
generator, so every jitted step they use is chosen there.
"""

import jax
import numpy as np

from sensegen import input_pipeline
from sensegen import sampling
from sensegen.config import Config

# Purposes folded into the run's key (or seed) so that each random draw is independent.
D_TRAIN, D_HELDOUT, PLOT, DP_NOISE, ADVERSARIAL, CRITIC, SCHEDULED_SAMPLING = 1, 2, 3, 4, 5, 6, 7


class Schedule:
  """The interface every schedule implements; defaults for the optional parts.

  Attributes:
    trains_critic: whether the run's state (and checkpoint) holds the critic's `c`.
    cfg, run_data, gen: the run's config, data and generator module.
    key: the run's root `jax.random` key.
  """

  trains_critic = False

  def __init__(self, cfg: Config, run_data: input_pipeline.RunData, gen):
    self.cfg = cfg
    self.run_data = run_data
    self.gen = gen
    self.key = jax.random.key(cfg.seed)
    self.output_map = output_map(run_data)

  @classmethod
  def check(cls, cfg: Config) -> None:
    """Raises ConfigError for flags this schedule cannot honour."""
    del cfg

  def total_steps(self) -> int:
    """Generator steps of the whole run: progress lines and DP noise calibration."""
    raise NotImplementedError

  def run(self, trainer, state, position) -> bool:
    """Trains from `position` to the end; False if a stop was requested (then saved)."""
    raise NotImplementedError

  def figures(self, rows: list, workdir: str) -> tuple:
    """Writes this schedule's own figures from the metrics rows into `workdir`; returns
    their names (`NAME.png`)."""
    del rows, workdir
    return ()

  def sample_windows(
    self, params, key, count: int, length: int, labels=None, model_space: bool = False
  ) -> np.ndarray:
    """`count` generated windows `[count, length, D]` of the run's channels (or, with
    `model_space`, of what the generator models), drawn as `--temperature`,
    `--weight_temperature` and `--burn_in` say; `labels` `[count, length]` for a
    conditioned generator."""
    cfg = self.cfg
    return np.asarray(
      sampling.sample_jit(
        self.gen,
        params,
        key,
        count,
        length,
        cfg.temperature,
        labels=labels,
        burn_in=cfg.burn_in,
        weight_temperature=cfg.weight_temperature,
        output_map=None if model_space else self.output_map,
      )
    )


def output_map(run_data: input_pipeline.RunData):
  """The map from the generator's space to the run's channels (None when they agree)."""
  if not run_data.model:
    return None
  model = run_data.model
  return sampling.OutputMap.from_normalisers(model.chain, model.normaliser, run_data.normaliser)
