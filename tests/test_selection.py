"""`train.selection`: which generator a run keeps, and that checkpoints carry it."""

import dataclasses

import jax
import numpy as np

from sensegen import checkpoint
from sensegen import experiment
from sensegen.train import selection
from sensegen.train.position import Position
from tiny_config import TINY

BEST_FIT = dataclasses.replace(TINY, select_generator="best_fit")


def _fit(ks, wt=1.0):
  return {"weight_temperature": wt, "window_std_ks": ks, "tried": [[wt, ks]]}


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _shift(state, by):
  """Stands in for training: new generator params."""
  g = state.g.replace(params=jax.tree.map(lambda p: p + by, state.g.params))
  return dataclasses.replace(state, g=g)


def test_keeps_the_params_of_the_lowest_ks_and_ties_keep_the_earlier():
  cfg = BEST_FIT
  state, position = experiment.init_state(cfg, 1), Position()
  kept_params = None
  for step, ks in [(0, 0.5), (10, 0.1), (20, 0.1), (30, 0.3)]:
    state, position.step = _shift(state, 1.0), step
    if selection.consider(cfg, state, position, _fit(ks, wt=0.8 + step / 100)):
      kept_params = _leaves(state.g.params)
  assert position.best == {"step": 10, **_fit(0.1, wt=0.9)}
  for got, want in zip(_leaves(selection.params(state)), kept_params):
    np.testing.assert_array_equal(got, want)
  # A copy, not the live buffers, which the generator step donates.
  live = jax.tree.leaves(state.g.params)
  assert all(a is not b for a, b in zip(jax.tree.leaves(state.best), live))
  record = selection.sampling_record(position, _fit(0.3))
  assert (record["step"], record["window_std_ks"], record["weight_temperature"]) == (10, 0.1, 0.9)
  assert (record["last_step"], record["last_window_std_ks"]) == (30, 0.3)


def test_last_keeps_nothing_and_samples_with_the_last_fit():
  cfg = dataclasses.replace(TINY, select_generator="last")
  state, position = experiment.init_state(cfg, 1), Position(step=7)
  assert not selection.consider(cfg, state, position, _fit(0.01))
  assert state.best is None and position.best == {}
  assert selection.params(state) is state.g.params
  assert selection.sampling_record(position, _fit(0.2, wt=0.9)) == {
    "step": 7,
    **_fit(0.2, wt=0.9),
    "last_step": 7,
    "last_window_std_ks": 0.2,
    "last_weight_temperature": 0.9,
  }


def test_nothing_fitted_keeps_nothing():
  state, position = experiment.init_state(TINY, 1), Position()
  assert not selection.consider(TINY, state, position, {})
  assert state.best is None


def test_checkpoint_restores_the_kept_generator_and_older_checkpoints_without_one(tmp_path):
  ckpt = checkpoint.Checkpointer(str(tmp_path / "ck"), keep=3)
  fresh = experiment.init_state(TINY, 1)
  old = experiment.init_state(dataclasses.replace(TINY, seed=1), 1)
  ckpt.save(1, old.tree(), {"step": 5})  # As runs without a kept generator wrote them.
  step, tree, meta = ckpt.restore_latest(fresh.like)
  assert (step, meta) == (1, {"step": 5}) and "best" not in tree

  state, position = _shift(old, 2.0), Position(step=9)
  selection.consider(BEST_FIT, state, position, _fit(0.2))
  state = _shift(state, 3.0)  # Trains on after the kept round.
  ckpt.save(2, state.tree(), {"step": 12, "best": position.best})
  step, tree, meta = ckpt.restore_latest(fresh.like)
  assert step == 2 and meta["best"]["step"] == 9
  restored = experiment.RunState.from_tree(tree)
  for got, want in zip(_leaves(restored.best), _leaves(_shift(old, 2.0).g.params)):
    np.testing.assert_array_equal(got, want)
  for got, want in zip(_leaves(restored.g.params), _leaves(state.g.params)):
    np.testing.assert_array_equal(got, want)


def test_best_judge_ranks_by_the_judge_score():
  cfg = dataclasses.replace(TINY, select_generator="best_judge")
  state, position = experiment.init_state(cfg, 1), Position()
  for step, ks, judge in [(0, 0.1, 0.4), (10, 0.3, 0.2), (20, 0.05, 0.25)]:
    position.step = step
    selection.consider(cfg, state, position, {**_fit(ks), "judge_score": judge})
  assert (position.best["step"], position.best["judge_score"]) == (10, 0.2)
  record = selection.sampling_record(position, {**_fit(0.05), "judge_score": 0.25})
  assert (record["step"], record["last_step"], record["last_judge_score"]) == (10, 20, 0.25)


def test_average_keeps_the_mean_of_the_generators_from_the_start_step_on():
  cfg = dataclasses.replace(TINY, select_generator="average", average_from=0.5)
  state, position = experiment.init_state(cfg, 1), Position()
  added = []
  for step in (0, 10, 20, 30, 40, 40):  # The end adds the last step once.
    state, position.step = _shift(state, float(step)), step
    if selection.add_to_average(cfg, state, position, 40):
      added.append(_leaves(state.g.params))
  assert len(added) == 3  # Steps 20, 30 and 40: from half of the 40 steps on.
  assert position.best == {"averaged_from": 20, "averaged": 3, "step": 40}
  assert selection.averaged(cfg, position)
  for got, *params in zip(_leaves(selection.params(state)), *added):
    np.testing.assert_allclose(got, np.mean(params, axis=0), rtol=1e-6, atol=1e-6)
  assert not selection.consider(cfg, state, position, _fit(0.01))  # Fits keep nothing.
  assert not selection.add_to_average(BEST_FIT, state, position, 40)  # Other criteria: no mean.
