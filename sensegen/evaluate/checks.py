"""Input checks of an evaluation: three window sets that agree in shape, names and rate."""

import numpy as np

from sensegen.data.windows import check_windows
from sensegen.errors import DataError
from sensegen.evaluate import judges


def check_same_shape(x: np.ndarray, name: str, ref: np.ndarray, ref_name: str) -> None:
  """Raises DataError unless `x` has the channels and length of `ref`."""
  if x.shape[2] != ref.shape[2]:
    raise DataError(f"{name}: {x.shape[2]} channels, {ref_name} has {ref.shape[2]}")
  if x.shape[1] != ref.shape[1]:
    raise DataError(f"{name}: windows of {x.shape[1]} steps, {ref.shape[1]} needed")


def check_inputs(real_train, real_test, synthetic, channels, sample_rate_hz: float) -> tuple:
  """The three sets as float32 `[N, L, D]` and the D channel names as strings.

  Raises:
    DataError: a set is not finite `[N, L, D]` with at least 2 windows of 3 steps,
      shapes disagree, the names or the rate do not fit, or real_train or synthetic
      has fewer windows than a discriminative score needs.
  """
  sets = [
    check_windows(x, name, min_windows=2, min_length=3)
    for x, name in ((real_train, "real_train"), (real_test, "real_test"), (synthetic, "synthetic"))
  ]
  check_same_shape(sets[1], "real_test", sets[0], "real_train")
  check_same_shape(sets[2], "synthetic", sets[0], "real data")
  channels = [str(c) for c in channels]
  if len(channels) != sets[0].shape[2]:
    raise DataError(f"channels: {len(channels)} names, real data has {sets[0].shape[2]} channels")
  if not sample_rate_hz > 0:
    raise DataError(f"sample_rate_hz: {sample_rate_hz}, must be positive")
  judges.check_counts(real_train=sets[0], synthetic=sets[2])
  return (*sets, channels)
