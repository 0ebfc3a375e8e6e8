"""Two training processes on localhost (`sensegen.launch_local`, gloo collectives) against
one process with the same global batch.

Two 2-process runs in all, shared by the tests (one worker runs them: ~60 s on 2 cores):
an uninterrupted one, and a rerun of its run directory cut back to its first checkpoint
(what a kill of both processes after that checkpoint leaves on disk). Four steps, a
checkpoint every two: the smallest run with a checkpoint and steps after resuming from it.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from launch_util import REPO, SMOKE, launch_in_process
from sensegen import api
from sensegen import launch_local
from sensegen import metrics

pytestmark = [pytest.mark.xdist_group("multiprocess"), pytest.mark.heavy]

# The smallest model and sampling: the launches cost start-up and compilation, not steps.
FLAGS = (
  "--train_steps=4",
  "--checkpoint_every=2",
  "--log_every=2",
  "--eval_every=4",
  "--lstm_layers=1",
  "--lstm_units=8",
  "--dense_units=8",
  "--mixtures=2",
  "--burn_in=10",
)
RESUMED = "resumed from checkpoint at step 2"


def _launch_local(workdir, timeout=240):
  """`python -m sensegen.launch_local --processes=2 -- ...`; (exit code, stderr)."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  argv = ["--processes=2", "--", f"--flagfile={SMOKE}", f"--workdir={workdir}", *FLAGS]
  proc = subprocess.Popen(
    [sys.executable, "-m", "sensegen.launch_local", *argv],
    env=env,
    cwd=REPO,
    stderr=subprocess.PIPE,
    text=True,
    start_new_session=True,  # Its own process group: a timeout kills the job's processes too.
  )
  try:
    _, err = proc.communicate(timeout=timeout)
  finally:
    if proc.poll() is None:
      os.killpg(proc.pid, signal.SIGKILL)
      proc.wait()
  return proc.returncode, err


def _params(workdir):
  return jax.tree.map(np.asarray, api.load(str(workdir)).params)


def _cut_to_first_checkpoint(src, dst):
  """A copy of run `src` as a kill after its first checkpoint leaves it."""
  shutil.copytree(src, dst)
  saved = sorted(int(p.name) for p in (dst / "checkpoints").iterdir() if p.name.isdigit())
  for step in saved[1:]:
    shutil.rmtree(dst / "checkpoints" / str(step))
  return dst


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  root = tmp_path_factory.mktemp("multiprocess")
  code, err = _launch_local(root / "two")
  assert code == 0, err[-3000:]
  _cut_to_first_checkpoint(root / "two", root / "resumed_as_one")
  killed = _cut_to_first_checkpoint(root / "two", root / "killed")
  code, resumed_err = _launch_local(killed)
  assert code == 0, resumed_err[-3000:]
  return root, err, resumed_err, _params(root / "two")


def _assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_two_processes_train_like_one_with_the_same_global_batch(runs, tmp_path):
  root, err, _, two = runs
  assert launch_in_process(f"--workdir={tmp_path}", *FLAGS) == 0
  _assert_close(two, _params(tmp_path))
  one, two = (metrics.read_rows(str(d / "metrics.jsonl")) for d in (tmp_path, root / "two"))
  assert [r["step"] for r in two] == [r["step"] for r in one]  # Process 0 alone wrote them.
  np.testing.assert_allclose(
    [r.get("train_nll", 0) for r in two], [r.get("train_nll", 0) for r in one], rtol=1e-4
  )
  assert "2 device(s)" in err and "Traceback" not in err
  assert (root / "two" / "tensorboard").is_dir() and (root / "two" / "traces.png").is_file()


def test_rerun_after_a_kill_equals_the_uninterrupted_run(runs):
  root, _, resumed_err, two = runs
  assert RESUMED in resumed_err
  for x, y in zip(jax.tree.leaves(_params(root / "killed")), jax.tree.leaves(two)):
    np.testing.assert_array_equal(x, y)


def test_two_process_checkpoint_resumes_in_one_process(runs, caplog):
  root, _, _, two = runs
  caplog.set_level("INFO")
  assert launch_in_process(f"--workdir={root / 'resumed_as_one'}", *FLAGS) == 0
  assert RESUMED in caplog.text
  _assert_close(_params(root / "resumed_as_one"), two)
  saved = json.loads((root / "two" / "config.json").read_text())
  assert saved["batch_size"] == 4  # The global batch: 2 rows per process.


@pytest.mark.parametrize(
  "argv, culprit",
  [
    (["--", "--workdir=x"], "expected --processes=N"),
    (["--processes=0", "--", "--workdir=x"], "--processes=0"),
    (["--processes=2", "--workdir=x"], "missing '--'"),
  ],
)
def test_launcher_usage_errors_are_one_line_exit_2(argv, culprit, capsys):
  with pytest.raises(SystemExit) as exit_:
    launch_local.main(argv)
  assert exit_.value.code == 2
  err = capsys.readouterr().err
  assert culprit in err and len(err.strip().splitlines()) == 1
