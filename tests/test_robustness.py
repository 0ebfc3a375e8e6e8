"""Crash safety: killed or interrupted runs resume to bitwise the same parameters."""

import pytest
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np

from launch_util import REPO, SMOKE, launch_in_process
from sensegen import api

pytestmark = pytest.mark.heavy

# The alternating schedule covers both the D phase and the G phase. The launches cost
# start-up and compilation, not steps: smoke.flags' model, whose programs other tests of the
# session have compiled already (the suite's compilation cache), is cheaper than a smaller one.
FLAGS = (
  "--schedule=alternating",
  "--checkpoint_every=5",
  "--rounds=2",
  "--g_steps_per_round=8",
)


def _start(workdir):
  env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)}
  return subprocess.Popen(
    [
      sys.executable,
      "-m",
      "sensegen.launch",
      f"--flagfile={SMOKE}",
      f"--workdir={workdir}",
      *FLAGS,
    ],
    env=env,
    cwd=REPO,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )


def _wait_for(predicate, proc, timeout=240):
  deadline = time.time() + timeout
  while not predicate():
    assert proc.poll() is None, "run ended before the kill point"
    assert time.time() < deadline, "kill point never reached"
    time.sleep(0.05)


def _checkpoints(workdir):
  d = workdir / "checkpoints"
  return sorted(int(p.name) for p in d.iterdir() if p.name.isdigit()) if d.exists() else []


def _params(workdir):
  return jax.tree.map(np.asarray, api.load(str(workdir)).params)


def _assert_bitwise_equal(a, b):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(x, y)


def test_kill_9_and_sigterm_then_resume_is_bitwise_identical(tmp_path, caplog):
  """One run is killed with SIGKILL during round 2's discriminator phase, the rerun is
  stopped by SIGTERM, and a third invocation finishes: the final parameters equal those
  of an uninterrupted run bit for bit. The uninterrupted and the last run are in this
  process (no start-up to pay); the signals go to real processes."""
  assert launch_in_process(f"--workdir={tmp_path / 'reference'}", *FLAGS) == 0
  _interrupt_twice(tmp_path / "interrupted")
  caplog.set_level("INFO")
  assert launch_in_process(f"--workdir={tmp_path / 'interrupted'}", *FLAGS) == 0
  assert "resumed from checkpoint" in caplog.text
  metrics = (tmp_path / "interrupted" / "metrics.jsonl").read_text().splitlines()
  steps = [json.loads(l)["step"] for l in metrics]
  assert steps == sorted(steps)  # rows are never rewritten or duplicated
  assert [json.loads(l)["round"] for l in metrics if "round" in json.loads(l)] == [1, 2]
  # The generators the runs sample with (`--select_generator`) are the same.
  assert api.load(str(tmp_path / "interrupted")).step == api.load(str(tmp_path / "reference")).step
  _assert_bitwise_equal(_params(tmp_path / "interrupted"), _params(tmp_path / "reference"))


def _interrupt_twice(tmp_path):
  """SIGKILL in round 2, then SIGTERM after the rerun's first checkpoint."""
  proc = _start(tmp_path)
  metrics = tmp_path / "metrics.jsonl"
  _wait_for(lambda: metrics.exists() and '"round": 2' in metrics.read_text(), proc)
  proc.kill()
  proc.wait()
  before = _checkpoints(tmp_path)
  assert before, "the kill came before any checkpoint"

  proc = _start(tmp_path)
  _wait_for(lambda: _checkpoints(tmp_path)[-1:] != before[-1:], proc)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert "resumed from checkpoint" in err
  assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
  assert "stopped by SIGTERM" in err and "rerun the same command" in err
  assert "Traceback" not in err
