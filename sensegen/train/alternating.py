"""`--schedule=alternating`: the paper's Algorithm 1.

Each round trains the discriminator for `--d_epochs` epochs on real and generated
windows (lines 2-4), measures it on held-out real data and fresh samples, then takes
`--g_steps_per_round` generator NLL steps.
"""

import logging
import os

import jax
import numpy as np

from sensegen import experiment
from sensegen import plots
from sensegen import steps
from sensegen.train.schedule import D_HELDOUT
from sensegen.train.schedule import D_TRAIN
from sensegen.train import selection
from sensegen.train.schedule import Schedule


class AlternatingSchedule(Schedule):
  """Rounds of discriminator epochs, then generator steps."""

  def __init__(self, cfg, run_data, gen):
    super().__init__(cfg, run_data, gen)
    disc = experiment.discriminator(cfg)
    self.d_step = steps.make_discriminator_step(disc)
    self.d_accuracy = steps.make_discriminator_accuracy(disc)

  def total_steps(self) -> int:
    return self.cfg.rounds * self.cfg.g_steps_per_round

  def run(self, trainer, state, position) -> bool:
    return trainer.rounds(state, position, self.discriminator_phase)

  def figures(self, rows: list, workdir: str) -> tuple:
    plots.discriminator_accuracy(rows, os.path.join(workdir, "discriminator.png"))
    return ("discriminator",)

  def discriminator_phase(self, state, position) -> dict:
    """Lines 2-4 of Algorithm 1, then D's accuracy on data it never saw; the round's row."""
    cfg, r = self.cfg, position.round
    round_key = jax.random.fold_in(self.key, r)
    fit = self.fit_weight_temperature(state.g.params, round_key)
    kept = selection.consider(cfg, state, position, fit)
    rng = np.random.default_rng([cfg.seed, r, D_TRAIN])
    # Generated windows follow the real windows' label sequences when conditioned.
    real, labels = self.real_windows(self.run_data.train, cfg.d_batch, rng)
    fake = self.sample_windows(
      state.g.params, jax.random.fold_in(round_key, D_TRAIN), cfg.d_batch, cfg.window, labels
    )
    state.d, train_acc = self._train_discriminator(state.d, real, fake, rng)
    held_rng = np.random.default_rng([cfg.seed, r, D_HELDOUT])
    real, labels = self.real_windows(self.run_data.test, cfg.d_batch, held_rng)
    fake = self.sample_windows(
      state.g.params, jax.random.fold_in(round_key, D_HELDOUT), cfg.d_batch, cfg.window, labels
    )
    y = np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.float32)
    held_acc = float(self.d_accuracy(state.d.params, np.concatenate([real, fake]), y))
    logging.info(
      "round %d/%d  D accuracy: train %.3f, held-out %.3f", r + 1, cfg.rounds, train_acc, held_acc
    )
    row = {"round": r + 1, "d_train_accuracy": train_acc, "d_heldout_accuracy": held_acc}
    if fit:
      row.update(weight_temperature=fit["weight_temperature"], window_std_ks=fit["window_std_ks"])
      if "judge_score" in fit:
        row["judge_score"] = fit["judge_score"]
      if cfg.select_generator in selection.CRITERIA:
        row["kept"] = kept
    return row

  def _train_discriminator(self, d_state, real, fake, rng) -> tuple:
    """`d_epochs` passes over real (label 1) and generated (label 0) windows.

    Returns (d_state, accuracy on those windows after training).
    """
    cfg = self.cfg
    x = np.concatenate([real, fake])
    y = np.concatenate([np.ones(len(real)), np.zeros(len(fake))]).astype(np.float32)
    for _ in range(cfg.d_epochs):
      order = rng.permutation(len(x))
      for i in range(0, len(x), cfg.d_minibatch):
        idx = order[i : i + cfg.d_minibatch]
        d_state, _, _ = self.d_step(d_state, x[idx], y[idx])
    return d_state, float(self.d_accuracy(d_state.params, x, y))
