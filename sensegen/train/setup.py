"""Building a training run from its config: checks, data, the run files `sensegen.load`
needs, the restored (or fresh) state and the generator step, chosen here once."""

import dataclasses
import logging
import os
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from sensegen import config_compat
from sensegen import experiment
from sensegen import fileio
from sensegen import input_pipeline
from sensegen import parallel
from sensegen import precision
from sensegen import privacy
from sensegen import steps
from sensegen import train
from sensegen.checkpoint import Checkpointer
from sensegen.config import Config
from sensegen.data import windows
from sensegen.train import loop
from sensegen.train import outputs
from sensegen.train.position import Position
from sensegen.train.schedule import DP_NOISE
from sensegen.train.schedule import SCHEDULED_SAMPLING


def prepare(cfg: Config) -> loop.Trainer:
  """Checks the flags against the schedule and a previous run, loads the data, writes
  `config.json` and `dataset.json` (what `sensegen.load` needs besides checkpoints) and
  builds the trainer from the latest checkpoint. Bad input raises before anything is
  written."""
  schedule_class = train.schedule_class(cfg.schedule)
  schedule_class.check(cfg)
  if jax.device_count() > 1:
    parallel.check_batch_size(cfg.batch_size, jax.device_count())
  config_path = os.path.join(cfg.workdir, "config.json")
  saved = fileio.read_json(config_path) if os.path.exists(config_path) else None
  cfg = config_compat.settled(cfg, saved)
  if saved is not None:
    config_compat.check_resume(cfg, saved, config_path)
  precision.log(cfg.lstm_impl, jax.devices()[0])
  run_data = input_pipeline.load_for_training(cfg)
  logging.info(
    "data: %d training sessions (%d steps), %d held-out sessions (%d steps); channels %s",
    len(run_data.train.series),
    run_data.train.num_samples,
    len(run_data.test.series),
    run_data.test.num_samples,
    ",".join(run_data.channels),
  )
  if jax.process_index() == 0:  # One writer in multi-process jobs.
    fileio.write_json(config_path, dataclasses.asdict(cfg))
    fileio.write_json(
      os.path.join(cfg.workdir, "dataset.json"), input_pipeline.dataset_record(run_data)
    )
  if run_data.model:
    logging.info(
      "the generator models the raw signals %s; samples pass through UCI HAR's filters",
      ",".join(run_data.model.chain.sources),
    )
  gen = experiment.generator(
    cfg, len(run_data.model_train.channels), run_data.num_labels, run_data.num_styles
  )
  schedule = schedule_class(cfg, run_data, gen)
  ckpt = Checkpointer(os.path.join(cfg.workdir, "checkpoints"), cfg.keep_checkpoints)
  mesh = parallel.make_mesh() if jax.device_count() > 1 else None
  state, position = restore_or_init(cfg, run_data, schedule, ckpt, mesh)
  budget = privacy_budget(cfg, run_data, schedule.total_steps(), position) if cfg.dp else None
  allowed = budget.steps_allowed() if budget else None
  return loop.Trainer(
    cfg=cfg,
    run_data=run_data,
    schedule=schedule,
    state=state,
    position=position,
    g_update=generator_update(cfg, gen, budget, mesh),
    held_out=held_out(cfg, run_data, gen),
    out=outputs.RunLog(cfg),
    ckpt=ckpt,
    budget=budget,
    max_steps=float("inf") if allowed is None else allowed,
    place=(lambda batch: parallel.shard_batch(batch, mesh)) if mesh else (lambda batch: batch),
    dequantize=quantisation_steps(cfg, run_data),
  )


def quantisation_steps(cfg: Config, run_data) -> Optional[np.ndarray]:
  """With --dequantize, the training series' quantisation step per channel (logged)."""
  if not cfg.dequantize:
    return None
  quanta = windows.quantisation_step(run_data.model_train.series)
  logging.info("dequantizing the training series by steps of %s", np.round(quanta, 5).tolist())
  return quanta


def restore_or_init(cfg: Config, run_data, schedule, ckpt: Checkpointer, mesh=None) -> tuple:
  """(state, position) from the latest good checkpoint, or fresh ones; placed on `mesh`
  when data-parallel (a checkpoint of another process count is resharded)."""
  fresh = experiment.init_state(
    cfg,
    len(run_data.model_train.channels),
    run_data.num_labels,
    critic_state=schedule.trains_critic,
    planned_steps=schedule.total_steps(),
    num_styles=run_data.num_styles,
  )
  if mesh:
    fresh = parallel.place_state(fresh, cfg.batch_size, mesh)
  logging.info(
    "generator: %s parameters", f"{sum(leaf.size for leaf in jax.tree.leaves(fresh.g.params)):,}"
  )
  restored = ckpt.restore_latest(fresh.like)
  if restored is not None:
    _, tree, meta = restored
    position = Position.from_json(meta)
    logging.info("resumed from checkpoint at step %d (round %d)", position.step, position.round)
    return experiment.RunState.from_tree(tree), position
  streams = windows.init_streams(
    run_data.model_train.series, cfg.batch_size, cfg.bptt_steps, cfg.seed
  )
  return fresh, Position(streams=streams)


def privacy_budget(
  cfg: Config, run_data, planned_steps: int, position: Position
) -> privacy.PrivacyBudget:
  """The budget of a --dp run. With a target epsilon the noise is the one that spends it
  over the planned generator steps, fixed by the run's first start (and then saved)."""
  q = privacy.sampling_probability(cfg.batch_size, run_data.model_train.num_samples, cfg.bptt_steps)
  noise = position.privacy.get("noise_multiplier")
  if noise is None:
    noise = cfg.dp_noise_multiplier
    if cfg.dp_target_epsilon:
      noise = privacy.noise_for_target_epsilon(
        cfg.dp_target_epsilon, q, planned_steps, cfg.dp_delta
      )
  budget = privacy.PrivacyBudget(noise, q, cfg.dp_delta, cfg.dp_target_epsilon or None)
  logging.info(
    "DP-SGD: noise multiplier %.4g, sampling probability %.4g, epsilon after %d "
    "steps %.4g at delta %g",
    noise,
    q,
    planned_steps,
    budget.spent(planned_steps),
    cfg.dp_delta,
  )
  return budget


def generator_update(cfg: Config, gen, budget, mesh=None):
  """One generator step `(state, batch, step) -> metrics`, updating `state.g` and
  `state.rnn`: DP-SGD for a --dp run, data-parallel over `mesh`, else plain. (Every step
  follows the shardings of a placed batch; the data-parallel one also checks them.)"""
  if budget:
    dp_step = privacy.make_dp_generator_step(gen, cfg.dp_clip_norm, budget.noise_multiplier)
    dp_key = jax.random.fold_in(jax.random.key(cfg.seed), DP_NOISE)

    def dp_update(state, batch, step):
      # An example must be one window: no state carried in from other examples.
      batch = {**batch, "reset": jnp.ones_like(batch["reset"])}
      key = jax.random.fold_in(dp_key, step)
      state.g, state.rnn, m = dp_step(state.g, state.rnn, batch, key)
      return m

    return dp_update
  if cfg.scheduled_sampling:
    ss_step = steps.make_scheduled_sampling_step(gen, cfg.scheduled_sampling)
    ss_key = jax.random.fold_in(jax.random.key(cfg.seed), SCHEDULED_SAMPLING)

    def ss_update(state, batch, step):
      key = jax.random.fold_in(ss_key, step)
      state.g, state.rnn, m = ss_step(state.g, state.rnn, batch, key)
      return m

    return ss_update
  if mesh:  # Data-parallel over every device, parameters replicated.
    g_step = parallel.make_parallel_generator_step(gen, mesh)
  else:
    g_step = steps.make_generator_step(gen)

  def update(state, batch, step):
    del step  # Deterministic given the batch.
    state.g, state.rnn, m = g_step(state.g, state.rnn, batch)
    return m

  return update


def held_out(cfg: Config, run_data, gen) -> loop.HeldOut:
  """The held-out NLL evaluation: windows scored after one second of context (at most half
  a window), past the zero state's first predictions (`steps.make_nll_eval`)."""
  eval_set, eval_labels = input_pipeline.eval_windows(
    run_data, cfg.window, cfg.eval_windows, cfg.seed
  )
  context = min(round(run_data.train.sample_rate_hz), cfg.window // 2)
  return loop.HeldOut(
    eval_set,
    eval_labels,
    steps.gaussian_nll(run_data.model_train.series, eval_set, context),
    steps.make_nll_eval(gen, context=context),
  )
