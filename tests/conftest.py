"""Shared test settings: CPU, and throwaway caches for one test session.

The pytest controller makes one temporary directory per session, before the xdist
workers start (they inherit its environment), and removes it at the end:
- `SENSEGEN_DATA_DIR`: the HAR dataset is built there once (a file lock serialises the
  workers), never in the user's `~/.cache/sensegen`;
- a JAX compilation cache, so that the many launcher subprocesses of the suite, which
  compile the same smoke-size programs, compile each of them once.
XLA compiles at optimisation level 0: the suite's tiny models spend far more time in
compilation than in execution (a smoke run: 30 s -> 22 s), and results agree with the
default level to float tolerance; comparisons that need bitwise equality run both sides
under the same flags. Launchers are not re-executed under tcmalloc.
"""

import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# Launcher subprocesses keep the allocator they start with: re-executing under tcmalloc would
# pay Python's start-up twice per launch (tests/test_allocator.py tests the re-exec itself).
os.environ.setdefault("SENSEGEN_TCMALLOC", "0")
_FAST_COMPILE = "--xla_backend_optimization_level=0"
if _FAST_COMPILE not in os.environ.get("XLA_FLAGS", ""):
  os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_FAST_COMPILE}".strip()

_OWNER = "SENSEGEN_TEST_SESSION_DIR"


def pytest_configure(config):
  del config
  if _OWNER in os.environ:  # An xdist worker: the controller made the directory.
    return
  root = tempfile.mkdtemp(prefix="sensegen-tests-")
  os.environ.update(
    {
      _OWNER: root,
      "SENSEGEN_DATA_DIR": os.path.join(root, "tfds"),
      "JAX_COMPILATION_CACHE_DIR": os.path.join(root, "jax_cache"),
      "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
      "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
  )
  os.environ["_SENSEGEN_TEST_SESSION_OWNER"] = str(os.getpid())


def pytest_collection_modifyitems(items):
  """Heavy tests first (a stable sort), so that the xdist workers finish together."""
  items.sort(key=lambda item: item.get_closest_marker("heavy") is None)


def pytest_unconfigure(config):
  del config
  if os.environ.get("_SENSEGEN_TEST_SESSION_OWNER") == str(os.getpid()):
    shutil.rmtree(os.environ[_OWNER], ignore_errors=True)
