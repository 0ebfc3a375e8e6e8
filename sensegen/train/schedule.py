"""The interface of a training schedule, and what the schedules share.

A schedule decides what a run does around its generator steps (nothing, discriminator
rounds, critic rounds); `loop.Trainer` owns the generator steps, logging, evaluation,
checkpoints and stopping. Schedules are built once per run from the config and the
generator, so every jitted step they use is chosen there.
"""

import functools
import logging

import jax
import numpy as np

from sensegen import calibration
from sensegen import input_pipeline
from sensegen import resampling
from sensegen import sampling
from sensegen.config import Config
from sensegen.data import windows
from sensegen.evaluate import features

# Purposes folded into the run's key (or seed) so that each random draw is independent.
D_TRAIN, D_HELDOUT, PLOT, DP_NOISE, ADVERSARIAL, CRITIC, SCHEDULED_SAMPLING = 1, 2, 3, 4, 5, 6, 7
CALIBRATION, RESAMPLING = 8, 9


class Schedule:
  """The interface every schedule implements; defaults for the optional parts.

  Attributes:
    trains_critic: whether the run's state (and checkpoint) holds the critic's `c`.
    cfg, run_data, gen: the run's config, data and generator module.
    key: the run's root `jax.random` key.
    weight_temperature: what its samples are drawn with: `--weight_temperature`, or the
      latest fitted value (`fit_weight_temperature`) when that flag is 0.
  """

  trains_critic = False

  def __init__(self, cfg: Config, run_data: input_pipeline.RunData, gen):
    self.cfg = cfg
    self.run_data = run_data
    self.gen = gen
    self.key = jax.random.key(cfg.seed)
    self.output_map = output_map(run_data)
    self.weight_temperature = cfg.weight_temperature or 1.0

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
    self,
    params,
    key,
    count: int,
    length: int,
    labels=None,
    model_space: bool = False,
    weight_temperature=None,
  ) -> np.ndarray:
    """`count` generated windows `[count, length, D]` of the run's channels (or, with
    `model_space`, of what the generator models), drawn as `--temperature`,
    `--burn_in` and `weight_temperature` say; `labels` `[count, length]` for a conditioned
    generator."""
    cfg = self.cfg
    if weight_temperature is None:
      weight_temperature = self.weight_temperature
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
        weight_temperature=weight_temperature,
        output_map=None if model_space else self.output_map,
      )
    )

  def real_windows(self, split, count: int, rng, length: int = 0) -> tuple:
    """`count` windows `[count, length, D]` (default `--window` steps) of `split` at random
    positions, and their labels `[count, length]` (None when unconditioned)."""
    conditioned = self.run_data.conditioned
    drawn = windows.random_windows(
      split.series,
      count,
      length or self.cfg.window,
      rng,
      labels=split.labels if conditioned else None,
    )
    return drawn if conditioned else (drawn, None)

  def fit_weight_temperature(self, params, key) -> dict:
    """Fits the weight temperature of the samples to training windows (`calibration`) when
    `--weight_temperature` is 0; {} when the run keeps a fixed one. With
    `--select_generator=best_judge` the fit also holds the feature judge's score
    ("judge_score") of the fitted windows against those training windows.

    Not with --dp: the fit reads the private training data outside the privacy accounting.
    """
    cfg = self.cfg
    if cfg.weight_temperature or not cfg.calibration_windows or cfg.dp:
      return {}
    rng = np.random.default_rng([cfg.seed, CALIBRATION])
    real, labels = self.real_windows(self.run_data.train, cfg.calibration_windows, rng)
    key = jax.random.fold_in(key, CALIBRATION)

    @functools.cache  # The judge below scores the fit's own draw at the chosen value.
    def draw(wt: float) -> np.ndarray:
      return self.sample_windows(params, key, len(real), cfg.window, labels, weight_temperature=wt)

    fit = calibration.fit_weight_temperature(draw, real)
    self.weight_temperature = fit["weight_temperature"]
    judged = ""
    if cfg.select_generator == "best_judge":
      scores = features.feature_scores(real, draw(fit["weight_temperature"]))
      fit["judge_score"] = float(np.mean(scores))
      judged = f", feature-judge score {fit['judge_score']:.3f}"
    logging.info(
      "weight temperature fitted: %g (window-std KS %.3f%s)",
      fit["weight_temperature"],
      fit["window_std_ks"],
      judged,
    )
    return fit

  def fit_critic(self, params, key, weight_temperature=None):
    """The resampling critic (`resampling`) of generator `params` drawn at
    `weight_temperature` (None: the schedule's): `--resample_windows` training windows at
    random positions against as many generated ones; for a conditioned run, a
    `resampling.LabelCritics` (`_fit_label_critics`). None for `--resample_windows=0` and
    --dp runs (the fit would read the private data outside the privacy accounting)."""
    cfg = self.cfg
    if not cfg.resample_windows or cfg.dp:
      return None
    rng = np.random.default_rng([cfg.seed, RESAMPLING])
    key = jax.random.fold_in(key, RESAMPLING)
    if self.run_data.conditioned:
      return self._fit_label_critics(params, key, rng, weight_temperature)
    real, _ = self.real_windows(self.run_data.train, cfg.resample_windows, rng)
    synthetic = self.sample_windows(
      params, key, len(real), cfg.window, weight_temperature=weight_temperature
    )
    logging.info("fitting the resampling critic on %d + %d windows", len(real), len(real))
    return resampling.fit(real, synthetic)

  def _fit_label_critics(self, params, key, rng, weight_temperature):
    """One critic per label with training stretches of at least `--window` steps (for HAR
    the 6 basic activities), each on `--resample_windows` windows of that label's stretches
    against as many generated under it. None when no label has such stretches."""
    cfg, train = self.cfg, self.run_data.train
    critics = {}
    for label in range(1, self.run_data.num_labels):
      stretches = windows.label_runs(train.series, train.labels, label, cfg.window)
      if not stretches:
        continue
      real = windows.random_windows(stretches, cfg.resample_windows, cfg.window, rng)
      logging.info(
        "fitting the resampling critic of label %d on %d + %d windows", label, len(real), len(real)
      )
      synthetic = self.sample_windows(
        params,
        jax.random.fold_in(key, label),
        len(real),
        cfg.window,
        np.full((len(real), cfg.window), label, np.int32),
        weight_temperature=weight_temperature,
      )
      critics[label] = resampling.fit(real, synthetic)
    return resampling.LabelCritics(critics) if critics else None


def output_map(run_data: input_pipeline.RunData):
  """The map from the generator's space to the run's channels (None when they agree)."""
  if not run_data.model:
    return None
  model = run_data.model
  return sampling.OutputMap.from_normalisers(model.chain, model.normaliser, run_data.normaliser)
