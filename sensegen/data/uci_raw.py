"""The raw UCI HAPT files: reading the accelerometer, gyroscope and label tables of a
RawData folder (plain or `.xz`) into sessions, and the standard train / test user split.

The embedded copy (61 sessions of 30 users, waist-worn phone, 50 Hz accelerometer in g
and gyroscope in rad/s) ships inside the package under `har_raw/`.
"""

import dataclasses
import importlib.resources
import io
import lzma
import math
import os
import pathlib
import re
from typing import Optional, Union

import numpy as np

from sensegen.errors import DataError

PathLike = Union[str, os.PathLike]

# Activity ids 1..12 of activity_labels.txt.
ACTIVITY_NAMES = (
  "WALKING",
  "WALKING_UPSTAIRS",
  "WALKING_DOWNSTAIRS",
  "SITTING",
  "STANDING",
  "LAYING",
  "STAND_TO_SIT",
  "SIT_TO_STAND",
  "SIT_TO_LIE",
  "LIE_TO_SIT",
  "STAND_TO_LIE",
  "LIE_TO_STAND",
)

# Standard UCI HAR / HAPT subject split; every other user is train.
TEST_USERS = frozenset({2, 4, 9, 10, 12, 13, 18, 20, 24})

_SIGNAL_FILE = re.compile(r"(acc|gyro)_exp(\d+)_user(\d+)\.txt(\.xz)?")
_LABELS_FILE = "labels.txt"


@dataclasses.dataclass(frozen=True)
class RawSession:
  """One unfiltered recording session.

  Attributes:
    experiment_id: HAPT experiment number (1..61).
    user_id: volunteer number (1..30).
    acc: `[T, 3]` float64 accelerometer in g.
    gyro: `[T, 3]` float64 gyroscope in rad/s, same instants as `acc`.
    labels: `[T]` int32 activity id per sample, 0 = unlabelled.
  """

  experiment_id: int
  user_id: int
  acc: np.ndarray
  gyro: np.ndarray
  labels: np.ndarray


def embedded_raw_dir() -> pathlib.Path:
  """The RawData copy shipped in the package."""
  return pathlib.Path(str(importlib.resources.files(__package__) / "har_raw"))


def _read_text(path: pathlib.Path) -> str:
  """Contents of a plain or `.xz` text file."""
  if not path.is_file():
    raise DataError(f"{path}: file not found")
  opener = lzma.open if path.suffix == ".xz" else open
  try:
    with opener(path, "rt", encoding="utf-8") as f:
      return f.read()
  except (OSError, EOFError, lzma.LZMAError, UnicodeDecodeError) as e:
    raise DataError(f"{path}: unreadable ({e})") from None


def _parse_rows(text: str, path: pathlib.Path, num_cols: int, parse) -> np.ndarray:
  """Parses row by row so the first bad row can be named; `[R, num_cols]`."""
  rows = []
  for row, line in enumerate(text.splitlines(), start=1):
    fields = line.split()
    if not fields:
      continue  # Blank lines carry no data (np.loadtxt skips them too).
    if len(fields) != num_cols:
      raise DataError(f"{path} row {row}: {len(fields)} columns, expected {num_cols}")
    try:
      values = [parse(f) for f in fields]
    except ValueError:
      kind = "integers" if parse is int else "numbers"
      raise DataError(f"{path} row {row}: {line.strip()!r}, expected {num_cols} {kind}") from None
    if not all(math.isfinite(v) for v in values):
      raise DataError(f"{path} row {row}: non-finite value in {line.strip()!r}")
    rows.append(values)
  if not rows:
    raise DataError(f"{path}: no data rows")
  return np.array(rows)


def read_table(path: PathLike, num_cols: int, integer: bool = False) -> np.ndarray:
  """Reads a whitespace-separated numeric text file (plain or `.xz`).

  Args:
    path: file to read.
    num_cols: number of columns every row must have.
    integer: parse int64 instead of float64.

  Returns:
    `[R, num_cols]` array, R >= 1.
  """
  path = pathlib.Path(path)
  text = _read_text(path)
  if not integer and text.strip():
    # Fast path for the big signal files; anything odd goes to _parse_rows.
    try:
      table = np.loadtxt(io.StringIO(text), ndmin=2, comments=None)
      if table.shape[1] == num_cols and np.isfinite(table).all():
        return table
    except ValueError:
      pass
  return _parse_rows(text, path, num_cols, int if integer else float)


def _signal_paths(raw_dir: pathlib.Path) -> dict[int, tuple[int, pathlib.Path, pathlib.Path]]:
  """Maps experiment id -> (user id, acc file, gyro file)."""
  found = {}
  for path in sorted(raw_dir.iterdir()):
    match = _SIGNAL_FILE.fullmatch(path.name)
    if not match:
      continue
    kind, exp, user = match[1], int(match[2]), int(match[3])
    if (exp, kind) in found:
      raise DataError(
        f"{raw_dir}: experiment {exp} has two {kind} files, "
        f"{found[exp, kind][1].name} and {path.name}"
      )
    found[exp, kind] = (user, path)
  if not found:
    raise DataError(f"{raw_dir}: no acc_expEE_userUU.txt[.xz] / gyro_expEE_userUU.txt[.xz] files")
  paths = {}
  for exp in sorted({exp for exp, _ in found}):
    for kind in ("acc", "gyro"):
      if (exp, kind) not in found:
        raise DataError(f"{raw_dir}: experiment {exp} has no {kind} file")
    (user, acc), (gyro_user, gyro) = found[exp, "acc"], found[exp, "gyro"]
    if user != gyro_user:
      raise DataError(f"{raw_dir}: {acc.name} and {gyro.name} name different users")
    paths[exp] = (user, acc, gyro)
  return paths


def _label_arrays(
  segments: np.ndarray, path: pathlib.Path, lengths: dict[int, int], users: dict[int, int]
) -> dict[int, np.ndarray]:
  """Per-sample labels `[T]` per experiment from labels.txt rows `exp user activity start end`."""
  labels = {exp: np.zeros(n, np.int32) for exp, n in lengths.items()}
  for row, (exp, user, activity, start, end) in enumerate(segments, start=1):
    where = f"{path} row {row}"
    if exp not in labels:
      raise DataError(f"{where}: experiment {exp} has no acc/gyro files")
    if user != users[exp]:
      raise DataError(
        f"{where}: user {user}, but the files of experiment {exp} are of user {users[exp]}"
      )
    if not 1 <= activity <= len(ACTIVITY_NAMES):
      raise DataError(f"{where}: activity {activity}, expected 1..{len(ACTIVITY_NAMES)}")
    if not 1 <= start <= end <= len(labels[exp]):
      raise DataError(
        f"{where}: rows {start}..{end}, expected 1-based "
        f"inclusive rows within 1..{len(labels[exp])}"
      )
    segment = labels[exp][start - 1 : end]  # 1-based inclusive.
    if segment.any():
      raise DataError(
        f"{where}: rows {start}..{end} overlap an earlier segment of experiment {exp}"
      )
    segment[:] = activity
  return labels


def raw_dir_path(raw_dir: Optional[PathLike]) -> pathlib.Path:
  """`raw_dir`, or the embedded copy for None; DataError unless it is a folder."""
  raw_dir = embedded_raw_dir() if raw_dir is None else pathlib.Path(raw_dir)
  if not raw_dir.is_dir():
    raise DataError(f"{raw_dir}: RawData folder not found")
  return raw_dir


def read_raw_dir(raw_dir: Optional[PathLike] = None) -> list[RawSession]:
  """Reads a HAPT `RawData` folder (`.txt` or `.txt.xz` signal files + labels.txt).

  Args:
    raw_dir: the folder; None reads the copy embedded in the package.

  Returns:
    The sessions, ordered by experiment id.
  """
  raw_dir = raw_dir_path(raw_dir)
  paths = _signal_paths(raw_dir)
  segments = read_table(raw_dir / _LABELS_FILE, 5, integer=True)
  signals = {}
  for exp, (_, acc_path, gyro_path) in paths.items():
    acc, gyro = read_table(acc_path, 3), read_table(gyro_path, 3)
    if len(acc) != len(gyro):
      raise DataError(f"{gyro_path}: {len(gyro)} rows, expected {len(acc)} like {acc_path.name}")
    signals[exp] = (acc, gyro)
  labels = _label_arrays(
    segments,
    raw_dir / _LABELS_FILE,
    lengths={exp: len(acc) for exp, (acc, _) in signals.items()},
    users={exp: user for exp, (user, _, _) in paths.items()},
  )
  return [
    RawSession(exp, paths[exp][0], acc, gyro, labels[exp]) for exp, (acc, gyro) in signals.items()
  ]


def split_of(user_id: int) -> str:
  """ "test" for the standard test users, else "train"."""
  return "test" if user_id in TEST_USERS else "train"
