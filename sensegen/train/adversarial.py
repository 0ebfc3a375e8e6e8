"""`--schedule=adversarial`: NLL pre-training for `--train_steps`, then rounds of
`--critic_steps` critic steps and `--g_steps_per_round` generator steps on NLL + the
adversarial loss (gradients from the critic through `sensegen.adversarial`'s relaxed
sampler)."""

import logging

import jax
import numpy as np

from sensegen import adversarial
from sensegen import experiment
from sensegen.errors import ConfigError
from sensegen.train.schedule import ADVERSARIAL
from sensegen.train.schedule import CRITIC
from sensegen.train.schedule import Schedule


class AdversarialSchedule(Schedule):
  """NLL pre-training, then rounds of critic steps and adversarial generator steps."""

  trains_critic = True

  def __init__(self, cfg, run_data, gen):
    super().__init__(cfg, run_data, gen)
    critic = experiment.critic(cfg)
    self.c_step = adversarial.make_critic_step(critic, cfg.gradient_penalty)
    self.adv_step = adversarial.make_adversarial_generator_step(
      gen, critic, cfg.adversarial_weight, cfg.adv_window, cfg.gumbel_temperature, cfg.burn_in
    )
    self.adv_key = jax.random.fold_in(self.key, ADVERSARIAL)

  @classmethod
  def check(cls, cfg) -> None:
    """Refuses DP-SGD: here the critic's output is part of the generator's loss, which the
    DP accounting does not cover. (In the alternating schedule D never feeds gradients
    into G, and only G is released.)"""
    if cfg.dp:
      raise ConfigError(
        "--dp with --schedule=adversarial is refused: the discriminator's "
        "feedback to the generator would need its own privacy accounting"
      )

  def total_steps(self) -> int:
    return self.cfg.train_steps + self.cfg.rounds * self.cfg.g_steps_per_round

  def run(self, trainer, state, position) -> bool:
    if not trainer.generator_steps(state, position, max(self.cfg.train_steps, position.step)):
      return False
    return trainer.rounds(state, position, self.critic_phase, self.adversarial_update)

  def adversarial_update(self, state, batch, step: int) -> dict:
    """One generator step on NLL + the critic's verdict on fresh relaxed samples (drawn,
    for a conditioned run, under the label sequences of random training windows)."""
    key = jax.random.fold_in(self.adv_key, step)
    labels = None
    if self.run_data.conditioned:
      rng = np.random.default_rng([self.cfg.seed, step, ADVERSARIAL])
      _, labels = self._real(len(batch["reset"]), rng)
    state.g, state.rnn, m = self.adv_step(state.g, state.rnn, batch, state.c.params, key, labels)
    return m

  def _real(self, count: int, rng) -> tuple:
    """`count` training windows of `--adv_window` steps in the generator's own space, and
    their labels (None when unconditioned)."""
    return self.real_windows(self.run_data.model_train, count, rng, self.cfg.adv_window)

  def critic_phase(self, state, position) -> dict:
    """`critic_steps` critic steps, each on fresh real and generated windows of `adv_window`;
    the round's row (mean critic loss and accuracy)."""
    cfg, r = self.cfg, position.round
    rng = np.random.default_rng([cfg.seed, r, CRITIC])
    round_key = jax.random.fold_in(jax.random.fold_in(self.key, CRITIC), r)
    totals = {}
    for i in range(cfg.critic_steps):
      # The critic judges windows in the generator's own space, like the relaxed
      # rollouts whose gradients it sends back.
      real, labels = self._real(cfg.d_minibatch, rng)
      fake = self.sample_windows(
        state.g.params,
        jax.random.fold_in(round_key, i),
        cfg.d_minibatch,
        cfg.adv_window,
        labels,
        model_space=True,
      )
      judged = [adversarial.critic_input(x, labels, self.run_data.num_labels) for x in (real, fake)]
      state.c, m = self.c_step(state.c, *judged)
      totals = {k: totals.get(k, 0.0) + v for k, v in m.items()}
    row = {"round": r + 1, **{k: float(v) / max(cfg.critic_steps, 1) for k, v in totals.items()}}
    logging.info(
      "round %d/%d  critic loss %.3f, accuracy %.3f",
      r + 1,
      cfg.rounds,
      row["adv_d_loss"],
      row["adv_d_accuracy"],
    )
    return row
