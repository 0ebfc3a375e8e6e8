import dataclasses
import os
import shutil

import jax
import numpy as np
import pytest

from sensegen import checkpoint
from sensegen import experiment
from tiny_config import TINY


def _state(seed=0):
  return experiment.init_state(dataclasses.replace(TINY, seed=seed), 1).tree()


def _equal(a, b):
  la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(la) == len(lb)
  for x, y in zip(la, lb):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_round_trip_of_train_states_and_meta(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=2)
  state = _state(0)
  state["rnn"] = state["rnn"] + 0.5
  meta = {"step": 7, "streams": {"session": [1, 2], "offset": [3, 4]}}
  ckpt.save(1, state, meta)
  step, restored, got_meta = ckpt.restore_latest(_state(1))
  assert step == 1 and got_meta == meta
  _equal(restored, state)
  assert type(restored["g"]) is type(state["g"])


def test_keeps_latest_n(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=2)
  for i in range(1, 5):
    ckpt.save(i, _state(), {"step": i})
  assert ckpt.steps() == [3, 4]


def test_ids_by_step_names_the_newest_save_of_each_training_step(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=5)
  for i, step in enumerate([10, 20, 20, 30], start=1):  # A round's end and a periodic save.
    ckpt.save(i, _state(), {"step": step})
  assert ckpt.ids_by_step() == {10: 1, 20: 3, 30: 4}


def test_empty_directory_restores_nothing(tmp_path):
  assert checkpoint.Checkpointer(str(tmp_path / "ck")).restore_latest(_state()) is None


def _damage_largest_file(directory):
  files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
  victim = max(files, key=os.path.getsize)
  with open(victim, "r+b") as f:
    f.truncate(os.path.getsize(victim) // 3)


def test_damaged_latest_falls_back_to_previous(tmp_path, caplog):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=3)
  good = _state(0)
  ckpt.save(1, good, {"step": 1})
  ckpt.save(2, _state(5), {"step": 2})
  _damage_largest_file(tmp_path / "ck" / "2")
  step, restored, meta = checkpoint.Checkpointer(str(tmp_path / "ck")).restore_latest(_state(9))
  assert step == 1 and meta == {"step": 1}
  _equal(restored, good)
  assert "damaged" in caplog.text


def test_all_damaged_is_an_error_not_a_fresh_start(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"))
  ckpt.save(1, _state(), {"step": 1})
  _damage_largest_file(tmp_path / "ck" / "1")
  with pytest.raises(checkpoint.CheckpointError):
    checkpoint.Checkpointer(str(tmp_path / "ck")).restore_latest(_state())


def test_missing_directory_entry_falls_back_to_previous(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=3)
  good = _state(0)
  ckpt.save(1, good, {"step": 1})
  ckpt.save(2, _state(5), {"step": 2})
  shutil.rmtree(tmp_path / "ck" / "2" / "state")
  step, restored, _ = checkpoint.Checkpointer(str(tmp_path / "ck")).restore_latest(_state(9))
  assert step == 1
  _equal(restored, good)
