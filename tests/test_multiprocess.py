"""Two training processes on localhost (`sensegen.launch_local`, gloo collectives) against
one process with the same global batch.

One 2-process run, shared by the tests (one worker runs it): it resumes a copy of a
1-process run cut back to that run's step-2 checkpoint (what a kill after that checkpoint
leaves on disk) and trains to step 4; one process then resumes its step-4 checkpoint and
trains to step 6. Both must follow the uninterrupted 1-process run to float tolerance
(bitwise equality after a kill is tested within one process count: tests/test_robustness.py).
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
  "--checkpoint_every=2",
  "--keep_checkpoints=5",
  "--log_every=2",
  "--eval_every=2",
  "--lstm_layers=1",
  "--lstm_units=8",
  "--dense_units=8",
  "--mixtures=2",
  "--burn_in=10",
)


def _launch_local(workdir, *flags, timeout=240):
  """`python -m sensegen.launch_local --processes=2 -- ...`; (exit code, stderr)."""
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  argv = ["--processes=2", "--", f"--flagfile={SMOKE}", f"--workdir={workdir}", *FLAGS, *flags]
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


def _params(workdir, kept: bool = False):
  """The generator of the run's latest checkpoint: the one it trained last, or with `kept`
  the one it kept for sampling (`--select_generator`: a resumed run that fits again at its
  new end may keep its earlier end's generator)."""
  if kept:
    return jax.tree.map(np.asarray, api.load(str(workdir)).params)
  latest = max(int(p.name) for p in (workdir / "checkpoints").iterdir() if p.name.isdigit())
  return jax.tree.map(np.asarray, api.load(str(workdir), checkpoint=latest).params)


def _cut(src, dst, step: int):
  """A copy of run `src` as a kill right after its checkpoint at `step` leaves it (one
  checkpoint every 2 steps: ids count saves)."""
  shutil.copytree(src, dst)
  for later in (dst / "checkpoints").iterdir():
    if later.name.isdigit() and int(later.name) > step // 2:
      shutil.rmtree(later)
  rows = (dst / "metrics.jsonl").read_text().splitlines(keepends=True)
  (dst / "metrics.jsonl").write_text("".join(r for r in rows if json.loads(r)["step"] <= step))
  return dst


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """(root, stderr of the 2-process run); root holds `one` (1 process, 6 steps), `one_at_4`
  (its copy cut back to step 4) and `two` (2 processes, steps 3-4)."""
  root = tmp_path_factory.mktemp("multiprocess")
  assert launch_in_process(f"--workdir={root / 'one'}", *FLAGS, "--train_steps=6") == 0
  _cut(root / "one", root / "one_at_4", 4)
  two = _cut(root / "one", root / "two", 2)
  for written_at_the_end in ("tensorboard", "traces.png"):  # The 2-process run must write them.
    shutil.rmtree(two / written_at_the_end, ignore_errors=True)
    (two / written_at_the_end).unlink(missing_ok=True)
  code, err = _launch_local(root / "two", "--train_steps=4", "--figures")
  assert code == 0, err[-3000:]
  return root, err


def _assert_close(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_two_processes_resume_a_one_process_run_and_train_like_it(runs):
  root, err = runs
  assert "2 device(s)" in err and "Traceback" not in err
  assert "resumed from checkpoint at step 2" in err
  _assert_close(_params(root / "two"), _params(root / "one_at_4"))
  # Its end-of-training fit kept (copied) the generator of step 4 across both processes.
  _assert_close(_params(root / "two", kept=True), _params(root / "one_at_4"))
  one, two = (metrics.read_rows(str(root / d / "metrics.jsonl")) for d in ("one", "two"))
  one = [r for r in one if r["step"] <= 4]
  assert [r["step"] for r in two] == [r["step"] for r in one]  # Process 0 alone wrote them.
  np.testing.assert_allclose(
    [r.get("train_nll", 0) for r in two], [r.get("train_nll", 0) for r in one], rtol=1e-4
  )
  assert (root / "two" / "tensorboard").is_dir() and (root / "two" / "traces.png").is_file()
  saved = json.loads((root / "two" / "config.json").read_text())
  assert saved["batch_size"] == 4  # The global batch: 2 rows per process.


def test_two_process_checkpoint_resumes_in_one_process(runs, caplog):
  root, _ = runs
  caplog.set_level("INFO")
  assert launch_in_process(f"--workdir={root / 'two'}", *FLAGS, "--train_steps=6") == 0
  assert "resumed from checkpoint at step 4" in caplog.text
  _assert_close(_params(root / "two"), _params(root / "one"))


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
