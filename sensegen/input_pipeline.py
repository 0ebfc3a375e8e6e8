"""The data of a run, from its config: train and held-out sessions, normalised.

A run has two views of its sessions: the channels it was asked for (what samples are
compared with, in evaluation and by the discriminator) and what the generator models.
They are the same unless the generator models the raw HAR signals (`--model_space`),
whose samples `signal_chain.SignalChain` turns into the asked-for channels.
"""

import dataclasses
from typing import Optional

import numpy as np

from sensegen import data as data_lib
from sensegen import styles
from sensegen.config import Config
from sensegen.data.signal_chain import SignalChain
from sensegen.data.windows import Normaliser, random_windows, runs
from sensegen.errors import ConfigError, DataError

HAR_DEFAULT_CHANNELS = ("body_acc_x",)
HELD_OUT_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class ModelSpace:
  """The raw signals a generator models, when they differ from the run's channels.

  Attributes:
    train, test: the same sessions (and stretches) as the run's, raw channels
      `chain.sources`, normalised `[T_i, S]` float32.
    normaliser: fitted on `train` only.
    chain: maps raw signals (physical units) to the run's channels.
  """

  train: data_lib.SensorDataset
  test: data_lib.SensorDataset
  normaliser: Normaliser
  chain: SignalChain


@dataclasses.dataclass(frozen=True)
class RunData:
  """Train and held-out sessions in the normalised space, and how to undo it.

  Attributes:
    train, test: `SensorDataset`s whose series are normalised `[T_i, D]` float32.
    normaliser: fitted on the train split only.
    num_labels: label ids of a conditioned run (0: unconditioned).
    model: what the generator models, when not `train`/`test` themselves.
    num_styles: training subjects of a `--subject_style` run (0: no styles).
    session_styles: `[num_train_sessions]` style id of each training series (None: no
      styles; `sensegen.styles`).
  """

  train: data_lib.SensorDataset
  test: data_lib.SensorDataset
  normaliser: Normaliser
  num_labels: int = 0
  model: Optional[ModelSpace] = None
  num_styles: int = 0
  session_styles: Optional[np.ndarray] = None

  @property
  def channels(self) -> tuple:
    return self.train.channels

  @property
  def model_train(self) -> data_lib.SensorDataset:
    """The generator's training sessions (normalised in its own space)."""
    return self.model.train if self.model else self.train

  @property
  def model_test(self) -> data_lib.SensorDataset:
    return self.model.test if self.model else self.test

  @property
  def model_normaliser(self) -> Normaliser:
    return self.model.normaliser if self.model else self.normaliser

  @property
  def conditioned(self) -> bool:
    return self.num_labels > 0


def _tail_split(ds, fraction: float):
  """The first (1 - fraction) and the last `fraction` of every series' steps."""
  cut = [int(round(len(s) * (1 - fraction))) for s in ds.series]
  part = lambda sl: dataclasses.replace(
    ds,
    series=[s[sl(c)] for s, c in zip(ds.series, cut)],
    labels=None if ds.labels is None else [l[sl(c)] for l, c in zip(ds.labels, cut)],
  )
  return part(lambda c: slice(None, c)), part(lambda c: slice(c, None))


def load_raw(cfg: Config):
  """(train, test) `SensorDataset`s in physical units, as the config asks."""
  if cfg.data == "har":
    channels = cfg.channel_list or HAR_DEFAULT_CHANNELS
    return (
      data_lib.load_har("train", channels=channels),
      data_lib.load_har("test", channels=channels),
    )
  train = data_lib.load_file(cfg.data, channels=cfg.channel_list)
  if cfg.eval_data:
    test = data_lib.load_file(cfg.eval_data, channels=train.channels)
  else:
    train, test = _tail_split(train, HELD_OUT_FRACTION)
  return train, test


def labelled_stretches(ds, min_length: int):
  """Every maximal run of labelled steps (label > 0) of at least `min_length` steps, as its
  own series; runs of consecutive activities (transitions included) stay together."""
  series, labels, subjects = [], [], []
  for x, lab, subject in zip(ds.series, ds.labels, ds.subjects):
    for start, stop in runs(lab > 0, min_length):
      series.append(x[start:stop])
      labels.append(lab[start:stop])
      subjects.append(subject)
  return dataclasses.replace(ds, series=series, labels=labels, subjects=subjects)


def _num_labels(train, test) -> int:
  if train.label_names:
    return len(train.label_names)
  return int(max(l.max() for l in train.labels + test.labels)) + 1


def _normalised(ds, normaliser: Normaliser):
  return dataclasses.replace(ds, series=[normaliser.normalise(s) for s in ds.series])


def signal_chain(cfg: Config, channels) -> Optional[SignalChain]:
  """The chain from raw signals to `channels` when the generator models raw signals
  (`--model_space`), else None."""
  chain = SignalChain.for_channels(channels) if cfg.data == "har" else None
  if cfg.model_space == "raw" and chain is None:
    raise ConfigError(
      f"--model_space=raw needs HAR channels of --data=har (got --data={cfg.data}, "
      f"channels {','.join(channels)})"
    )
  if cfg.model_space == "processed" or chain is None:
    return None
  if all(kind == "raw" for _, kind in chain.outputs):
    return None  # The channels are raw already.
  return chain


def _conditioned(cfg: Config, train, test, min_length: int) -> tuple:
  """(train, test) cut to their labelled stretches, and the number of label ids."""
  for name, ds in (("train data", train), ("held-out data", test)):
    if ds.labels is None:
      raise DataError(f"--condition_on={cfg.condition_on}: {name} ({cfg.data}) has no labels")
  train, test = (labelled_stretches(ds, min_length) for ds in (train, test))
  return train, test, _num_labels(train, test)


def _model_space(cfg: Config, chain: SignalChain, min_length: int) -> ModelSpace:
  """The raw HAR sessions behind the run's channels, cut as the run's are."""
  train, test = (data_lib.load_har(split, channels=chain.sources) for split in ("train", "test"))
  if cfg.condition_on:
    train, test, _ = _conditioned(cfg, train, test, min_length)
  normaliser = Normaliser.fit(train.series)
  return ModelSpace(
    _normalised(train, normaliser), _normalised(test, normaliser), normaliser, chain
  )


def load(cfg: Config, min_length: int) -> RunData:
  """Loads, checks and normalises the run's data; every series must have `min_length` steps."""
  train, test = load_raw(cfg)
  chain = signal_chain(cfg, train.channels)
  num_labels = 0
  if cfg.condition_on:
    train, test, num_labels = _conditioned(cfg, train, test, min_length)
  for name, ds in (("train data", train), ("held-out data", test)):
    if not ds.series:
      raise DataError(f"{name} ({cfg.data}) has no series")
    longest = max(len(s) for s in ds.series)
    if longest < min_length:
      raise DataError(
        f"{name} ({cfg.data}): longest series has {longest} steps, "
        f"shorter than the {min_length} steps a window/chunk needs"
      )
  normaliser = Normaliser.fit(train.series)
  model = _model_space(cfg, chain, min_length) if chain else None
  session_styles, num_styles = _styles(cfg, train)
  return RunData(
    _normalised(train, normaliser),
    _normalised(test, normaliser),
    normaliser,
    num_labels,
    model,
    num_styles,
    session_styles,
  )


def _styles(cfg: Config, train) -> tuple:
  """(style id per training series, number of styles) of a `--subject_style` run, else
  (None, 0)."""
  if not cfg.subject_style:
    return None, 0
  if min(train.subjects) < 0:
    raise DataError(f"--subject_style: train data ({cfg.data}) has series of unknown subject")
  return styles.session_styles(train.subjects)


def load_for_training(cfg: Config) -> RunData:
  """`load` with the series a training run keeps: long enough for a discriminator window
  and a truncated-BPTT chunk. The weight-temperature fit of `--mode=calibrate` reads the
  same data, so that it repeats the fit at the end of training."""
  return load(cfg, min_length=max(cfg.window, cfg.bptt_steps + 1))


def dataset_record(run_data: RunData) -> dict:
  """What a trained model needs to know about its data (written as dataset.json)."""
  ds = run_data.train
  return {
    "channels": list(ds.channels),
    "units": list(ds.units),
    "sample_rate_hz": float(ds.sample_rate_hz),
    "label_names": list(ds.label_names),
    "num_labels": run_data.num_labels,
    "num_styles": run_data.num_styles,
    "normaliser": run_data.normaliser.to_dict(),
    # Absent for runs whose generator models the channels themselves.
    **(
      {
        "model_space": {
          "channels": list(run_data.model.chain.sources),
          "normaliser": run_data.model.normaliser.to_dict(),
        }
      }
      if run_data.model
      else {}
    ),
  }


def eval_windows(run_data: RunData, length: int, count: int, seed: int):
  """A fixed set of held-out windows `[count, length, S]` in the generator's space, for NLL
  evaluation, and their labels `[count, length]` (None for an unconditioned run)."""
  rng = np.random.default_rng([seed, 0xE7A1])
  test = run_data.model_test
  if not run_data.conditioned:
    return random_windows(test.series, count, length, rng, name="held-out data"), None
  return random_windows(test.series, count, length, rng, labels=test.labels, name="held-out data")
