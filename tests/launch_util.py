"""Running the launcher in a subprocess, as a user would, and importing the scripts of
`benchmarks/` as modules."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "launch" / "smoke.flags")


def bench_module(name: str):
  """The script `benchmarks/<name>.py`, imported as a module."""
  sys.path.insert(0, str(REPO / "benchmarks"))
  try:
    return importlib.import_module(name)
  finally:
    sys.path.pop(0)


def launch(*flags, timeout=300, env=None, **popen):
  """Runs `python -m sensegen.launch --flagfile=launch/smoke.flags FLAGS...`."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO), **(env or {})}
  return subprocess.run(
    [sys.executable, "-m", "sensegen.launch", f"--flagfile={SMOKE}", *flags],
    capture_output=True,
    text=True,
    timeout=timeout,
    env=env,
    cwd=REPO,
    **popen,
  )


def launch_in_process(*flags) -> int:
  """`main` of the launcher in this process (fast: JAX is already loaded); returns the exit
  code. Flags are reset first, as absl keeps them in a global registry."""
  from sensegen import launch as launch_lib

  argv = ["sensegen.launch", f"--flagfile={SMOKE}", *flags]
  launch_lib.FLAGS.unparse_flags()
  try:
    return launch_lib.main(launch_lib._parse(argv))  # pylint: disable=protected-access
  except SystemExit as exit_:
    return exit_.code
  finally:
    launch_lib.FLAGS.unparse_flags()
