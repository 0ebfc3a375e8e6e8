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

from launch_util import REPO, SMOKE
from sensegen import api

pytestmark = pytest.mark.heavy

# The alternating schedule covers both the D phase and the G phase.
# The smallest model: the launches cost start-up and compilation, not steps.
FLAGS = (
  "--schedule=alternating",
  "--checkpoint_every=5",
  "--rounds=3",
  "--g_steps_per_round=8",
  "--lstm_layers=1",
  "--lstm_units=8",
  "--mixtures=2",
)


def _start(workdir, output=subprocess.PIPE):
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
    stdout=output,
    stderr=output,
    text=True,
  )


def _finish(workdir):
  proc = _start(workdir)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 0, err[-3000:]
  return err


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


def test_kill_9_and_sigterm_then_resume_is_bitwise_identical(tmp_path):
  """One run is killed with SIGKILL during round 2's discriminator phase, the rerun is
  stopped by SIGTERM, and the third invocation finishes: the final parameters equal
  those of an uninterrupted run (started alongside, to save time) bit for bit."""
  with open(tmp_path / "reference.log", "w") as log:
    uninterrupted = _start(tmp_path / "reference", output=log)
    try:
      _interrupt_twice_then_finish(tmp_path / "interrupted")
      assert uninterrupted.wait(timeout=300) == 0, (tmp_path / "reference.log").read_text()[-3000:]
    finally:
      uninterrupted.kill()
  _assert_bitwise_equal(_params(tmp_path / "interrupted"), _params(tmp_path / "reference"))


def _interrupt_twice_then_finish(tmp_path):
  """SIGKILL in round 2, SIGTERM after the next checkpoint, then a run to the end."""
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

  err = _finish(tmp_path)
  assert "resumed from checkpoint" in err
  steps = [json.loads(l)["step"] for l in metrics.read_text().splitlines()]
  assert steps == sorted(steps)  # rows are never rewritten or duplicated
  rounds = [
    json.loads(l)["round"] for l in metrics.read_text().splitlines() if "round" in json.loads(l)
  ]
  assert rounds == [1, 2, 3]
