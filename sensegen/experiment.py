"""Models and their train states, built from a config: shared by training, sampling and `load`."""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from sensegen import models
from sensegen import privacy
from sensegen import steps
from sensegen.config import Config
from sensegen.config import effective_lstm_impl


def generator(
  cfg: Config, channels: int, num_labels: int = 0, num_styles: int = 0
) -> models.Generator:
  """The generator; `num_labels > 0` for a model conditioned on per-step labels, and
  `num_styles > 0` for one that also reads a style per series (`--subject_style`)."""
  return models.Generator(
    channels=channels,
    lstm_layers=cfg.lstm_layers,
    lstm_units=cfg.lstm_units,
    dense_units=cfg.dense_units,
    mixtures=cfg.mixtures,
    output_sigmoid=cfg.output_sigmoid,
    num_labels=num_labels,
    covariance=cfg.covariance,
    lstm_impl=effective_lstm_impl(cfg),
    residual_mean=cfg.residual_mean,
    input_noise=cfg.input_noise,
    num_styles=num_styles,
  )


def discriminator(cfg: Config) -> models.Discriminator:
  return models.Discriminator(lstm_units=cfg.d_lstm_units, dense_units=cfg.d_dense_units)


def critic(cfg: Config) -> models.CriticDiscriminator:
  """The adversarial schedule's critic: stronger than the paper's D, which stays the judge."""
  del cfg  # Its size is fixed; see `models.CriticDiscriminator`.
  return models.CriticDiscriminator()


@dataclasses.dataclass
class RunState:
  """The arrays a run checkpoints.

  Attributes:
    g: the generator's train state.
    d: the paper's discriminator's train state.
    rnn: `[layers, 2, B, H]` recurrent state carried between truncated-BPTT chunks.
    c: the adversarial critic's train state (None for schedules without a critic).
    best: the generator params a run has kept so far by its `--select_generator` criterion
      (None before its first fit, and with `last`; see `train.selection`).
  """

  g: steps.TrainState
  d: steps.TrainState
  rnn: jax.Array
  c: Optional[steps.TrainState] = None
  best: Optional[dict] = None

  def tree(self) -> dict:
    """The checkpoint's pytree: a dict keyed "g", "d", "rnn" (and "c", "best" when held),
    as runs have always written it."""
    tree = {"g": self.g, "d": self.d, "rnn": self.rnn}
    for name in ("c", "best"):
      if getattr(self, name) is not None:
        tree[name] = getattr(self, name)
    return tree

  def like(self, meta: dict) -> dict:
    """The pytree of a checkpoint with `meta` (`Position.to_json`), from this fresh state:
    with "best" when that checkpoint kept a generator."""
    tree = self.tree()
    if meta.get("best"):
      tree["best"] = self.g.params
    return tree

  @classmethod
  def from_tree(cls, tree: dict) -> "RunState":
    return cls(**tree)


def init_state(
  cfg: Config,
  channels: int,
  num_labels: int = 0,
  critic_state: bool = False,
  planned_steps: int = 1,
  num_styles: int = 0,
) -> RunState:
  """The fresh state of a run: train states of the generator, the discriminator and,
  with `critic_state`, the adversarial critic, and a zero recurrent state.
  `planned_steps` generator steps are what `--lr_decay` decays the learning rate over (it
  does not change the state's structure)."""
  g_key, d_key, c_key = jax.random.split(jax.random.key(cfg.seed), 3)
  gen, disc = generator(cfg, channels, num_labels, num_styles), discriminator(cfg)
  x = jnp.zeros((1, 2, channels), jnp.float32)
  labels = jnp.zeros((1, 2), jnp.int32) if num_labels else None
  lr = steps.learning_rate_schedule(cfg.learning_rate, cfg.lr_decay, planned_steps)
  if cfg.dp:  # Per-example clipping replaces the global-norm clip.
    g_tx = privacy.make_dp_optimizer(lr, cfg.rmsprop_decay, cfg.optimizer)
  else:
    g_tx = steps.make_optimizer(lr, cfg.rmsprop_decay, cfg.clip_norm, cfg.optimizer)
  d_tx = steps.make_optimizer(cfg.d_learning_rate, cfg.rmsprop_decay, cfg.clip_norm)
  state = RunState(
    g=steps.create_train_state(g_key, gen, (gen.zero_state(1), x, labels), g_tx),
    d=steps.create_train_state(d_key, disc, (x,), d_tx),
    rnn=gen.zero_state(cfg.batch_size),
  )
  if critic_state:
    c_tx = steps.make_optimizer(
      cfg.learning_rate * cfg.critic_lr_ratio, cfg.rmsprop_decay, cfg.clip_norm
    )
    # A conditioned run's critic also reads the one-hot labels (`adversarial.critic_input`).
    judged = jnp.zeros((1, 2, channels + num_labels), jnp.float32)
    state.c = steps.create_train_state(c_key, critic(cfg), (judged,), c_tx)
  return state


def abstract_state(
  cfg: Config,
  channels: int,
  num_labels: int = 0,
  critic_state: bool = False,
  num_styles: int = 0,
) -> RunState:
  """`init_state`'s structure with `jax.ShapeDtypeStruct` leaves on the default device, as
  fresh arrays would be: what a restore needs, without initialising (or compiling)."""
  tree = jax.eval_shape(
    lambda: init_state(cfg, channels, num_labels, critic_state, num_styles=num_styles).tree()
  )
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  on_device = lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device)
  return RunState.from_tree(jax.tree.map(on_device, tree))
