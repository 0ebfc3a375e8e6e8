"""Atomic file output: write to a temporary file in the same directory, then rename.

A crash therefore never leaves a half-written file under its final name.
"""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path: str, mode: str = "w"):
  """Opens a temporary sibling of `path` for writing; renames it over `path` on success."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path), suffix=".tmp")
  try:
    with os.fdopen(fd, mode) as f:
      yield f
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise


def write_json(path: str, obj) -> None:
  with atomic_open(path) as f:
    json.dump(obj, f, indent=2, sort_keys=True)
    f.write("\n")


def read_json(path: str):
  with open(path) as f:
    return json.load(f)
