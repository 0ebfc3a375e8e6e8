"""Re-executing under tcmalloc: finding the library, the environment, the opt-out, no double
preload, and the real re-execution of a command and of the launcher."""

import os
import subprocess
import sys

import pytest

from launch_util import REPO
from sensegen import allocator
from sensegen.errors import ConfigError

_GUARD = allocator._GUARD  # pylint: disable=protected-access


def _lib(directory, name="libtcmalloc_minimal.so.4"):
  directory.mkdir(parents=True, exist_ok=True)
  path = directory / name
  path.write_bytes(b"")
  return str(path)


def _clean_env(**extra):
  """This process's environment without any allocator setting, plus `extra`."""
  drop = {"LD_PRELOAD", allocator.ENV_SWITCH, _GUARD}
  env = {k: v for k, v in os.environ.items() if k not in drop}
  return {**env, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO), **extra}


def test_find_library_prefers_the_minimal_library_and_says_none_when_absent(tmp_path):
  full = _lib(tmp_path / "a", "libtcmalloc.so.4")
  minimal = _lib(tmp_path / "b")
  dirs = [str(tmp_path / "a"), str(tmp_path / "b")]
  assert allocator.find_library(dirs) == minimal
  assert allocator.find_library(dirs[:1]) == full
  assert allocator.find_library([str(tmp_path / "empty")]) is None


def test_reexec_env_puts_tcmalloc_first_and_sets_the_guard(tmp_path):
  library = _lib(tmp_path)
  env = {"PATH": "/bin", "LD_PRELOAD": "/opt/libother.so"}
  new = allocator.reexec_env(env, [str(tmp_path)])
  assert new == {"PATH": "/bin", "LD_PRELOAD": f"{library}:/opt/libother.so", _GUARD: library}
  assert env == {"PATH": "/bin", "LD_PRELOAD": "/opt/libother.so"}  # not modified
  assert allocator.reexec_env({}, [str(tmp_path)])["LD_PRELOAD"] == library


def test_nothing_to_do_without_the_library_or_when_turned_off(tmp_path):
  assert allocator.reexec_env({}, [str(tmp_path)]) is None
  _lib(tmp_path)
  assert allocator.reexec_env({allocator.ENV_SWITCH: "0"}, [str(tmp_path)]) is None


@pytest.mark.parametrize(
  "preload", ["/usr/lib/libtcmalloc_minimal.so.4", "/a/libx.so /usr/lib/libtcmalloc.so.4"]
)
def test_an_existing_tcmalloc_preload_is_not_doubled(tmp_path, preload):
  _lib(tmp_path)
  assert allocator.is_preloaded(preload)
  assert allocator.reexec_env({"LD_PRELOAD": preload}, [str(tmp_path)]) is None


def test_the_reexecuted_process_never_reexecutes_again(tmp_path):
  _lib(tmp_path)
  assert allocator.reexec_env({_GUARD: "/x/libtcmalloc.so.4"}, [str(tmp_path)]) is None


def test_an_explicit_library_is_used_and_a_missing_one_is_a_one_line_error(tmp_path):
  library = _lib(tmp_path / "elsewhere")
  env = allocator.reexec_env({allocator.ENV_SWITCH: library}, [])
  assert env["LD_PRELOAD"] == library
  with pytest.raises(ConfigError, match=r"^SENSEGEN_TCMALLOC=/nope: no such file"):
    allocator.reexec_env({allocator.ENV_SWITCH: "/nope"}, [])


def test_loaded_reads_the_process_maps(tmp_path):
  maps = tmp_path / "maps"
  maps.write_text("7f00 r-xp /usr/lib/x86_64-linux-gnu/libc.so.6\n")
  assert allocator.loaded(str(maps)) == "glibc"
  maps.write_text(maps.read_text() + "7f01 r-xp /usr/lib/libtcmalloc_minimal.so.4\n")
  assert allocator.loaded(str(maps)) == "tcmalloc"
  assert allocator.loaded(str(tmp_path / "none")) == "unknown"


def test_a_command_reexecutes_once_with_the_same_arguments(tmp_path):
  """A stand-in library (ld.so ignores it with a message): one re-execution, same argv."""
  library = _lib(tmp_path)
  code = "import os, sys; from sensegen import allocator; allocator.reexec_under_tcmalloc(); "
  code += "print(os.environ['LD_PRELOAD'], sys.argv[1:])"
  result = subprocess.run(
    [sys.executable, "-c", code, "arg"],
    env=_clean_env(**{allocator.ENV_SWITCH: library}),
    capture_output=True,
    text=True,
    timeout=60,
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout == f"{library} ['arg']\n"
  assert result.stderr.count("sensegen: running under tcmalloc") == 1


def test_launcher_runs_under_tcmalloc_where_installed(tmp_path):
  """The launcher re-executes after its flags check out; with no tcmalloc on this machine it
  runs as before. Either way a bad --workdir still ends in its one error line."""
  result = subprocess.run(
    [sys.executable, "-m", "sensegen.launch", "--mode=sample", f"--workdir={tmp_path}"],
    env=_clean_env(),
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )
  error = f"error: {tmp_path}/config.json not found: --workdir must be a trained run directory"
  library = allocator.find_library()
  said = [f"sensegen: running under tcmalloc ({library}); SENSEGEN_TCMALLOC=0 turns it off"]
  assert result.returncode == 2
  assert result.stderr.splitlines() == (said if library else []) + [error]
