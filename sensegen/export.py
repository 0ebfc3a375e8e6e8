"""Writing generated series to `.npz` or `.csv` (atomically)."""

import csv

import numpy as np

from sensegen import fileio
from sensegen.errors import ConfigError

FORMATS = (".npz", ".csv")


def check_path(path: str) -> None:
  if not path.endswith(FORMATS):
    raise ConfigError(f"--output={path}: expected a file ending in .npz or .csv")


def write_samples(path: str, x, channels, units=(), extra=None) -> None:
  """Writes samples `[N, L, D]` (physical units).

  `.npz`: `x` float32 `[N, L, D]`, `channels` and `units` string arrays (no pickle),
  plus any `extra` arrays. `.csv`: long format `sample_id,t,<channels>`.
  """
  check_path(path)
  x = np.asarray(x, np.float32)
  if path.endswith(".npz"):
    arrays = {
      "x": x,
      "channels": np.asarray(list(channels), dtype=str),
      "units": np.asarray(list(units), dtype=str),
      **(extra or {}),
    }
    with fileio.atomic_open(path, "wb") as f:
      np.savez(f, **arrays)
    return
  with fileio.atomic_open(path, "w") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(["sample_id", "t", *channels])
    for i, series in enumerate(x):
      for t, row in enumerate(series):
        writer.writerow([i, t, *(f"{v:.7g}" for v in row)])
