"""Bring-your-own data: `.npz` and `.csv` recordings as a SensorDataset.

NPZ (read with allow_pickle=False): `x` `[N, T, D]` or `[T, D]`; optional
`labels` `[N, T]`, `[N]` (one per series) or `[T]` (with a 2-D `x`); optional
`channels` and `units` string arrays of length D; optional `subjects` `[N]` (or `[1]`
with a 2-D `x`): the non-negative id of the person each series was recorded from
(`--subject_style`).

CSV: a header row, then one row per time step. A `series_id` column groups
rows into recordings (ordered by first appearance); a `label` column holds
integer ids or, with `label_names`, names; every other column is a numeric
channel. Rows are numbered as in the file (the header is row 1).
"""

import csv
import math
import os
import pathlib
import zipfile
from typing import Optional, Sequence, Union

import numpy as np

from sensegen.data.dataset import SensorDataset
from sensegen.data.dataset import check_series
from sensegen.errors import DataError

PathLike = Union[str, os.PathLike]

SERIES_ID_COLUMN = "series_id"
LABEL_COLUMN = "label"
UNLABELLED = "UNLABELLED"
_NPZ_KEYS = ("x", "labels", "channels", "units", "subjects")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _label_ids(labels: np.ndarray, name: str, label_names: Optional[tuple]) -> np.ndarray:
  """Checks label ids are integers in range; returns them as int32."""
  if labels.dtype.kind not in "iubf" or (
    labels.dtype.kind == "f" and not np.all(labels == np.round(labels))
  ):
    raise DataError(f"{name}: 'labels' must hold integer ids, got {labels.dtype}")
  limit = len(label_names) if label_names else np.iinfo(np.int32).max + 1
  if labels.size and not (labels.min() >= 0 and labels.max() < limit):
    raise DataError(
      f"{name}: 'labels' span {labels.min()}..{labels.max()}, expected ids 0..{limit - 1}"
    )
  return labels.astype(np.int32)


def _names(value: np.ndarray, key: str, num: int, name: str) -> tuple:
  """A length-`num` tuple of str from a 1-D string array."""
  if value.dtype.kind != "U" or value.shape != (num,):
    raise DataError(
      f"{name}: '{key}' must be {num} strings (one per channel), got {value.dtype} {value.shape}"
    )
  return tuple(str(v) for v in value)


def _npz_arrays(path: pathlib.Path) -> dict:
  """All arrays of an `.npz` archive; DataError for anything but plain arrays."""
  try:
    npz = np.load(path, allow_pickle=False)
  except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
    raise DataError(f"{path}: unreadable .npz ({type(e).__name__}: {e})") from None
  if not isinstance(npz, np.lib.npyio.NpzFile):
    raise DataError(f"{path}: a bare .npy array, expected an .npz archive")
  with npz:
    try:
      arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
      raise DataError(f"{path}: unreadable .npz member ({type(e).__name__}: {e})") from None
  for key, value in arrays.items():
    # NpzFile returns the raw bytes of members that are not .npy files.
    if not isinstance(value, np.ndarray):
      raise DataError(f"{path}: member {key!r} is not a .npy array")
  return arrays


def _check_channel_names(channels: tuple, path: pathlib.Path) -> None:
  """DataError for an empty or repeated name (they select columns by name)."""
  if "" in channels or len(set(channels)) != len(channels):
    raise DataError(f"{path}: names {list(channels)} include an empty or repeated one")


def _subjects(arrays: dict, num_series: int, path: pathlib.Path) -> list:
  """The `subjects` array of an `.npz` file as one int per series; -1s without one."""
  if "subjects" not in arrays:
    return [-1] * num_series
  subjects = arrays["subjects"]
  if subjects.shape != (num_series,) or subjects.dtype.kind not in "iu":
    raise DataError(
      f"{path}: 'subjects' has {subjects.dtype} {subjects.shape}, expected {num_series} "
      "integer ids (one per series)"
    )
  if subjects.min() < 0:
    raise DataError(f"{path}: 'subjects' holds {subjects.min()}, expected ids >= 0")
  return [int(s) for s in subjects]


def _read_npz(path: pathlib.Path, label_names: Optional[tuple]):
  """(series, labels or None, channels, units, subjects) from an `.npz` file."""
  arrays = _npz_arrays(path)
  unknown = sorted(set(arrays) - set(_NPZ_KEYS))
  if unknown:
    raise DataError(f"{path}: unexpected arrays {unknown}; allowed: " + ", ".join(_NPZ_KEYS))
  if "x" not in arrays:
    raise DataError(f"{path}: no array 'x' (the [N, T, D] or [T, D] series)")
  x = arrays["x"]
  if x.ndim not in (2, 3):
    raise DataError(f"{path}: 'x' has shape {x.shape}, expected [N, T, D] or [T, D]")
  if x.dtype.kind not in "iufb":
    raise DataError(f"{path}: 'x' has dtype {x.dtype}, expected numbers")
  with np.errstate(over="ignore"):  # Overflow to inf is reported below.
    series = np.asarray(x[None] if x.ndim == 2 else x, np.float32)
  num_series, num_steps, num_channels = series.shape
  if num_series == 0 or num_channels == 0:
    raise DataError(f"{path}: 'x' has shape {x.shape}, no series or no channels")
  labels = None
  if "labels" in arrays:
    labels = arrays["labels"]
    allowed = [(num_series, num_steps), (num_series,)] if x.ndim == 3 else [(num_steps,)]
    if labels.shape not in allowed:
      raise DataError(
        f"{path}: 'labels' has shape {labels.shape}, expected "
        + " or ".join(str(list(s)) for s in allowed)
        + f" for 'x' {list(x.shape)}"
      )
    labels = _label_ids(labels, path, label_names)
    # Per-series labels hold for every step; a [T] vector is the one series.
    labels = list(np.broadcast_to(labels.reshape(num_series, -1), (num_series, num_steps)).copy())
  channels = (
    _names(arrays["channels"], "channels", num_channels, path)
    if "channels" in arrays
    else tuple(f"ch{i}" for i in range(num_channels))
  )
  _check_channel_names(channels, path)
  units = (
    _names(arrays["units"], "units", num_channels, path)
    if "units" in arrays
    else ("",) * num_channels
  )
  bad = np.argwhere(~np.isfinite(series))
  if len(bad):
    i, t, d = bad[0]
    raise DataError(
      f"{path}: series {i} step {t} channel {channels[d]!r} is "
      f"{x.reshape(series.shape)[i, t, d]}, expected a finite "
      "float32"
    )
  return list(series), labels, channels, units, _subjects(arrays, num_series, path)


def _csv_label(cell: str, where: str, label_names: Optional[tuple]) -> int:
  """A label id from a name in `label_names` or a non-negative integer."""
  if label_names and cell in label_names:
    return label_names.index(cell)
  try:
    value = int(cell)
  except ValueError:
    known = f"; known names: {', '.join(label_names)}" if label_names else ""
    raise DataError(f"{where}: label {cell!r} is not an integer id{known}") from None
  limit = len(label_names) if label_names else np.iinfo(np.int32).max + 1
  if not 0 <= value < limit:
    raise DataError(f"{where}: label {value}, expected 0..{limit - 1}")
  return value


def _csv_value(cell: str, where: str) -> float:
  try:
    value = float(cell)
  except ValueError:
    raise DataError(f"{where}: {cell!r} is not a number") from None
  if not abs(value) <= _FLOAT32_MAX:
    raise DataError(f"{where}: {cell!r} is not a finite float32")
  return value


def _csv_rows(path: pathlib.Path):
  """(header, [(row number, cells)]) of a CSV file; blank lines skipped."""
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      reader = csv.reader(f, strict=True)
      rows = [(reader.line_num, cells) for cells in reader if cells]
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise DataError(f"{path}: unreadable CSV ({e})") from None
  if not rows:
    raise DataError(f"{path}: empty file, expected a header row")
  return rows[0][1], rows[1:]


def _read_csv(path: pathlib.Path, label_names: Optional[tuple]):
  """(series, labels or None, channels, units) from a `.csv` file."""
  header, rows = _csv_rows(path)
  header = [h.strip() for h in header]
  _check_channel_names(tuple(header), path)
  channels = [h for h in header if h not in (SERIES_ID_COLUMN, LABEL_COLUMN)]
  if not channels:
    raise DataError(f"{path}: no channel columns besides {SERIES_ID_COLUMN}/{LABEL_COLUMN}")
  if not rows:
    raise DataError(f"{path}: empty series, no data rows after the header")
  groups = {}  # series id -> ([values], [labels]), in order of first appearance.
  for row, cells in rows:
    if len(cells) != len(header):
      raise DataError(
        f"{path} row {row}: {len(cells)} fields, expected {len(header)} like the header"
      )
    record = dict(zip(header, cells))
    values, labels = groups.setdefault(record.get(SERIES_ID_COLUMN, ""), ([], []))
    values.append([_csv_value(record[c], f"{path} row {row} column {c!r}") for c in channels])
    if LABEL_COLUMN in record:
      labels.append(
        _csv_label(
          record[LABEL_COLUMN].strip(), f"{path} row {row} column {LABEL_COLUMN!r}", label_names
        )
      )
  series = [np.array(v, np.float32) for v, _ in groups.values()]
  labels = [np.array(l, np.int32) for _, l in groups.values()] if LABEL_COLUMN in header else None
  return series, labels, tuple(channels), ("",) * len(channels), [-1] * len(series)


def _select(series, channels: tuple, units: tuple, wanted: Sequence[str], path: pathlib.Path):
  """Columns `wanted` of every series, in that order."""
  if isinstance(wanted, str):
    wanted = (wanted,)
  for name in wanted:
    if name not in channels:
      raise DataError(f"{path}: unknown channel {name!r}; available: " + ", ".join(channels))
  if not wanted or len(set(wanted)) != len(wanted):
    raise DataError(
      f"{path}: channels={tuple(wanted)} must name each channel at most once, at least one"
    )
  columns = [channels.index(name) for name in wanted]
  return ([s[:, columns] for s in series], tuple(wanted), tuple(units[c] for c in columns))


def load_file(
  path: PathLike,
  channels: Optional[Sequence[str]] = None,
  sample_rate_hz: float = 50.0,
  label_names: Optional[Sequence[str]] = None,
) -> SensorDataset:
  """Loads your own recordings from an `.npz` or `.csv` file (see module doc).

  Args:
    path: the `.npz` or `.csv` file.
    channels: channel names to keep, in this order; None keeps all.
    sample_rate_hz: sampling rate of the recordings.
    label_names: names of label ids 0..K, starting with "UNLABELLED"; CSV
      labels may then be given by name.

  Returns:
    A SensorDataset of float32 `[T_i, D]` series (subjects unknown: -1, unless an `.npz`
    file gives them).
  """
  path = pathlib.Path(path)
  if not path.exists():
    raise DataError(f"{path}: file not found")
  if path.is_dir():
    raise DataError(f"{path}: is a directory, expected a .npz or .csv file")
  if not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
    raise DataError(f"sample_rate_hz={sample_rate_hz}, expected > 0")
  label_names = tuple(label_names) if label_names else None
  if label_names and label_names[0] != UNLABELLED:
    raise DataError(
      f"label_names[0] is {label_names[0]!r}, expected {UNLABELLED!r} (the name of id 0)"
    )
  readers = {".npz": _read_npz, ".csv": _read_csv}
  suffix = path.suffix.lower()
  if suffix not in readers:
    raise DataError(f"{path}: unknown extension {path.suffix!r}, expected .npz or .csv")
  if path.stat().st_size == 0:
    raise DataError(f"{path}: empty file")
  series, labels, names, units, subjects = readers[suffix](path, label_names)
  check_series(series, str(path), min_length=1)
  if channels is not None:
    series, names, units = _select(series, names, units, channels, path)
  return SensorDataset(
    series=series,
    labels=labels,
    subjects=subjects,
    channels=names,
    units=units,
    sample_rate_hz=float(sample_rate_hz),
    label_names=label_names or (),
  )
