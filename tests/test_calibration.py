"""The weight-temperature fit against windows whose quiet share is known."""

import numpy as np
import pytest

from sensegen import calibration


def _windows(quiet_share: float, count: int = 400, length: int = 50, seed: int = 0):
  """`[count, length, 1]` white-noise windows: a `quiet_share` of them with std 0.05, the
  rest with std 1 (the same random numbers for every share)."""
  rng = np.random.default_rng(seed)
  scale = np.where(np.arange(count) < round(quiet_share * count), 0.05, 1.0)
  return rng.standard_normal((count, length, 1)) * scale[:, None, None]


def test_fit_finds_the_temperature_whose_quiet_share_matches():
  real = _windows(0.3, seed=1)
  # A generator that rests more as its weights sharpen: share 0.3 at weight temperature 0.9.
  draw = lambda wt: _windows(float(np.clip(0.3 - 2.0 * (wt - 0.9), 0.0, 1.0)))
  fit = calibration.fit_weight_temperature(draw, real)
  assert fit["weight_temperature"] == pytest.approx(0.9)
  tried = dict(fit["tried"])
  assert set(calibration.COARSE) <= set(tried)
  assert {0.85, 0.875, 0.925, 0.95} <= set(np.round(list(tried), 6))
  assert fit["window_std_ks"] == min(tried.values()) < tried[1.0]
  assert [wt for wt, _ in fit["tried"]] == sorted(tried)


def test_the_search_ends_one_finest_step_either_side_of_the_best():
  real = _windows(0.3, seed=1)
  # Share 0.3 at weight temperature 0.8625, between the 0.025 grid's points.
  draw = lambda wt: _windows(float(np.clip(0.3 - 4.0 * (wt - 0.8625), 0.0, 1.0)))
  fit = calibration.fit_weight_temperature(draw, real)
  assert fit["weight_temperature"] == pytest.approx(0.8625)
  assert {0.85, 0.8625, 0.875} <= set(np.round([wt for wt, _ in fit["tried"]], 6))


@pytest.mark.parametrize("target", [0.45, 1.6])
def test_the_search_steps_beyond_the_coarse_grid_while_its_edge_is_best(target):
  real = _windows(0.3, seed=1)
  draw = lambda wt: _windows(float(np.clip(0.3 - 0.5 * (wt - target), 0.0, 1.0)))
  fit = calibration.fit_weight_temperature(draw, real)
  # COARSE and FINE_STEPS alone stay within 0.6375-1.3625; near the target the windows' own
  # noise decides between neighbours.
  assert fit["weight_temperature"] == pytest.approx(target, abs=0.05)


def test_the_search_stops_at_the_range():
  real = _windows(0.3, seed=1)
  draw = lambda wt: _windows(float(np.clip(0.3 - 0.3 * (wt - 0.05), 0.0, 1.0)))
  fit = calibration.fit_weight_temperature(draw, real)
  assert fit["weight_temperature"] == calibration.RANGE[0]
  assert min(wt for wt, _ in fit["tried"]) == calibration.RANGE[0]


def test_ties_go_to_the_temperature_nearest_one():
  fit = calibration.fit_weight_temperature(lambda wt: _windows(0.3), _windows(0.3, seed=1))
  assert fit["weight_temperature"] == 1.0


def test_read_is_one_without_a_fit_and_the_written_value_after(tmp_path):
  assert calibration.read(str(tmp_path)) == 1.0
  calibration.write(str(tmp_path), {"weight_temperature": 0.875, "window_std_ks": 0.1, "tried": []})
  assert calibration.read(str(tmp_path)) == 0.875
