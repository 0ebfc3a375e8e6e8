"""`metrics.jsonl`: one JSON object per logged event, append-only across resumes.

After a crash a resumed run recomputes the steps since its last checkpoint; rows it
already wrote for those steps are kept and the recomputed duplicates are dropped, so
rows are never rewritten or lost.
"""

import json
import math
import os


def _clean(value):
  if isinstance(value, float) and not math.isfinite(value):
    return None  # JSON has no NaN/inf.
  return value


class MetricsLog:
  """Appends rows to `path`; a row whose (step, keys) was already written is skipped."""

  def __init__(self, path: str):
    self.path = path
    self._seen = set()
    self._last_step = -1
    if os.path.exists(path):
      _drop_torn_line(path)
      for row in read_rows(path):
        self._remember(row)

  def _key(self, row: dict):
    return row.get("step"), tuple(sorted(row))

  def _remember(self, row: dict) -> None:
    self._seen.add(self._key(row))
    self._last_step = max(self._last_step, row.get("step", -1))

  def write(self, row: dict) -> bool:
    """Appends `row` unless it repeats an earlier one; returns whether it was written."""
    row = {k: _clean(v) for k, v in row.items()}
    if row.get("step", -1) < self._last_step or self._key(row) in self._seen:
      return False
    with open(self.path, "a") as f:
      f.write(json.dumps(row, sort_keys=True) + "\n")
      f.flush()
      os.fsync(f.fileno())
    self._remember(row)
    return True


def _drop_torn_line(path: str) -> None:
  """Truncates a last line left without its newline by a crash mid-write."""
  with open(path, "rb+") as f:
    data = f.read()
    if data and not data.endswith(b"\n"):
      f.truncate(data.rfind(b"\n") + 1)


def read_rows(path: str) -> list:
  """All complete rows of a metrics file (a torn last line from a crash is ignored);
  none if the file does not exist yet."""
  rows = []
  if not os.path.exists(path):
    return rows
  with open(path) as f:
    for line in f:
      try:
        rows.append(json.loads(line))
      except json.JSONDecodeError:
        continue
  return rows
