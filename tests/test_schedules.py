"""The trainer's host loop, in process, on a tiny file dataset."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensegen import schedules
from sensegen.config import Config


@pytest.fixture
def tiny_cfg(tmp_path):
  t = np.arange(2000, dtype=np.float32)
  np.savez(tmp_path / "sine.npz", x=np.sin(t / 5)[None, :, None])
  return Config(workdir=str(tmp_path / "run"), data=str(tmp_path / "sine.npz"), lstm_layers=1,
                lstm_units=8, dense_units=8, mixtures=2, batch_size=4, bptt_steps=10,
                train_steps=40, window=20, eval_windows=4, log_every=5, eval_every=20,
                checkpoint_every=10, max_bad_steps=3)


def test_consecutive_nonfinite_steps_stop_the_run_with_the_last_good_checkpoint(tiny_cfg):
  trainer = schedules.prepare(tiny_cfg)
  good_step = trainer.g_step
  calls = []

  def failing_after_12(ts, rnn, batch):
    calls.append(1)
    ts, rnn, m = good_step(ts, rnn, batch)
    if len(calls) > 12:  # From step 13 on, every step is non-finite and not applied.
      m = {**m, "finite": jnp.asarray(False)}
    return ts, rnn, m

  trainer.g_step = failing_after_12
  with pytest.raises(schedules.TrainingStopped, match="3 consecutive generator steps"):
    trainer.run()
  # The step counter of the last checkpoint (step 10) is before any bad step.
  fresh = schedules.prepare(tiny_cfg)
  state, meta = fresh.restore_or_init()
  assert meta["step"] == 10 and int(state["g"].step) == 10


def test_interrupt_flag_saves_a_resumable_checkpoint(tiny_cfg):
  trainer = schedules.prepare(tiny_cfg)
  original = trainer.g_step

  def stop_at_7(ts, rnn, batch):
    out = original(ts, rnn, batch)
    if int(out[0].step) == 7:
      trainer.stop.signal = 15
    return out

  trainer.g_step = stop_at_7
  assert not trainer.run()
  _, meta = schedules.prepare(tiny_cfg).restore_or_init()
  assert meta["step"] == 7
  resumed = schedules.prepare(tiny_cfg)
  assert resumed.run()
  _, meta = schedules.prepare(tiny_cfg).restore_or_init()
  assert meta["step"] == 40
