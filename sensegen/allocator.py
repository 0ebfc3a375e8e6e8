"""Running under tcmalloc: the launcher (and the benchmarks) re-execute themselves once with
tcmalloc in `LD_PRELOAD` when the library is installed.

glibc's malloc returns buffers above 32 MB to the OS on every free, so each train step's
activation stacks page-fault again; tcmalloc keeps them (see benchmarks/README.md).
`SENSEGEN_TCMALLOC=0` turns this off; `SENSEGEN_TCMALLOC=/path/libtcmalloc.so` names the
library. `python -m sensegen.allocator` prints the library that would be used.
"""

import os
import re
import sys
from typing import Mapping, Optional, Sequence

from sensegen.errors import ConfigError

__all__ = [
  "ENV_SWITCH",
  "LIBRARY_DIRS",
  "LIBRARY_NAMES",
  "find_library",
  "is_preloaded",
  "loaded",
  "reexec_env",
  "reexec_under_tcmalloc",
]

ENV_SWITCH = "SENSEGEN_TCMALLOC"  # "0": off; a path: that library; unset or "": searched for.
# Set (to the library) in the re-executed process, so that it never re-executes again.
_GUARD = "SENSEGEN_TCMALLOC_REEXECUTED"
LIBRARY_NAMES = ("libtcmalloc_minimal.so.4", "libtcmalloc.so.4")
LIBRARY_DIRS = (
  "/usr/lib/x86_64-linux-gnu",
  "/usr/lib/aarch64-linux-gnu",
  "/lib/x86_64-linux-gnu",
  "/lib/aarch64-linux-gnu",
  "/usr/lib64",
  "/usr/lib",
  "/usr/local/lib",
  os.path.join(sys.prefix, "lib"),  # conda environments
)


def find_library(
  dirs: Sequence[str] = LIBRARY_DIRS, names: Sequence[str] = LIBRARY_NAMES
) -> Optional[str]:
  """The first `dir/name` that is a file (names in order of preference), or None."""
  for name in names:
    for directory in dirs:
      path = os.path.join(directory, name)
      if os.path.isfile(path):
        return path
  return None


def is_preloaded(ld_preload: str) -> bool:
  """Whether an `LD_PRELOAD` value (entries split by spaces or colons) holds tcmalloc."""
  return any("tcmalloc" in os.path.basename(p) for p in re.split(r"[\s:]+", ld_preload) if p)


def _chosen_library(env: Mapping[str, str], dirs: Sequence[str]) -> Optional[str]:
  """The library `env` asks for (ConfigError if it names no file), or the one found."""
  switch = env.get(ENV_SWITCH, "")
  if switch == "0":
    return None
  if switch:
    if not os.path.isfile(switch):
      raise ConfigError(f"{ENV_SWITCH}={switch}: no such file; 0 turns tcmalloc off")
    return switch
  return find_library(dirs)


def reexec_env(env: Mapping[str, str], dirs: Sequence[str] = LIBRARY_DIRS) -> Optional[dict]:
  """The environment to re-execute under, with tcmalloc first in `LD_PRELOAD`; None when
  there is nothing to do (turned off, already preloaded or re-executed, no library)."""
  preload = env.get("LD_PRELOAD", "")
  if env.get(_GUARD) or is_preloaded(preload):
    return None
  library = _chosen_library(env, dirs)
  if library is None:
    return None
  return {**env, "LD_PRELOAD": f"{library}:{preload}" if preload else library, _GUARD: library}


def reexec_under_tcmalloc() -> None:
  """Replaces this process by the same command under tcmalloc (same pid), saying so in one
  line on stderr; returns when there is nothing to do."""
  env = reexec_env(os.environ)
  if env is None or not sys.executable:
    return
  print(
    f"sensegen: running under tcmalloc ({env[_GUARD]}); {ENV_SWITCH}=0 turns it off",
    file=sys.stderr,
    flush=True,
  )
  os.execve(sys.executable, sys.orig_argv, env)


def loaded(maps_path: str = "/proc/self/maps") -> str:
  """The allocator this process runs under: "tcmalloc", "glibc" or "unknown"."""
  try:
    with open(maps_path, encoding="utf-8", errors="replace") as f:
      maps = f.read()
  except OSError:
    return "unknown"
  if "tcmalloc" in maps:
    return "tcmalloc"
  return "glibc" if "libc.so.6" in maps else "unknown"


def main() -> int:
  """Prints the library the launcher would preload, or says why there is none (exit 1)."""
  try:
    library = _chosen_library(os.environ, LIBRARY_DIRS)
  except ConfigError as err:
    print(f"error: {err}", file=sys.stderr)
    return 2
  if library is None:
    names = ", ".join(LIBRARY_NAMES)
    print(f"no tcmalloc: {ENV_SWITCH}=0, or none of {names} found", file=sys.stderr)
    return 1
  print(library)
  return 0


if __name__ == "__main__":
  sys.exit(main())
