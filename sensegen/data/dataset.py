"""The in-memory dataset every loader returns and every consumer takes."""

import dataclasses
from typing import Optional

import numpy as np

from sensegen.errors import DataError


@dataclasses.dataclass(frozen=True)
class SensorDataset:
  """A set of multichannel recordings, one array per session, in physical units.

  Attributes:
    series: one float32 array `[T_i, D]` per session.
    labels: one int32 array `[T_i]` per session (0 = unlabelled), or None.
    subjects: one subject/user id per session (-1 when unknown).
    channels: D channel names.
    units: D unit strings (e.g. "g", "rad/s"; "" when unknown).
    sample_rate_hz: sampling rate shared by all series.
    label_names: names of label ids 1..K (index 0 is "UNLABELLED"), or ().
  """

  series: list
  labels: Optional[list]
  subjects: list
  channels: tuple
  units: tuple
  sample_rate_hz: float
  label_names: tuple = ()

  @property
  def num_channels(self) -> int:
    return len(self.channels)

  @property
  def num_samples(self) -> int:
    """Total time steps over all series."""
    return int(sum(len(s) for s in self.series))

  def select(self, indices) -> "SensorDataset":
    """The sessions at `indices`, everything else unchanged."""
    idx = list(indices)
    return dataclasses.replace(
      self,
      series=[self.series[i] for i in idx],
      labels=None if self.labels is None else [self.labels[i] for i in idx],
      subjects=[self.subjects[i] for i in idx],
    )


def check_series(series, name: str, min_length: int = 2) -> None:
  """Raises DataError unless every series is a finite float array `[T, D]` with T >= min_length."""
  for i, s in enumerate(series):
    s = np.asarray(s)
    if s.ndim != 2:
      raise DataError(f"{name}: series {i} has rank {s.ndim}, expected [T, D]")
    if len(s) < min_length:
      raise DataError(f"{name}: series {i} has {len(s)} steps, at least {min_length} needed")
    if not np.all(np.isfinite(s)):
      row = int(np.argwhere(~np.isfinite(s))[0][0])
      raise DataError(f"{name}: series {i} has a non-finite value at step {row}")
