"""What the launcher's terminal shows: the run's own log lines and every warning.

Orbax, TFDS and JAX log through Python `logging`, which absl's handler prints from INFO up;
their INFO lines come back with `--verbosity=1` or more. Own lines are told apart by the file
that logged them, a module of this package. (A substring test on the path is not enough: a
checkout or virtual environment named `sensegen` holds every library's files too.)
"""

import logging
import os

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# XLA's C++ log threshold: 1 keeps its warnings and errors and drops its INFO lines.
_CPP_MIN_LOG_LEVEL = "1"


def is_shown(record: logging.LogRecord) -> bool:
  """A warning or worse, or a line logged by a module of this package."""
  return record.levelno >= logging.WARNING or os.path.abspath(record.pathname).startswith(
    _PACKAGE_DIR
  )


def configure(handler: logging.Handler, verbosity: int) -> None:
  """Below verbosity 1, `handler` prints only `is_shown` records and XLA's C++ logging drops
  INFO (unless the environment sets TF_CPP_MIN_LOG_LEVEL; effective before JAX loads)."""
  if verbosity >= 1:
    handler.removeFilter(is_shown)
    return
  handler.addFilter(is_shown)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", _CPP_MIN_LOG_LEVEL)
