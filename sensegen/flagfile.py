"""`--flagfile=NAME.flags` finds the flagfiles shipped in the package (`sensegen/flagfiles/`).

A path that exists (relative to the working directory, or absolute) is used as given; a bare
name, or the source tree's `launch/NAME.flags`, that does not exist there names a bundled
flagfile, with or without the `.flags` suffix. Only the command line's `--flagfile` arguments
are resolved; a `--flagfile` line inside a flagfile is read by absl as a path.
"""

import os
from typing import Optional, Sequence

from sensegen.errors import ConfigError

BUNDLED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flagfiles")
SUFFIX = ".flags"
# Where the source tree keeps them, as the README spells it; works outside a checkout too.
_SOURCE_TREE_DIR = "launch"
_DIRECTIVES = ("--flagfile", "-flagfile")


def bundled_names() -> list:
  """The shipped flagfiles' file names, sorted, e.g. `["har.flags", ...]`."""
  return sorted(n for n in os.listdir(BUNDLED_DIR) if n.endswith(SUFFIX))


def resolve(value: str, cwd: Optional[str] = None) -> str:
  """The path absl should open for `--flagfile=value`; ConfigError when there is none."""
  path = os.path.expanduser(value)
  if os.path.isfile(os.path.join(cwd or os.getcwd(), path)):
    return value
  folder, name = os.path.split(path)
  if folder in ("", _SOURCE_TREE_DIR):
    for candidate in (name, name + SUFFIX):
      if candidate in bundled_names():
        return os.path.join(BUNDLED_DIR, candidate)
  raise ConfigError(
    f"--flagfile={value}: no such file, and no bundled flagfile of that name "
    f"(bundled: {', '.join(bundled_names())})"
  )


def resolve_argv(argv: Sequence[str], cwd: Optional[str] = None) -> list:
  """`argv` with each command-line `--flagfile` value resolved; absl's spellings
  (`--flagfile=F`, `-flagfile=F`, `--flagfile F`), none after `--`."""
  out, i = list(argv[:1]), 1
  while i < len(argv):
    arg = argv[i]
    if arg == "--":
      return out + list(argv[i:])
    name, eq, value = arg.partition("=")
    if name in _DIRECTIVES and eq:
      arg = f"{name}={resolve(value, cwd)}"
    elif arg in _DIRECTIVES and i + 1 < len(argv):
      out.append(arg)
      i += 1
      arg = resolve(argv[i], cwd)
    out.append(arg)
    i += 1
  return out
