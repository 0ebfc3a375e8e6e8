"""The data of a run, from its config: train and held-out sessions, normalised."""

import dataclasses

import numpy as np

from sensegen import data as data_lib
from sensegen.config import Config
from sensegen.data.windows import Normaliser, random_windows, runs
from sensegen.errors import DataError

HAR_DEFAULT_CHANNELS = ("body_acc_x",)
HELD_OUT_FRACTION = 0.1


@dataclasses.dataclass(frozen=True)
class RunData:
  """Train and held-out sessions in the normalised space, and how to undo it.

  Attributes:
    train, test: `SensorDataset`s whose series are normalised `[T_i, D]` float32.
    normaliser: fitted on the train split only.
  """

  train: data_lib.SensorDataset
  test: data_lib.SensorDataset
  normaliser: Normaliser
  num_labels: int = 0

  @property
  def channels(self) -> tuple:
    return self.train.channels

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


def load(cfg: Config, min_length: int) -> RunData:
  """Loads, checks and normalises the run's data; every series must have `min_length` steps."""
  train, test = load_raw(cfg)
  num_labels = 0
  if cfg.condition_on:
    for name, ds in (("train data", train), ("held-out data", test)):
      if ds.labels is None:
        raise DataError(f"--condition_on={cfg.condition_on}: {name} ({cfg.data}) has no labels")
    train, test = (labelled_stretches(ds, min_length) for ds in (train, test))
    num_labels = _num_labels(train, test)
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
  return RunData(
    _normalised(train, normaliser), _normalised(test, normaliser), normaliser, num_labels
  )


def dataset_record(run_data: RunData) -> dict:
  """What a trained model needs to know about its data (written as dataset.json)."""
  ds = run_data.train
  return {
    "channels": list(ds.channels),
    "units": list(ds.units),
    "sample_rate_hz": float(ds.sample_rate_hz),
    "label_names": list(ds.label_names),
    "num_labels": run_data.num_labels,
    "normaliser": run_data.normaliser.to_dict(),
  }


def eval_windows(run_data: RunData, length: int, count: int, seed: int):
  """A fixed set of held-out windows `[count, length, D]` for NLL evaluation, and their
  labels `[count, length]` (None for an unconditioned run)."""
  rng = np.random.default_rng([seed, 0xE7A1])
  if not run_data.conditioned:
    return random_windows(run_data.test.series, count, length, rng, name="held-out data"), None
  return random_windows(
    run_data.test.series, count, length, rng, labels=run_data.test.labels, name="held-out data"
  )
