"""Autoregressive sampling from a Generator over `lax.scan`: jittable, any length.

What a sample means. Real windows are cut at uniformly random positions of long
sessions; a generator started from the zero state draws "the first steps of a
session" instead. By default the sampler therefore discards `burn_in` generated steps
before the returned series, so that it starts wherever the model's own dynamics have
taken it. Priming with real data (`prime`) is an explicit opt-in: the samples then
continue a real recording, which costs privacy.

When the generator models raw signals (`OutputMap.chain`), each series is drawn with the
margins the zero-phase filters need on both sides and mapped to the run's channels.

Arrays in and out are normalised (`OutputMap` maps the model's normalised space to the
run's); `sensegen.api` adds units.
"""

import dataclasses
from typing import Optional

import jax
import jax.numpy as jnp

from sensegen import mdn
from sensegen import styles
from sensegen.config import DEFAULT_BURN_IN
from sensegen.data.signal_chain import SignalChain

__all__ = [
  "DEFAULT_BURN_IN",
  "OutputMap",
  "burn_in_state",
  "free_run_step",
  "sample",
  "sample_jit",
  "with_styles",
  "zero_start",
]


@dataclasses.dataclass(frozen=True)
class OutputMap:
  """The model's normalised space -> the run's normalised channels (hashable: static).

  Attributes:
    chain: raw signals (physical units) -> the run's channels.
    model_mean, model_std: the generator's normaliser, per raw channel.
    mean, std: the run's normaliser, per output channel.
  """

  chain: SignalChain
  model_mean: tuple
  model_std: tuple
  mean: tuple
  std: tuple

  @classmethod
  def from_normalisers(cls, chain: SignalChain, model_normaliser, normaliser) -> "OutputMap":
    as_tuple = lambda a: tuple(float(v) for v in a)
    return cls(
      chain,
      as_tuple(model_normaliser.mean),
      as_tuple(model_normaliser.std),
      as_tuple(normaliser.mean),
      as_tuple(normaliser.std),
    )

  def __call__(self, x):
    """`[N, T, S]` model-space series -> `[N, T, D]` (the ends are filter transients)."""
    raw = x * jnp.asarray(self.model_std) + jnp.asarray(self.model_mean)
    return (self.chain(raw) - jnp.asarray(self.mean)) / jnp.asarray(self.std)


def _extended_labels(labels, before: int, after: int):
  """`[N, L]` labels padded with the first label `before` and the last one `after` steps."""
  first = jnp.repeat(labels[:, :1], before, axis=1)
  last = jnp.repeat(labels[:, -1:], after, axis=1)
  return jnp.concatenate([first, labels, last], axis=1)


def with_styles(model, key, labels, chosen=None) -> tuple:
  """(key, labels `[N, T]`) with a style packed into each row for a generator with styles
  (`--subject_style`): `chosen` `[N]` (ids 0..num_styles), or one random training
  subject's per row (split off `key`); both unchanged for any other generator."""
  if not model.num_styles:
    return key, labels
  if chosen is None:
    key, style_key = jax.random.split(key)
    chosen = model.random_styles(style_key, labels.shape[0])
  return key, styles.pack(labels, jnp.asarray(chosen), model.num_labels)


def zero_start(model, num_samples: int) -> tuple:
  """The zero state `[layers, 2, N, H]` and a zero first input `[N, S]`: where a free run
  starts by default."""
  return model.zero_state(num_samples), jnp.zeros((num_samples, model.channels), jnp.float32)


def _start(model, params, num_samples: int, start, prime, labels):
  """(state, x) the scan starts from: `start` or `zero_start`, then run through `prime`
  when given (the prime is fed as recorded, without input noise)."""
  if start is None:
    start = zero_start(model, num_samples)
  if prime is None:
    return start
  prime_labels = (
    jnp.broadcast_to(labels[:, :1], prime.shape[:2])[:, :-1] if model.num_labels else None
  )
  state, _ = model.apply(params, start[0], prime[:, :-1], prime_labels)
  return state, prime[:, -1]


def sample(
  model,
  params,
  key,
  num_samples: int,
  length: int,
  temperature=1.0,
  prime=None,
  labels=None,
  burn_in: int = DEFAULT_BURN_IN,
  weight_temperature=1.0,
  output_map: Optional[OutputMap] = None,
  start=None,
  style_ids=None,
):
  """Draws `[num_samples, length, D]` series from the generator.

  Args:
    model: a `models.Generator` (static under jit).
    params: its variables (`{"params": ...}`).
    key: a `jax.random` key; the same key gives the same samples.
    num_samples, length: output size (static under jit).
    temperature: > 0; see `mdn.sample`.
    prime: optional real prefix `[num_samples, P, S]` (model space) the samples continue
      from; it replaces the burn-in.
    labels: `[num_samples, length]` int per-step labels, for a conditioned model (the
      burn-in repeats the first label).
    burn_in: generated steps discarded before the series (static); 0 starts from the
      zero state and a zero input.
    weight_temperature: > 0; divides the mixture logits only (sigma untouched).
    output_map: maps the model's space to the run's channels (static); None: identity.
    start: optional `(state [layers, 2, num_samples, H], x [num_samples, S])` to start from
      instead of the zero state and a zero input; the burn-in (or `prime`) follows it.
    style_ids: optional `[num_samples]` style ids for a generator with styles (default: one
      random training subject's per sample; see `with_styles`).

  A generator trained with `input_noise` gets its own draws back with that noise added
  (from keys split off the step keys), as its inputs were in training. A generator with
  styles draws one training subject's style per sample (`with_styles`).

  Returns:
    `[num_samples, length, D]` float32.
  """
  before = 0 if prime is not None else burn_in
  after = 0
  if output_map is not None:
    before, after = before + output_map.chain.margin_before, output_map.chain.margin_after
  if labels is None:
    labels = jnp.zeros((num_samples, length), jnp.int32)
  key, labels = with_styles(model, key, labels, style_ids)
  carry = _start(model, params, num_samples, start, prime, labels)
  step = free_run_step(model, params, _mixture_draw(temperature, weight_temperature))
  keys = jax.random.split(key, before + length + after)
  all_labels = _extended_labels(labels, before, after)
  _, xs = jax.lax.scan(step, carry, (keys, jnp.swapaxes(all_labels, 0, 1)))
  xs = jnp.swapaxes(xs, 0, 1)
  if output_map is not None:
    xs = output_map(xs)
  return xs[:, before : before + length]


def _mixture_draw(temperature, weight_temperature):
  """`mdn.mixture_sample` at these temperatures, as a free run's draw (key, mix) -> x."""
  return lambda key, mix: mdn.mixture_sample(key, mix, temperature, weight_temperature)


def free_run_step(model, params, draw):
  """The scan step ((state, x), (key, label `[N]`)) -> ((state, x'), x') of a free run:
  x (with the model's input noise) in, the mixture out, x' = `draw(key, mix)` (e.g.
  `mdn.mixture_sample`, or `adversarial.relaxed_sample` for gradients)."""

  def step(carry, inputs):
    state, x = carry
    step_key, label = inputs
    step_key, x = model.fed_back(step_key, x)
    state, mix = model.apply(
      params, state, x, label if model.num_labels else None, method=model.step
    )
    x = draw(step_key, mix)
    return (state, x), x

  return step


def burn_in_state(model, params, key, labels, weight_temperature=1.0) -> tuple:
  """Where a free run from `zero_start` stands after the steps of `labels` `[N, T]` (the
  label of each step; zeros for an unconditioned model): (state `[layers, 2, N, H]`, last
  draw `[N, S]`), as `sample` leaves them after its burn-in."""
  step = free_run_step(model, params, _mixture_draw(1.0, weight_temperature))
  keys = jax.random.split(key, labels.shape[1])
  carry, _ = jax.lax.scan(
    step, zero_start(model, labels.shape[0]), (keys, jnp.swapaxes(labels, 0, 1))
  )
  return carry


sample_jit = jax.jit(
  sample, static_argnames=("model", "num_samples", "length", "burn_in", "output_map")
)
"""`sample` compiled once per (model, num_samples, length, burn_in, output_map)."""
