"""The user's surface: bundled flagfiles, the `sensegen` command, a quiet terminal."""

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from launch_util import REPO
from sensegen import flagfile
from sensegen import launch as launch_lib
from sensegen import terminal
from sensegen.errors import ConfigError

# The design card's command at a size that finishes in seconds: every size flag of
# har.flags overridden with launch/smoke.flags' values (so that the programs compiled for
# the suite's smoke runs can serve it from the compilation cache), its Algorithm 1 replaced
# by plain NLL training.
TINY = (
  "--schedule=nll",
  "--lstm_layers=2",
  "--lstm_units=16",
  "--dense_units=16",
  "--mixtures=4",
  "--batch_size=4",
  "--bptt_steps=20",
  "--train_steps=6",
  "--log_every=3",
  "--eval_every=3",
  "--checkpoint_every=3",
  "--window=50",
  "--eval_windows=8",
  "--calibration_windows=0",  # no sampling fit: not what these tests are about
  "--lstm_impl=scan",
  "--burn_in=100",
  "--learning_rate=0.005",
  "--nofigures",
)
PROGRESS = re.compile(r"^step \d+/\d+ .* [\d.]+ steps/s +ETA \d+m\d\ds$")
SOURCES = ("setup.cfg", "pyproject.toml", "README.md", "sensegen", "data_prep")


def run_cli(args, cwd, timeout=300):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  return subprocess.run(
    [sys.executable, "-m", "sensegen.launch", *args],
    cwd=cwd,
    env=env,
    capture_output=True,
    text=True,
    timeout=timeout,
  )


# --- flagfile lookup ----------------------------------------------------------


def test_launch_dir_links_to_the_bundled_flagfiles():
  names = flagfile.bundled_names()
  assert {"har.flags", "har_quick.flags", "smoke.flags"} <= set(names)
  assert sorted(os.listdir(REPO / "launch")) == names
  for name in names:  # One source of truth: launch/ holds links, not copies.
    assert (REPO / "launch" / name).is_symlink()
    assert os.path.samefile(REPO / "launch" / name, os.path.join(flagfile.BUNDLED_DIR, name))


@pytest.mark.parametrize("value", ["har.flags", "har", "launch/har.flags"])
def test_bundled_flagfile_found_by_name(tmp_path, value):
  assert flagfile.resolve(value, cwd=str(tmp_path)) == os.path.join(
    flagfile.BUNDLED_DIR, "har.flags"
  )


def test_file_in_working_directory_wins(tmp_path):
  (tmp_path / "har.flags").write_text("--lstm_units=3\n")
  assert flagfile.resolve("har.flags", cwd=str(tmp_path)) == "har.flags"
  (tmp_path / "launch").mkdir()
  (tmp_path / "launch" / "smoke.flags").write_text("--lstm_units=3\n")
  assert flagfile.resolve("launch/smoke.flags", cwd=str(tmp_path)) == "launch/smoke.flags"


def test_unknown_flagfile_names_it_and_lists_the_bundled_ones(tmp_path):
  with pytest.raises(ConfigError) as err:
    flagfile.resolve("nope.flags", cwd=str(tmp_path))
  message = str(err.value)
  assert "\n" not in message and message.startswith("--flagfile=nope.flags: ")
  assert "har.flags, har_adv_quick.flags" in message and "smoke.flags" in message
  with pytest.raises(ConfigError):  # A missing path in another folder falls back to nothing.
    flagfile.resolve("configs/har.flags", cwd=str(tmp_path))


def test_resolve_argv_rewrites_each_command_line_flagfile(tmp_path):
  bundled = lambda n: os.path.join(flagfile.BUNDLED_DIR, n)
  argv = [
    "prog",
    "--flagfile=smoke",
    "--lstm_units=3",
    "-flagfile=har.flags",
    "--flagfile",
    "har_quick.flags",
    "--",
    "--flagfile=nope",
  ]
  assert flagfile.resolve_argv(argv, cwd=str(tmp_path)) == [
    "prog",
    f"--flagfile={bundled('smoke.flags')}",
    "--lstm_units=3",
    f"-flagfile={bundled('har.flags')}",
    "--flagfile",
    bundled("har_quick.flags"),
    "--",
    "--flagfile=nope",
  ]


def test_launcher_reads_a_bundled_flagfile_from_any_directory(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  launch_lib.FLAGS.unparse_flags()
  try:
    launch_lib._parse(["sensegen", "--flagfile=har_quick.flags"])  # pylint: disable=protected-access
    with open(os.path.join(flagfile.BUNDLED_DIR, "har_quick.flags")) as f:
      written = dict(line.strip()[2:].split("=", 1) for line in f if line.startswith("--"))
    assert str(launch_lib.FLAGS.lstm_units) == written["lstm_units"]
    assert launch_lib.FLAGS.schedule == written["schedule"]
  finally:
    launch_lib.FLAGS.unparse_flags()


def test_launcher_unknown_flagfile_one_line_exit_2(tmp_path, monkeypatch, capsys):
  monkeypatch.chdir(tmp_path)
  launch_lib.FLAGS.unparse_flags()
  try:
    with pytest.raises(SystemExit) as exit_:
      launch_lib._parse(["sensegen", "--flagfile=harr.flags"])  # pylint: disable=protected-access
  finally:
    launch_lib.FLAGS.unparse_flags()
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert len(err.splitlines()) == 1 and err.startswith("error: --flagfile=harr.flags: ")


# --- the terminal -------------------------------------------------------------


def _record(path, level=logging.INFO):
  return logging.LogRecord("absl", level, path, 1, "message", None, None)


def test_filter_keeps_own_lines_and_warnings_even_in_a_tree_named_sensegen():
  own = os.path.join(os.path.dirname(terminal.__file__), "train", "loop.py")
  # A checkout named sensegen with its virtual environment inside: the old substring test
  # let every Orbax line through.
  orbax = "/home/u/sensegen/.venv/lib/python3.11/site-packages/orbax/checkpoint/manager.py"
  handler = logging.StreamHandler()
  try:
    terminal.configure(handler, verbosity=0)
    assert handler.filter(_record(own))
    assert not handler.filter(_record(orbax))
    assert handler.filter(_record(orbax, logging.WARNING))
    terminal.configure(handler, verbosity=1)
    assert handler.filter(_record(orbax))
  finally:
    handler.close()


@pytest.fixture(scope="module")
def design_card_run(tmp_path_factory):
  """`python -m sensegen.launch --flagfile=har.flags --workdir=...` from a directory that
  holds no flagfile, with the size flags of TINY."""
  elsewhere = tmp_path_factory.mktemp("elsewhere")
  workdir = elsewhere / "run"
  result = run_cli(["--flagfile=har.flags", f"--workdir={workdir}", *TINY], cwd=elsewhere)
  assert result.returncode == 0, result.stderr[-3000:]
  return workdir, result.stderr


@pytest.mark.heavy
@pytest.mark.xdist_group("cli_design_card")
def test_design_card_command_runs_from_another_directory(design_card_run):
  workdir, _ = design_card_run
  config = (workdir / "config.json").read_text()
  assert '"rounds": 200' in config and '"lstm_units": 16' in config  # har.flags, then TINY
  assert (workdir / "metrics.jsonl").is_file()


@pytest.mark.heavy
@pytest.mark.xdist_group("cli_design_card")
def test_default_terminal_shows_own_lines_and_no_library_info(design_card_run):
  workdir, stderr = design_card_run
  lines = stderr.splitlines()
  assert [l for l in lines if PROGRESS.match(l)], stderr[-3000:]
  for own in (
    "JAX backend: cpu",
    "data: ",
    "generator: ",
    "eval_nll",
    f"training finished; outputs in {workdir}",
  ):
    assert any(own in l for l in lines), own
  for theirs in ("[process=", "rbax", "Unable to initialize backend", "dataset info"):
    assert not any(theirs in l for l in lines), (theirs, stderr[-3000:])


@pytest.mark.heavy
@pytest.mark.xdist_group("cli_design_card")
def test_verbosity_1_brings_back_library_info_lines(design_card_run, tmp_path):
  workdir, _ = design_card_run
  sample = ["--mode=sample", "--num_samples=1", "--sample_length=5", "--burn_in=0"]
  result = run_cli(
    [f"--workdir={workdir}", *sample, f"--output={tmp_path / 's.npz'}", "--verbosity=1"],
    cwd=tmp_path,
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert "[process=0]" in result.stderr and "checkpoint_manager.py" in result.stderr


@pytest.mark.heavy
def test_training_splits_the_batch_over_the_cpu_devices_it_is_asked_for(tmp_path):
  workdir = tmp_path / "run"
  split = ["--batch_size=32", "--cpu_devices=2", "--schedule=nll"]
  result = run_cli(["--flagfile=har_quick.flags", f"--workdir={workdir}", *TINY, *split], tmp_path)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "the batch is split over 2 CPU devices, 16 rows each" in result.stderr
  assert "JAX backend: cpu, 2 device(s)" in result.stderr
  rows = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()]
  assert np.isfinite([r["train_nll"] for r in rows if "train_nll" in r]).all()


# --- the installed package ----------------------------------------------------


def test_wheel_ships_flagfiles_and_the_console_command(tmp_path):
  source = tmp_path / "src"  # A copy: building writes build/ and *.egg-info beside setup.cfg.
  source.mkdir()
  for name in SOURCES:
    if (REPO / name).is_dir():
      shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    else:
      shutil.copy(REPO / name, source / name)
  pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
  subprocess.run(
    [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)],
    check=True,
    timeout=300,
  )
  (wheel,) = tmp_path.glob("sensegen-*.whl")
  with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    entry_points = zf.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
  assert (
    sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("sensegen/flagfiles/"))
    == flagfile.bundled_names()
  )
  assert re.search(r"^sensegen = sensegen\.launch:run$", entry_points, re.M)
  # Installed from the wheel, the command runs from anywhere and knows the bundled names.
  target = tmp_path / "installed"
  subprocess.run(
    [*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
    check=True,
    timeout=300,
  )
  env = {**os.environ, "PYTHONPATH": str(target)}
  result = subprocess.run(
    [str(target / "bin" / "sensegen"), "--flagfile=nope.flags"],
    cwd=tmp_path,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )
  assert result.returncode == 2, result.stderr[-3000:]
  assert result.stderr.startswith("error: --flagfile=nope.flags: ")
  assert "har.flags" in result.stderr and "Traceback" not in result.stderr


def test_notebook_starts_with_a_guarded_install():
  """The quickstart opens on Colab: its first code cell installs sensegen only when it is
  not importable (tests/test_notebook.py runs it, where it is a no-op)."""
  import nbformat

  nb = nbformat.read(REPO / "notebooks" / "quickstart.ipynb", as_version=4)
  first = next(c for c in nb.cells if c.cell_type == "code").source
  assert first.count("SENSEGEN_SOURCE = ") == 1
  guarded = first.split("try:\n", 1)[1]
  assert guarded.startswith("  import sensegen\nexcept ImportError:\n  %pip install ")
  assert "{SENSEGEN_SOURCE}" in guarded
