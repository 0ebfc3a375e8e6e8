"""`sensegen.load(workdir)`: a trained generator for notebooks and other JAX code."""

import dataclasses
import functools
import os
from typing import Optional, Union

import jax
import jax.numpy as jnp
import numpy as np

from sensegen import calibration
from sensegen import config as config_lib
from sensegen import config_compat
from sensegen import experiment
from sensegen import fileio
from sensegen import resampling
from sensegen import sampling
from sensegen import train as train_lib
from sensegen.checkpoint import Checkpointer
from sensegen.config import Config
from sensegen.data.signal_chain import SignalChain
from sensegen.data.windows import Normaliser
from sensegen.errors import ConfigError

__all__ = [
  "TrainedGenerator",
  "label_sequence",
  "load",
  "read_config",
  "train",
]


@dataclasses.dataclass(frozen=True)
class TrainedGenerator:
  """A generator restored from a run directory.

  Attributes:
    model: the `models.Generator` module (hashable; static under jit).
    params: its variables, `{"params": ...}`.
    config: the run's `Config`.
    normaliser: maps the run's normalised channels to physical units.
    channels, units, sample_rate_hz, label_names: what the series mean.
    output_map: maps the generator's space (raw signals) to the run's normalised channels;
      None when the generator models the channels themselves.
    num_labels: label ids the model is conditioned on (0: unconditioned).
    privacy: for a --dp run, the (epsilon, delta) its parameters spent and the unit.
    weight_temperature: what samples are drawn with by default: the value fitted to the
      training data for these params (`calibration`), 1 for runs without one.
    step: the training step the params are from: the kept generator's
      (`--select_generator`, `train.selection`), else the last.
    critic: the run's resampling critic (`resampling`: a `Critic`, or `LabelCritics` for a
      conditioned run); None for runs without one (--dp and older runs), which `sample`
      then draws without resampling.
  """

  model: object
  params: dict
  config: Config
  normaliser: Normaliser
  channels: tuple
  units: tuple
  sample_rate_hz: float
  label_names: tuple
  num_labels: int = 0
  privacy: dict = dataclasses.field(default_factory=dict)
  output_map: Optional[sampling.OutputMap] = None
  weight_temperature: float = 1.0
  step: int = 0
  critic: Optional[Union[resampling.Critic, resampling.LabelCritics]] = None

  @functools.cached_property
  def sample_fn(self):
    """The pure, jitted sampler in physical units:
    `sample_fn(params, key, num_samples, length, temperature=1.0, labels=None,
    burn_in=config.burn_in, weight_temperature=self.weight_temperature)`
    -> `[num_samples, length, D]`.
    `num_samples`, `length` and `burn_in` are static; it can be called inside the user's
    own `jax.jit` / `jax.vmap` (over keys). See `sampling.sample`."""
    mean, std = jnp.asarray(self.normaliser.mean), jnp.asarray(self.normaliser.std)
    model, output_map = self.model, self.output_map

    def fn(
      params,
      key,
      num_samples,
      length,
      temperature=1.0,
      labels=None,
      burn_in=self.config.burn_in,
      weight_temperature=self.weight_temperature,
    ):
      x = sampling.sample(
        model,
        params,
        key,
        num_samples,
        length,
        temperature,
        labels=labels,
        burn_in=burn_in,
        weight_temperature=weight_temperature,
        output_map=output_map,
      )
      return x * std + mean

    return jax.jit(fn, static_argnames=("num_samples", "length", "burn_in"))

  def sample(
    self,
    key,
    num_samples: int,
    length: int,
    temperature: float = 1.0,
    labels=None,
    burn_in: Optional[int] = None,
    weight_temperature: Optional[float] = None,
    resample: Optional[int] = None,
  ) -> np.ndarray:
    """`[num_samples, length, D]` series in physical units; the same key gives the same series.

    Each series is a window at a random position of a session (`burn_in` generated steps
    are discarded first; default the run's `--burn_in`). `labels` (conditioned models):
    per-step label ids `[length]` or `[num_samples, length]`, e.g. from `label_ids`.
    `weight_temperature`: None or 0 draws with the run's fitted `weight_temperature`.
    `resample`: candidates drawn per returned series, kept by the run's critic
    (`resampling`; default the run's `--resample`); 0 or 1, a run without a critic or a
    series shorter than the critic's window: no resampling (`resample_factor`). Unlike
    `sample_fn`, not jittable.
    """
    if self.num_labels and labels is None:
      raise ConfigError("this generator is conditioned on labels: pass labels=")
    if labels is not None:
      if not self.num_labels:
        raise ConfigError("this generator is not conditioned on labels")
      labels = jnp.broadcast_to(jnp.asarray(labels, jnp.int32), (num_samples, length))
    burn_in = self.config.burn_in if burn_in is None else burn_in
    weight_temperature = weight_temperature or self.weight_temperature
    factor = self.resample_factor(length, resample)
    draw_key, keep_key = jax.random.split(key) if factor > 1 else (key, None)
    # Candidate i is drawn with the labels of series i % num_samples.
    tiled = None if labels is None else np.tile(np.asarray(labels), (factor, 1))
    candidates = np.asarray(
      self.sample_fn(
        self.params,
        draw_key,
        factor * num_samples,
        length,
        temperature,
        tiled,
        burn_in,
        weight_temperature,
      )
    )
    if factor == 1:
      return candidates
    logits = self.critic.logits(self.normaliser.normalise(candidates), tiled)
    if labels is None:
      return candidates[resampling.select(keep_key, logits, num_samples)]
    return candidates[resampling.select_matching(keep_key, logits, np.asarray(labels), factor)]

  def resample_factor(self, length: int, resample: Optional[int] = None) -> int:
    """Candidates `sample` draws per returned series of `length` steps (1: no resampling);
    `resample` None: the run's `--resample`."""
    resample = self.config.resample if resample is None else resample
    if self.critic is None or length < self.critic.window:
      return 1
    return max(resample, 1)

  def label_ids(self, label: str = "", schedule: str = "", length: int = 0):
    """Per-step label ids `[L]`: one `label` (name or id) for `length` steps, or a
    `schedule` "NAME:STEPS,NAME:STEPS,..." whose total is L."""
    return label_sequence(label, schedule, length, self.label_names, self.num_labels)


def _label_id(token: str, names: tuple, num_labels: int) -> int:
  token = token.strip()
  if token.isdigit() and 0 < int(token) < num_labels:
    return int(token)
  if token in names[1:]:
    return names.index(token)
  known = ", ".join(names[1:]) if names else f"ids 1..{num_labels - 1}"
  raise ConfigError(f"unknown label {token!r}: expected one of {known}")


def label_sequence(
  label: str, schedule: str, length: int, names: tuple, num_labels: int
) -> np.ndarray:
  """Per-step label ids `[L]` from one label (repeated `length` times) or a schedule
  "NAME:STEPS,...". Raises ConfigError naming a bad entry."""
  if not num_labels:
    raise ConfigError("--label/--label_schedule need a run trained with --condition_on")
  if not schedule:
    return np.full(length, _label_id(label, names, num_labels), np.int32)
  parts = []
  for entry in schedule.split(","):
    name, _, steps = entry.rpartition(":")
    if not name or not steps.isdigit() or int(steps) == 0:
      raise ConfigError(f"--label_schedule entry {entry!r}: expected NAME:STEPS with STEPS > 0")
    parts.append(np.full(int(steps), _label_id(name, names, num_labels), np.int32))
  return np.concatenate(parts)


def read_config(workdir: str) -> Config:
  """The `Config` of the run in `workdir` (renamed fields of older runs under their new names)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ConfigError(f"{path} not found: --workdir must be a trained run directory")
  saved = config_compat.read_saved(fileio.read_json(path))
  names = {f.name for f in dataclasses.fields(Config)}
  return Config(**{k: v for k, v in saved.items() if k in names})


def train(cfg: Config) -> TrainedGenerator:
  """Trains (or resumes) the run `cfg` describes and returns its generator: the launcher's
  `--mode=train` for notebooks and scripts (no signal handling)."""
  from sensegen.train import setup  # The training stack, only when training.

  setup.prepare(config_lib.validate(cfg)).run()
  return load(cfg.workdir)


def load(workdir: str, checkpoint: Optional[int] = None) -> TrainedGenerator:
  """The generator of the run in `workdir`, from its latest checkpoint: the one the run
  kept (`--select_generator`).

  `checkpoint`: a checkpoint id (a directory name under `checkpoints/`) to load the
  generator that was training at that checkpoint instead, e.g. an earlier round's when the
  run kept it (`--keep_checkpoints`); it draws with the run's fitted weight temperature
  unless given another, and without resampling (the run's critic belongs to the kept
  generator). Raises ConfigError for an id the run does not hold.
  """
  cfg = read_config(workdir)
  record = fileio.read_json(os.path.join(workdir, "dataset.json"))
  channels = tuple(record["channels"])
  num_labels = record.get("num_labels", 0)
  num_styles = record.get("num_styles", 0)
  normaliser = Normaliser.from_dict(record["normaliser"])
  output_map = _output_map(record, normaliser)
  model_channels = len(output_map.chain.sources) if output_map else len(channels)
  # The checkpoint's structure: which train states the run's schedule keeps.
  critic_state = train_lib.schedule_class(cfg.schedule).trains_critic
  fresh = experiment.abstract_state(
    cfg, model_channels, num_labels, critic_state=critic_state, num_styles=num_styles
  )
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), cfg.keep_checkpoints)
  if checkpoint is not None and checkpoint not in ckpt.steps():
    raise ConfigError(f"{workdir}/checkpoints holds no checkpoint {checkpoint} ({ckpt.steps()})")
  found = (
    ckpt.restore_latest(fresh.like)
    if checkpoint is None
    else (checkpoint, *ckpt.restore(checkpoint, fresh.like))
  )
  ckpt.close()
  if found is None:
    raise ConfigError(f"{workdir}/checkpoints holds no checkpoint: train the run first")
  _, tree, meta = found
  kept = "best" in tree and checkpoint is None
  return TrainedGenerator(
    model=experiment.generator(cfg, model_channels, num_labels, num_styles),
    params=tree["best"] if kept else tree["g"].params,
    config=cfg,
    normaliser=normaliser,
    channels=channels,
    units=tuple(record["units"]),
    sample_rate_hz=record["sample_rate_hz"],
    label_names=tuple(record["label_names"]),
    num_labels=num_labels,
    privacy=meta.get("privacy") or {},
    output_map=output_map,
    weight_temperature=calibration.read(workdir),
    step=meta["best"]["step"] if kept else meta["step"],
    critic=resampling.read(workdir) if checkpoint is None else None,
  )


def _output_map(record: dict, normaliser: Normaliser) -> Optional[sampling.OutputMap]:
  """The generator-space -> channels map of a run whose generator models raw signals."""
  model_space = record.get("model_space")
  if not model_space:
    return None
  chain = SignalChain.for_channels(record["channels"], record["sample_rate_hz"])
  return sampling.OutputMap.from_normalisers(
    chain, Normaliser.from_dict(model_space["normaliser"]), normaliser
  )
