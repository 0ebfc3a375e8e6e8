"""Host loops that drive the jitted steps: the NLL schedule, the alternating G/D schedule
(the paper's Algorithm 1) and the adversarial schedule, with logging, evaluation,
checkpoints and, for --dp runs, privacy accounting.

Every random choice is a function of (seed, step) or (seed, round), and the data
stream positions are checkpointed, so a resumed run repeats an uninterrupted one.
"""

import dataclasses
import logging
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from sensegen import adversarial
from sensegen import experiment
from sensegen import fileio
from sensegen import input_pipeline
from sensegen import parallel
from sensegen import plots
from sensegen import privacy
from sensegen import sampling
from sensegen import tensorboard
from sensegen import train
from sensegen import config as config_lib
from sensegen.checkpoint import Checkpointer
from sensegen.config import Config
from sensegen.data import windows
from sensegen.errors import SenseGenError
from sensegen.metrics import MetricsLog, read_rows


class TrainingStopped(SenseGenError):
  """Training stopped early (non-finite steps); the last good checkpoint is kept."""


def prepare(cfg: Config) -> "Trainer":
  """Checks the flags against a previous run, loads the data, writes `config.json` and
  `dataset.json` (what `sensegen.load` needs besides checkpoints) and builds the trainer.
  Bad input raises before anything is written."""
  privacy.check_compatible(cfg.schedule, cfg.dp)
  if jax.device_count() > 1:
    parallel.check_batch_size(cfg.batch_size, jax.device_count())
  config_path = os.path.join(cfg.workdir, "config.json")
  if os.path.exists(config_path):
    config_lib.check_resume(cfg, fileio.read_json(config_path), config_path)
  run_data = input_pipeline.load(cfg, min_length=max(cfg.window, cfg.bptt_steps + 1))
  logging.info("data: %d training sessions (%d steps), %d held-out sessions (%d steps); "
               "channels %s", len(run_data.train.series), run_data.train.num_samples,
               len(run_data.test.series), run_data.test.num_samples, ",".join(run_data.channels))
  fileio.write_json(config_path, dataclasses.asdict(cfg))
  fileio.write_json(os.path.join(cfg.workdir, "dataset.json"),
                    input_pipeline.dataset_record(run_data))
  return Trainer(cfg, run_data)


class StopFlag:
  """Set from a signal handler; the loop checkpoints and returns at the next safe point."""

  def __init__(self):
    self.signal = None


# Purposes folded into the round's key so that each draw is independent.
_D_TRAIN, _D_HELDOUT, _PLOT, _DP_NOISE, _ADVERSARIAL, _CRITIC = 1, 2, 3, 4, 5, 6


@dataclasses.dataclass
class Trainer:
  """Everything a training run holds between steps."""
  cfg: Config
  run_data: input_pipeline.RunData
  stop: StopFlag = dataclasses.field(default_factory=StopFlag)

  def __post_init__(self):
    cfg = self.cfg
    self.gen = experiment.generator(cfg, len(self.run_data.channels), self.run_data.num_labels)
    self.disc = experiment.discriminator(cfg)
    self.budget = None
    if jax.device_count() > 1:  # Data-parallel over every device, parameters replicated.
      self.g_step = parallel.make_parallel_generator_step(self.gen, parallel.make_mesh())
    else:
      self.g_step = train.make_generator_step(self.gen)
    self.d_step = train.make_discriminator_step(self.disc)
    self.d_accuracy = train.make_discriminator_accuracy(self.disc)
    self.nll = train.make_nll_eval(self.gen)
    self.ckpt = Checkpointer(os.path.join(cfg.workdir, "checkpoints"), cfg.keep_checkpoints)
    self.log = MetricsLog(os.path.join(cfg.workdir, "metrics.jsonl"))
    self.tb = tensorboard.TensorBoardLog(os.path.join(cfg.workdir, "tensorboard"))
    # Events still buffered when a run was killed are written again; steps on disk are skipped.
    for row in read_rows(self.log.path):
      self.tb.scalars(row["step"], row)
    self.tb.hparams(dataclasses.asdict(cfg))
    self.eval_set, self.eval_labels = input_pipeline.eval_windows(
        self.run_data, cfg.window, cfg.eval_windows, cfg.seed)
    self.baseline_nll = train.gaussian_nll(self.run_data.train.series, self.eval_set)
    self.key = jax.random.key(cfg.seed)
    self.dp_key = jax.random.fold_in(self.key, _DP_NOISE)
    self.adv_key = jax.random.fold_in(self.key, _ADVERSARIAL)
    if cfg.schedule == "adversarial":
      self.critic = experiment.critic(cfg)
      self.adv_step = adversarial.make_adversarial_generator_step(
          self.gen, self.critic, cfg.adversarial_weight, cfg.adv_window, cfg.gumbel_temperature)
      self.c_step = adversarial.make_critic_step(self.critic, cfg.gradient_penalty)

  def setup_privacy(self, saved_noise=None) -> None:
    """The DP step and accountant of a --dp run. With a target epsilon the noise is the one
    that spends it over the planned generator steps, fixed by the run's first start."""
    cfg = self.cfg
    q = privacy.sampling_probability(cfg.batch_size, self.run_data.train.num_samples,
                                     cfg.bptt_steps)
    planned = self.planned_steps()
    noise = cfg.dp_noise_multiplier
    if saved_noise is not None:
      noise = saved_noise
    elif cfg.dp_target_epsilon:
      noise = privacy.noise_for_target_epsilon(cfg.dp_target_epsilon, q, planned, cfg.dp_delta)
    self.budget = privacy.PrivacyBudget(noise, q, cfg.dp_delta, cfg.dp_target_epsilon or None)
    self.g_step = privacy.make_dp_generator_step(self.gen, cfg.dp_clip_norm, noise)
    logging.info("DP-SGD: noise multiplier %.4g, sampling probability %.4g, epsilon after %d "
                 "steps %.4g at delta %g", noise, q, planned, self.budget.spent(planned),
                 cfg.dp_delta)

  def planned_steps(self) -> int:
    cfg = self.cfg
    return cfg.rounds * cfg.g_epochs if cfg.schedule == "alternating" else cfg.train_steps

  def max_steps(self) -> float:
    """Generator steps the privacy budget allows (unbounded without a target)."""
    allowed = self.budget.steps_allowed() if self.budget else None
    return float("inf") if allowed is None else allowed

  def privacy_record(self, step: int) -> dict:
    """epsilon spent after `step` generator steps, and its unit (empty when not --dp)."""
    if not self.budget:
      return {}
    return {"epsilon": self.budget.spent(step), "delta": self.cfg.dp_delta,
            "noise_multiplier": self.budget.noise_multiplier,
            "unit": f"one example = one window of {self.cfg.bptt_steps + 1} steps"}

  # --- state ---------------------------------------------------------------

  def restore_or_init(self):
    """(state, meta) from the latest good checkpoint, or fresh ones."""
    fresh = experiment.init_state(self.cfg, len(self.run_data.channels),
                                  self.run_data.num_labels)
    logging.info("generator: %s parameters",
                 f"{sum(leaf.size for leaf in jax.tree.leaves(fresh['g'].params)):,}")
    restored = self.ckpt.restore_latest(fresh)
    if restored is not None:
      _, state, meta = restored
      logging.info("resumed from checkpoint at step %d (round %d)", meta["step"], meta["round"])
      return state, meta
    streams = windows.init_streams(self.run_data.train.series, self.cfg.batch_size,
                                   self.cfg.bptt_steps, self.cfg.seed)
    return fresh, {"step": 0, "round": 0, "phase": "d", "g_until": 0,
                   "streams": streams.to_dict()}

  def save(self, state, meta) -> None:
    # Ids count saves, so they grow even across rounds without generator steps.
    meta["saves"] = meta.get("saves", 0) + 1
    meta["privacy"] = self.privacy_record(meta["step"])
    self.ckpt.save(meta["saves"], state, meta)

  # --- generator steps -----------------------------------------------------

  def generator_steps(self, state, meta, until: int, total: int) -> bool:
    """Runs generator steps up to step `until`, logging, evaluating and checkpointing.

    Returns False if a stop was requested (a checkpoint of the current step is saved).
    """
    cfg, series = self.cfg, self.run_data.train.series
    labels = self.run_data.train.labels if self.run_data.conditioned else None
    streams = windows.Streams.from_dict(meta["streams"])
    if until > self.max_steps():
      logging.info("the privacy budget is spent after %d generator steps: stopping there",
                   self.max_steps())
      until = self.max_steps()
    sums, good, bad, worst, since, tick = {}, 0, jnp.int32(0), jnp.int32(0), 0, time.time()
    while meta["step"] < until:
      if self.stop.signal is not None:
        meta["streams"] = streams.to_dict()
        self.save(state, meta)
        return False
      batch, streams = windows.next_chunk(series, streams, cfg.bptt_steps, meta["step"],
                                          cfg.seed, labels)
      m = self._step(state, batch, meta["step"])
      for name in ("train_nll", "adv_g_loss"):  # Means over the finite steps of a log period.
        if name in m:
          sums[name] = sums.get(name, 0.0) + jnp.where(m["finite"], m[name], 0.0)
      good = good + m["finite"]
      bad = jnp.where(m["finite"], 0, bad + 1)
      worst = jnp.maximum(worst, bad)
      since += 1
      meta["step"] += 1
      step, row = meta["step"], {}
      if step % cfg.log_every == 0 or step == until:
        self._check_bad_steps(int(worst))
        elapsed = time.time() - tick
        row.update({k: float(v) / max(int(good), 1) for k, v in sums.items()},
                   steps_per_sec=since / elapsed)
        if self.budget:
          row["epsilon"] = self.budget.spent(step)
        self._progress(step, total, row, elapsed / since)
        sums, good, since, tick = {}, 0, 0, time.time()
      if step % cfg.eval_every == 0 or step == until:
        row.update(self.evaluate_nll(state))
        logging.info("step %d  eval_nll %.4f  (per-channel Gaussian %.4f)", step,
                     row["eval_nll"], row["baseline_eval_nll"])
      if row:
        self.write_row({"step": step, **row})
      if step % cfg.checkpoint_every == 0:
        meta["streams"] = streams.to_dict()
        self.save(state, meta)
    # Stream positions go into meta only when it is saved or handed back, not every step.
    meta["streams"] = streams.to_dict()
    return True

  def _step(self, state, batch, step: int) -> dict:
    """One generator update of the kind the schedule asks for; returns its metrics."""
    if self.budget:
      # An example must be one window: no state carried in from other examples.
      batch["reset"] = np.ones_like(batch["reset"])
      key = jax.random.fold_in(self.dp_key, step)
      state["g"], state["rnn"], m = self.g_step(state["g"], state["rnn"], batch, key)
    elif self.cfg.schedule == "adversarial" and step >= self.cfg.train_steps:
      key = jax.random.fold_in(self.adv_key, step)
      state["g"], state["rnn"], m = self.adv_step(state["g"], state["rnn"], batch,
                                                  state["c"].params, key)
    else:
      state["g"], state["rnn"], m = self.g_step(state["g"], state["rnn"], batch)
    return m

  def write_row(self, row: dict) -> None:
    """To metrics.jsonl and TensorBoard, unless a run before a crash already wrote it."""
    if jax.process_index() == 0 and self.log.write(row):  # One writer in multi-host jobs.
      self.tb.scalars(row["step"], row)

  def _check_bad_steps(self, worst: int) -> None:
    if worst >= self.cfg.max_bad_steps:
      raise TrainingStopped(
          f"{worst} consecutive generator steps had a non-finite loss or gradient "
          f"(--max_bad_steps={self.cfg.max_bad_steps}); stopped, the last checkpoint in "
          f"{self.cfg.workdir}/checkpoints holds the last good parameters")

  def evaluate_nll(self, state) -> dict:
    return {"eval_nll": self.nll(state["g"].params, self.eval_set, self.eval_labels),
            "baseline_eval_nll": self.baseline_nll}

  def _progress(self, step: int, total: int, row: dict, sec_per_step: float) -> None:
    eta = max(total - step, 0) * sec_per_step
    logging.info("step %d/%d  train_nll %.4f  %.2f steps/s  ETA %dm%02ds", step, total,
                 row.get("train_nll", float("nan")), row["steps_per_sec"], eta // 60, eta % 60)

  # --- discriminator -------------------------------------------------------

  def sample_windows(self, params, key, count: int, labels=None) -> np.ndarray:
    """`count` generated windows; `labels` `[count, window]` for a conditioned model."""
    return np.asarray(sampling.sample_jit(self.gen, params, key, count, self.cfg.window,
                                          self.cfg.temperature, labels=labels))

  def real_windows(self, split, rng):
    """`d_batch` real windows of `split`, and their labels (None when unconditioned)."""
    conditioned = self.run_data.conditioned
    drawn = windows.random_windows(split.series, self.cfg.d_batch, self.cfg.window, rng,
                                   labels=split.labels if conditioned else None)
    return drawn if conditioned else (drawn, None)

  def train_discriminator(self, d_state, real, fake, rng):
    """`d_epochs` passes over real (label 1) and generated (label 0) windows.

    Returns (d_state, accuracy on those windows after training).
    """
    cfg = self.cfg
    x = np.concatenate([real, fake])
    y = np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.float32)
    for _ in range(cfg.d_epochs):
      order = rng.permutation(len(x))
      for i in range(0, len(x), cfg.d_minibatch):
        idx = order[i:i + cfg.d_minibatch]
        d_state, _, _ = self.d_step(d_state, x[idx], y[idx])
    return d_state, float(self.d_accuracy(d_state.params, x, y))

  def discriminator_round(self, state, meta) -> dict:
    """Lines 2-4 of Algorithm 1, then D's accuracy on data it never saw."""
    cfg, r = self.cfg, meta["round"]
    round_key = jax.random.fold_in(self.key, r)
    rng = np.random.default_rng([cfg.seed, r, _D_TRAIN])
    # Generated windows follow the real windows' label sequences when conditioned.
    real, labels = self.real_windows(self.run_data.train, rng)
    fake = self.sample_windows(state["g"].params, jax.random.fold_in(round_key, _D_TRAIN),
                               cfg.d_batch, labels)
    state["d"], train_acc = self.train_discriminator(state["d"], real, fake, rng)
    held_rng = np.random.default_rng([cfg.seed, r, _D_HELDOUT])
    real, labels = self.real_windows(self.run_data.test, held_rng)
    fake = self.sample_windows(state["g"].params, jax.random.fold_in(round_key, _D_HELDOUT),
                               cfg.d_batch, labels)
    y = np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.float32)
    held_acc = float(self.d_accuracy(state["d"].params, np.concatenate([real, fake]), y))
    return {"round": r + 1, "d_train_accuracy": train_acc, "d_heldout_accuracy": held_acc}

  # --- schedules -----------------------------------------------------------

  def run(self) -> bool:
    """Trains per the config's schedule; returns False if stopped by a signal."""
    state, meta = self.restore_or_init()
    if self.cfg.dp:
      self.setup_privacy(meta.get("privacy", {}).get("noise_multiplier"))
    if self.cfg.schedule == "alternating":
      done = self._alternating(state, meta)
    elif self.cfg.schedule == "adversarial":
      done = self._adversarial(state, meta)
    else:
      total = self.cfg.train_steps
      done = self.generator_steps(state, meta, total, total)
    if done:
      self.save(state, meta)
      self.write_plots(state)
    self.ckpt.close()
    self.tb.close()
    return done

  def _alternating(self, state, meta) -> bool:
    cfg = self.cfg
    return self._rounds(state, meta, self._discriminator_phase, cfg.rounds * cfg.g_epochs)

  def _discriminator_phase(self, state, meta) -> dict:
    row = self.discriminator_round(state, meta)
    logging.info("round %d/%d  D accuracy: train %.3f, held-out %.3f", row["round"],
                 self.cfg.rounds, row["d_train_accuracy"], row["d_heldout_accuracy"])
    return row

  def _rounds(self, state, meta, d_phase, total: int) -> bool:
    """Rounds of `d_phase` (logged) then `g_epochs` generator steps, resumable per phase."""
    cfg = self.cfg
    while meta["round"] < cfg.rounds and meta["step"] < self.max_steps():
      if meta["phase"] == "d":
        if self.stop.signal is not None:
          self.save(state, meta)
          return False
        self.write_row({"step": meta["step"], **d_phase(state, meta)})
        meta.update(phase="g", g_until=meta["step"] + cfg.g_epochs)
      if not self.generator_steps(state, meta, meta["g_until"], total):
        return False
      meta.update(phase="d", round=meta["round"] + 1)
      self.save(state, meta)
    return True

  def critic_round(self, state, meta) -> dict:
    """`d_epochs` critic steps, each on fresh real and generated windows of `adv_window`."""
    cfg, r = self.cfg, meta["round"]
    rng = np.random.default_rng([cfg.seed, r, _CRITIC])
    round_key = jax.random.fold_in(jax.random.fold_in(self.key, _CRITIC), r)
    totals = {}
    for i in range(cfg.d_epochs):
      real = windows.random_windows(self.run_data.train.series, cfg.d_minibatch,
                                    cfg.adv_window, rng)
      fake = np.asarray(sampling.sample_jit(self.gen, state["g"].params,
                                            jax.random.fold_in(round_key, i), cfg.d_minibatch,
                                            cfg.adv_window, cfg.temperature))
      state["c"], m = self.c_step(state["c"], real, fake)
      totals = {k: totals.get(k, 0.0) + v for k, v in m.items()}
    return {"round": r + 1, **{k: float(v) / max(cfg.d_epochs, 1) for k, v in totals.items()}}

  def _adversarial(self, state, meta) -> bool:
    """NLL pre-training for `train_steps`, then rounds of critic and adversarial G steps."""
    cfg = self.cfg
    total = cfg.train_steps + cfg.rounds * cfg.g_epochs
    if not self.generator_steps(state, meta, max(cfg.train_steps, meta["step"]), total):
      return False
    return self._rounds(state, meta, self._critic_phase, total)

  def _critic_phase(self, state, meta) -> dict:
    row = self.critic_round(state, meta)
    logging.info("round %d/%d  critic loss %.3f, accuracy %.3f", row["round"], self.cfg.rounds,
                 row["adv_d_loss"], row["adv_d_accuracy"])
    return row

  # --- figures -------------------------------------------------------------

  def write_plots(self, state) -> None:
    if jax.process_index() != 0:
      return
    cfg, rd = self.cfg, self.run_data
    rows = read_rows(self.log.path)
    plots.nll_curves(rows, os.path.join(cfg.workdir, "nll.png"))
    if cfg.schedule == "alternating":
      plots.discriminator_accuracy(rows, os.path.join(cfg.workdir, "discriminator.png"))
    key = jax.random.fold_in(self.key, _PLOT)
    labels = None if self.eval_labels is None else self.eval_labels[:4]
    fake = rd.normaliser.denormalise(self.sample_windows(state["g"].params, key, 4, labels))
    real = rd.normaliser.denormalise(self.eval_set[:4])
    plots.traces(real, fake, os.path.join(cfg.workdir, "traces.png"), rd.channels,
                 rd.train.sample_rate_hz, rd.train.units)
    step = max(r["step"] for r in rows) if rows else 0
    for name in ("nll", "discriminator", "traces"):
      path = os.path.join(cfg.workdir, f"{name}.png")
      if os.path.exists(path):
        self.tb.image(f"plots/{name}", path, step)
