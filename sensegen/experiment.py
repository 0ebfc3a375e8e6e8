"""Models and their train states, built from a config: shared by training, sampling and `load`."""

import jax
import jax.numpy as jnp

from sensegen import models
from sensegen import privacy
from sensegen import train
from sensegen.config import Config


def generator(cfg: Config, channels: int, num_labels: int = 0) -> models.Generator:
  """The generator; `num_labels > 0` for a model conditioned on per-step labels."""
  return models.Generator(
      channels=channels, lstm_layers=cfg.lstm_layers, lstm_units=cfg.lstm_units,
      dense_units=cfg.dense_units, mixtures=cfg.mixtures, output_sigmoid=cfg.output_sigmoid,
      num_labels=num_labels, covariance=cfg.covariance, lstm_impl=cfg.lstm_impl)


def discriminator(cfg: Config) -> models.Discriminator:
  return models.Discriminator(lstm_units=cfg.d_lstm_units, dense_units=cfg.d_dense_units)


def critic(cfg: Config) -> models.CriticDiscriminator:
  """The adversarial schedule's critic: stronger than the paper's D, which stays the judge."""
  del cfg  # Its size is fixed; see `models.CriticDiscriminator`.
  return models.CriticDiscriminator()


def init_state(cfg: Config, channels: int, num_labels: int = 0) -> dict:
  """The fresh pytree a run checkpoints: generator and discriminator train states and
  the carried recurrent state of the truncated-BPTT streams."""
  g_key, d_key, c_key = jax.random.split(jax.random.key(cfg.seed), 3)
  gen, disc = generator(cfg, channels, num_labels), discriminator(cfg)
  x = jnp.zeros((1, 2, channels), jnp.float32)
  labels = jnp.zeros((1, 2), jnp.int32) if num_labels else None
  if cfg.dp:  # Per-example clipping replaces the global-norm clip.
    g_tx = privacy.make_dp_optimizer(cfg.learning_rate, cfg.rmsprop_decay)
  else:
    g_tx = train.make_optimizer(cfg.learning_rate, cfg.rmsprop_decay, cfg.clip_norm)
  d_tx = train.make_optimizer(cfg.d_learning_rate, cfg.rmsprop_decay, cfg.clip_norm)
  state = {
      "g": train.create_train_state(g_key, gen, (gen.zero_state(1), x, labels), g_tx),
      "d": train.create_train_state(d_key, disc, (x,), d_tx),
      "rnn": gen.zero_state(cfg.batch_size),
  }
  if cfg.schedule == "adversarial":
    c_tx = train.make_optimizer(cfg.learning_rate * cfg.critic_lr_ratio, cfg.rmsprop_decay,
                                cfg.clip_norm)
    state["c"] = train.create_train_state(c_key, critic(cfg), (x,), c_tx)
  return state
