"""The training loop: generator steps with logging, evaluation, checkpoints and stopping,
around which a schedule (`schedule.Schedule`) places its own phases.

Every random choice is a function of (seed, step) or (seed, round), and the data
stream positions are checkpointed, so a resumed run repeats an uninterrupted one.
"""

import dataclasses
import logging
import signal
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from sensegen import calibration
from sensegen import experiment
from sensegen import input_pipeline
from sensegen import parallel
from sensegen import privacy
from sensegen import resampling
from sensegen import styles
from sensegen.checkpoint import Checkpointer
from sensegen.config import Config
from sensegen.data import windows
from sensegen.errors import SenseGenError
from sensegen.train import outputs
from sensegen.train import selection
from sensegen.train.position import Position
from sensegen.train.schedule import PLOT
from sensegen.train.schedule import Schedule


class TrainingStopped(SenseGenError):
  """Training stopped early (non-finite steps); the last good checkpoint is kept."""


class StopFlag:
  """Set from a signal handler; the loop checkpoints and returns at the next safe point."""

  def __init__(self):
    self.signal = None


def _log_sampling(record: dict) -> None:
  """Says which generator the run samples with when it is not simply the last one
  (`record`: `selection.sampling_record`'s)."""
  if record.get("averaged", 0) > 1:
    logging.info(
      "sampling with the mean of the %d generators of steps %d-%d (window-std KS %.3f)",
      record["averaged"],
      record["averaged_from"],
      record["step"],
      record["window_std_ks"],
    )
  elif record["step"] != record["last_step"]:
    judged = f", feature-judge score {record['judge_score']:.3f}" if "judge_score" in record else ""
    logging.info(
      "sampling with the generator of step %d (window-std KS %.3f%s), not the last",
      record["step"],
      record["window_std_ks"],
      judged,
    )


@dataclasses.dataclass
class HeldOut:
  """The held-out windows `[N, L, D]` (and labels `[N, L]`) of the NLL evaluations, and
  the per-channel Gaussian's NLL on them (the baseline every generator must beat)."""

  windows: np.ndarray
  labels: Optional[np.ndarray]
  baseline_nll: float
  nll: Callable  # (params, windows, labels) -> mean NLL, `steps.make_nll_eval`.

  def row(self, params) -> dict:
    return {
      "eval_nll": self.nll(params, self.windows, self.labels),
      "baseline_eval_nll": self.baseline_nll,
    }


class _Period:
  """Sums over the steps of one log period, kept as device arrays until it ends (no host
  sync per step), and the longest run of non-finite steps so far."""

  def __init__(self):
    self.bad, self.worst = jnp.int32(0), jnp.int32(0)
    self._reset()

  def _reset(self):
    self.sums, self.good, self.count, self.tick = {}, 0, 0, time.time()

  def add(self, m: dict) -> None:
    for name in ("train_nll", "adv_g_loss"):  # Means over the finite steps of a period.
      if name in m:
        self.sums[name] = self.sums.get(name, 0.0) + jnp.where(m["finite"], m[name], 0.0)
    self.good = self.good + m["finite"]
    self.bad = jnp.where(m["finite"], 0, self.bad + 1)
    self.worst = jnp.maximum(self.worst, self.bad)
    self.count += 1

  def close(self) -> tuple:
    """(row of means and steps_per_sec, seconds per step); starts the next period."""
    elapsed = time.time() - self.tick
    row = {k: float(v) / max(int(self.good), 1) for k, v in self.sums.items()}
    row["steps_per_sec"] = self.count / elapsed
    seconds = elapsed / self.count
    self._reset()
    return row, seconds


@dataclasses.dataclass
class Trainer:
  """A training run between steps (built by `setup.prepare`).

  Attributes:
    cfg, run_data: the run's config and (normalised) data.
    schedule: what the run does around its generator steps.
    state, position: the arrays and the loop position, restored or fresh.
    g_update: one generator step `(state, batch, step) -> metrics` updating `state.g` and
      `state.rnn`: the plain, data-parallel or DP-SGD step, chosen by `setup`.
    place: this process's rows of a batch -> the batch the steps take (global arrays
      split over the devices of every process when data-parallel).
    held_out: the held-out NLL evaluation.
    out: metrics rows, TensorBoard and figures.
    ckpt: the run's checkpoints.
    budget: the DP-SGD privacy budget (None unless --dp).
    max_steps: generator steps the budget allows (inf without a target epsilon).
    stop: set by a signal handler.
    dequantize: `[D]` quantisation steps of the training series (--dequantize), else None.
  """

  cfg: Config
  run_data: input_pipeline.RunData
  schedule: Schedule
  state: experiment.RunState
  position: Position
  g_update: Callable
  held_out: HeldOut
  out: outputs.RunLog
  ckpt: Checkpointer
  budget: Optional[privacy.PrivacyBudget] = None
  max_steps: float = float("inf")
  place: Callable = lambda batch: batch
  stop: StopFlag = dataclasses.field(default_factory=StopFlag)
  dequantize: Optional[np.ndarray] = None

  def run(self) -> bool:
    """Trains per the schedule; returns False if stopped by a signal or `--stop_at` (after
    saving)."""
    done = self.schedule.run(self, self.state, self.position)
    if done:
      fit = self.schedule.fit_weight_temperature(self.state.g.params, self.schedule.key)
      selection.consider(self.cfg, self.state, self.position, fit)
      selection.add_to_average(self.cfg, self.state, self.position, self.schedule.total_steps())
      if fit and selection.averaged(self.cfg, self.position):
        self.position.best.update(self._fit_of_average(fit))
      self.save(self.state, self.position)
      record = selection.sampling_record(self.position, fit)
      if fit and jax.process_index() == 0:
        calibration.write(self.cfg.workdir, record)
        _log_sampling(record)
      self._fit_critic(record)
      self.write_figures(self.state)
    self.ckpt.close()
    self.out.close()
    return done

  def _fit_critic(self, sampling: dict) -> None:
    """Fits and saves the resampling critic of the generator the run samples with;
    `sampling`: its `selection.sampling_record`."""
    params = selection.params(self.state)
    wt = sampling.get("weight_temperature")
    critic = self.schedule.fit_critic(params, self.schedule.key, wt)
    if critic is not None and jax.process_index() == 0:
      record = {"step": sampling["step"], "windows": self.cfg.resample_windows}
      resampling.write(self.cfg.workdir, critic, record)

  def _fit_of_average(self, last_fit: dict) -> dict:
    """The weight-temperature fit of the averaged generator; an average of one generator is
    the last one, whose fit `last_fit` is."""
    if self.position.best["averaged"] == 1:
      return last_fit
    return self.schedule.fit_weight_temperature(self.state.best, self.schedule.key)

  def generator_steps(self, state, position, until: int, update=None) -> bool:
    """Generator steps (`update`, default `g_update`) up to step `until`, with logging,
    evaluation and checkpoints. Returns False if a stop was requested (then saved)."""
    cfg, train = self.cfg, self.run_data.model_train
    labels = train.labels if self.run_data.conditioned else None
    update = update or self.g_update
    if until > self.max_steps:
      logging.info(
        "the privacy budget is spent after %d generator steps: stopping there", self.max_steps
      )
      until = self.max_steps
    period = _Period()
    while position.step < until:
      if self.stop_requested(state, position):
        return False
      batch, position.streams = windows.next_chunk(
        train.series,
        position.streams,
        cfg.bptt_steps,
        position.step,
        cfg.seed,
        labels,
        reset_prob=cfg.reset_prob,
        rows=parallel.local_rows(cfg.batch_size),
        input_noise=cfg.input_noise,
        dequantize=self.dequantize,
      )
      self._add_styles(batch, position.streams.session, position.step)
      period.add(update(state, self.place(batch), position.step))
      position.step += 1
      self._after_step(state, position, until, period)
    return True

  def _add_styles(self, batch: dict, sessions, step: int) -> None:
    """Packs each stream's style (`sensegen.styles`) into the batch's labels in place, for
    a `--subject_style` run; `sessions` `[B]` are the sessions the chunk was read from."""
    run_data = self.run_data
    if run_data.session_styles is None:
      return
    drawn = styles.chunk_styles(
      run_data.session_styles, sessions, self.cfg.seed, step, self.cfg.style_dropout
    )
    batch["labels"] = styles.pack(
      batch["labels"], drawn[parallel.local_rows(self.cfg.batch_size)], run_data.num_labels
    )

  def _after_step(self, state, position, until: int, period: _Period) -> None:
    """Logs, evaluates and checkpoints at the configured cadences."""
    cfg, step, row = self.cfg, position.step, {}
    if step % cfg.log_every == 0 or step == until:
      _check_bad_steps(int(period.worst), cfg)
      means, seconds = period.close()
      row.update(means)
      if self.budget:
        row["epsilon"] = self.budget.spent(step)
      self.out.progress(step, self.schedule.total_steps(), row, seconds)
    if step % cfg.eval_every == 0 or step == until:
      row.update(self.held_out.row(state.g.params))
      logging.info(
        "step %d  eval_nll %.4f  (per-channel Gaussian %.4f)",
        step,
        row["eval_nll"],
        row["baseline_eval_nll"],
      )
    if row:
      self.out.write({"step": step, **row})
    if step % cfg.average_every == 0:
      selection.add_to_average(cfg, state, position, self.schedule.total_steps())
    if step % cfg.checkpoint_every == 0:
      self.save(state, position)

  def rounds(self, state, position, phase: Callable, update=None) -> bool:
    """Rounds of `phase(state, position) -> row` (logged) then `g_steps_per_round` generator
    steps (`update`), resumable at either phase. False if a stop was requested (then saved)."""
    cfg = self.cfg
    while position.round < cfg.rounds and position.step < self.max_steps:
      if position.phase == "d":
        if self.stop_requested(state, position):
          return False
        self.out.write({"step": position.step, **phase(state, position)})
        position.phase, position.g_until = "g", position.step + cfg.g_steps_per_round
      if not self.generator_steps(state, position, position.g_until, update):
        return False
      position.phase, position.round = "d", position.round + 1
      self.save(state, position)
    return True

  def stop_requested(self, state, position) -> bool:
    """Whether a signal asked the run (any of its processes) to stop, or it reached
    `--stop_at`; if so, the current position is saved."""
    if self.cfg.stop_at and position.step >= self.cfg.stop_at:
      self.save(state, position)
      return True
    if not parallel.any_process(self.stop.signal is not None):
      return False
    self.stop.signal = self.stop.signal or signal.SIGTERM  # A peer process was stopped.
    self.save(state, position)
    return True

  def save(self, state, position) -> None:
    # Ids count saves, so they grow even across rounds without generator steps.
    position.saves += 1
    position.privacy = privacy_record(self.budget, position.step, self.cfg)
    self.ckpt.save(position.saves, state.tree(), position.to_json())

  def write_figures(self, state) -> None:
    """Figures from the metrics rows and 4 windows of the generator the run samples with
    (process 0 only; none with --nofigures)."""
    if jax.process_index() != 0 or not self.cfg.figures:
      return
    key = jax.random.fold_in(jax.random.key(self.cfg.seed), PLOT)
    labels = None if self.held_out.labels is None else self.held_out.labels[:4]
    # Host copies: computations on arrays that span other processes would wait for them.
    params = jax.device_get(selection.params(state))
    wt = self.position.best.get("weight_temperature")
    fake = self.schedule.sample_windows(
      params, key, 4, self.cfg.window, labels, weight_temperature=wt
    )
    to_units = self.run_data.normaliser.denormalise
    self.out.figures(
      self.schedule, to_units(self.held_out.windows[:4]), to_units(fake), self.run_data
    )


def privacy_record(budget, step: int, cfg: Config) -> dict:
  """epsilon spent after `step` generator steps, and its unit (empty when not --dp)."""
  if not budget:
    return {}
  return {
    "epsilon": budget.spent(step),
    "delta": cfg.dp_delta,
    "noise_multiplier": budget.noise_multiplier,
    "unit": f"one example = one window of {cfg.bptt_steps + 1} steps",
  }


def _check_bad_steps(worst: int, cfg: Config) -> None:
  if worst >= cfg.max_bad_steps:
    raise TrainingStopped(
      f"{worst} consecutive generator steps had a non-finite loss or gradient "
      f"(--max_bad_steps={cfg.max_bad_steps}); stopped, the last checkpoint in "
      f"{cfg.workdir}/checkpoints holds the last good parameters"
    )
