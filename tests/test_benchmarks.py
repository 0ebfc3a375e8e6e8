"""Each benchmark script runs on a tiny model and prints one JSON line (no speed checks)."""

import dataclasses
import gzip
import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
import tiny_config
from launch_util import bench_module

from sensegen import api
from sensegen import calibration
from sensegen import models
from sensegen.checkpoint import Checkpointer
from sensegen.train import setup

# The shared fixture runs once: every test of this module on one worker.
pytestmark = [pytest.mark.xdist_group("benchmarks"), pytest.mark.heavy]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TINY = ["--layers", "1", "--units", "8", "--dense", "8", "--mixtures", "2", "--iters", "1"]
_RUNS = {
  "train_step.py": _TINY + ["--batch", "4", "--steps", "5", "--impl", "fused"],
  "sample.py": _TINY + ["--num", "2", "--length", "5"],
  "matmul_peak.py": ["--n", "64", "--iters", "2"],
  "train_phases.py": _TINY[:-2] + ["--batch", "4", "--steps", "5", "--iters", "2"],
  "train_profile.py": _TINY[:-2] + ["--batch", "4", "--steps", "5", "--iters", "2", "--top", "1"],
  "train_step.py --cpu_devices 2": _TINY + ["--batch", "4", "--steps", "5", "--cpu_devices", "2"],
  "split_stress.py": ["--steps", "20"],
}
_TIMING = {"compile_s", "median_s", "min_s", "iters"}


@pytest.fixture(scope="module")
def outputs():
  """Script name -> its parsed JSON line; the three run side by side to save time."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  procs = {
    name: subprocess.Popen(
      [sys.executable, os.path.join(_REPO, "benchmarks", name.split()[0]), *args],
      env=env,
      cwd="/",
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
    )
    for name, args in _RUNS.items()
  }
  results = {}
  for name, proc in procs.items():
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    results[name] = json.loads(lines[0])
  return results


def test_train_step_json(outputs):
  r = outputs["train_step.py"]
  assert _TIMING | {"timesteps_per_s", "achieved_gflops", "batch", "T", "impl", "units"} <= set(r)
  assert (r["batch"], r["T"], r["impl"], r["layers"], r["units"]) == (4, 5, "fused", 1, 8)
  assert r["timesteps_per_s"] > 0 and r["achieved_gflops"] > 0
  assert len(r["wall_s"]) == r["iters"] and min(r["wall_s"]) == r["min_s"]


def test_sample_json(outputs):
  r = outputs["sample.py"]
  assert _TIMING | {"samples_per_s", "num", "length"} <= set(r)
  assert (r["num"], r["length"]) == (2, 5) and r["samples_per_s"] > 0


def test_matmul_peak_json(outputs):
  r = outputs["matmul_peak.py"]
  assert {"gflops", "best_gflops", "n"} <= set(r) and r["gflops"] > 0


def test_train_phases_json(outputs):
  r = outputs["train_phases.py"]
  assert (r["framework"], r["batch"], r["T"], r["units"]) == ("jax", 4, 5, 8)
  assert min(r["forward_ms"], r["forward_backward_ms"], r["step_ms"]) > 0
  assert r["cpu"]


def test_train_profile_json(outputs):
  r = outputs["train_profile.py"]
  assert (r["batch"], r["T"], r["impl"]) == (4, 5, "fused")
  assert r["op"] and not r["op"].startswith("$")
  assert r["ms_per_step"] > 0 and r["calls_per_step"] > 0


def test_train_profile_sums_each_op_per_step(tmp_path):
  """`per_op_ms` adds up the complete events of each op in a Perfetto trace, per train
  step, and leaves out Python frames and other event kinds."""
  events = [
    {"ph": "X", "name": "dot", "dur": 3000},
    {"ph": "X", "name": "dot", "dur": 1000},
    {"ph": "X", "name": "tanh", "dur": 500},
    {"ph": "X", "name": "$api.py:1 block_until_ready", "dur": 9000},
    {"ph": "B", "name": "dot", "ts": 0},
  ]
  (tmp_path / "plugins").mkdir()
  with gzip.open(tmp_path / "plugins" / "perfetto_trace.json.gz", "wt") as f:
    json.dump({"traceEvents": events}, f)
  got = bench_module("train_profile").per_op_ms(str(tmp_path), iters=2)
  assert got == [("dot", 2.0, 1.0), ("tanh", 0.25, 0.5)]


def test_every_line_names_the_allocator_it_ran_under(outputs):
  for name, r in outputs.items():
    assert r["allocator"] in ("tcmalloc", "glibc", "unknown"), name


@pytest.mark.parametrize("script", ["compare.sh", "gpu.sh"])
def test_shell_scripts_parse(script):
  subprocess.run(["bash", "-n", os.path.join(_REPO, "benchmarks", script)], check=True)


def test_train_step_splits_the_batch_over_the_cpu_devices_it_is_given(outputs):
  one, two = outputs["train_step.py"], outputs["train_step.py --cpu_devices 2"]
  assert (one["cpu_devices"], one["devices"]) == (1, 1)
  assert (two["cpu_devices"], two["devices"]) == (2, 2)
  assert np.isfinite(two["loss"]) and two["timesteps_per_s"] > 0


def test_split_stress_trains_on_two_cpu_devices_waiting_for_each_previous_step(outputs):
  r = outputs["split_stress.py"]
  assert (r["steps"], r["bounded"], r["devices"]) == (20, True, 2)
  assert np.isfinite(r["train_nll"])


def test_matvec_floor_does_the_stack_s_matmuls():
  """`sample.py --matvec_floor` times x_l = tanh(([x_{l-1}, h] @ W_l)[:, :H]) per layer and
  step, with the generator's own kernels (numpy reference)."""
  sample_bench = bench_module("sample")
  gen = models.Generator(channels=2, lstm_layers=2, lstm_units=4, dense_units=3, mixtures=2)
  variables = gen.init(jax.random.key(0), gen.zero_state(1), np.zeros((1, 2, 2), np.float32))
  got = sample_bench._matvecs_only(variables, 3, 5)  # pylint: disable=protected-access
  kernels = [np.asarray(variables["params"]["lstm"][f"kernel_{i}"]) for i in range(2)]
  h = np.zeros((3, 4), np.float32)
  for _ in range(5):
    x = h[:, :2]
    for kernel in kernels:
      x = np.tanh((np.concatenate([x, h], axis=-1) @ kernel)[:, :4])
    h = x
  np.testing.assert_allclose(got, h, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["row", "col"])
def test_recurrent_matmul_scans_dependent_matmuls_in_either_layout(layout):
  rng = np.random.default_rng(0)
  kernel = rng.normal(size=(8, 16)).astype(np.float32)  # [2H, 4H] with H = 4
  h = rng.normal(size=(3, 8)).astype(np.float32)
  expected = h
  for _ in range(5):
    expected = np.tanh((expected @ kernel)[:, :8])
  scan = bench_module("recurrent_matmul").scan_matmuls(layout, steps=5, units=4)
  got = scan(kernel, h) if layout == "row" else scan(kernel.T, h.T).T
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_fitted_start_states_follow_the_states_moments():
  """`start_states.py`'s Gaussian start: draws laid out like the states it was fitted to,
  with their mean and covariance (numpy's), h clipped to the LSTM's range."""
  start_states = bench_module("start_states")
  rng = np.random.default_rng(0)
  layers, batch, units, channels = 2, 20000, 3, 2
  mixing = rng.normal(size=(layers * 2 * units + channels,) * 2) * 0.3
  flat = rng.normal(size=(batch, mixing.shape[0])) @ mixing + 0.2
  state = np.moveaxis(flat[:, :-channels].reshape(batch, layers, 2, units), 0, 2)
  new_state, x = start_states.fitted_states((state, flat[:, -channels:]), batch, rng)
  assert new_state.shape == (layers, 2, batch, units) and x.shape == (batch, channels)
  assert np.abs(np.asarray(new_state[:, 1])).max() <= 1.0  # h; the cells c are not clipped.
  assert np.abs(np.asarray(new_state[:, 0])).max() > 1.0
  c_drawn = np.moveaxis(np.asarray(new_state[:, 0]), 1, 0).reshape(batch, -1)
  c_fitted = np.moveaxis(state[:, 0], 1, 0).reshape(batch, -1)
  np.testing.assert_allclose(c_drawn.mean(0), c_fitted.mean(0), atol=0.1)
  np.testing.assert_allclose(
    np.cov(c_drawn, rowvar=False), np.cov(c_fitted, rowvar=False), atol=0.1
  )
  np.testing.assert_allclose(np.asarray(x).mean(0), flat[:, -channels:].mean(0), atol=0.1)


def test_keep_checkpoint_makes_a_run_that_keeps_that_checkpoints_generator(tmp_path):
  cfg = tiny_config.sine_run(
    tmp_path,
    steps=3000,
    train_steps=30,
    log_every=10,
    eval_every=30,
    average_every=10,
    calibration_windows=0,
    resample_windows=0,
  )
  averaged = api.train(cfg)  # Keeps the mean of the generators of steps 20 and 30.
  keep = bench_module("keep_checkpoint").keep
  last = max(Checkpointer(cfg.workdir + "/checkpoints").steps())
  to = str(tmp_path / "kept")
  assert keep(cfg.workdir, last, to) == 30
  kept, trained = api.load(to), api.load(cfg.workdir, checkpoint=last)
  assert kept.step == 30
  leaves = [jax.tree.leaves(g.params) for g in (kept, trained, averaged)]
  for a, b in zip(leaves[0], leaves[1]):
    np.testing.assert_array_equal(a, b)
  assert not all(np.array_equal(a, c) for a, c in zip(leaves[0], leaves[2]))
  with pytest.raises(SystemExit, match="exists"):
    keep(cfg.workdir, last, to)


def test_best_of_k_keeps_the_criterion_s_first_of_every_subset():
  # (criterion, report) of runs a, b, c; subsets {a, b}, {a, c}, {b, c} keep a, a, b by
  # criterion (reports 0.2, 0.2, 0.1), where the best by report is b, a, b (0.1, 0.2, 0.1).
  pairs = [(0.1, 0.2), (0.2, 0.1), (0.3, 0.3)]
  got = bench_module("rank_runs").best_of_k(pairs)
  assert list(got) == [2]
  np.testing.assert_allclose([got[2]["kept"], got[2]["best"]], [0.5 / 3, 0.4 / 3])
  assert (got[2]["same"], got[2]["subsets"]) == (2, 3)


def test_rank_runs_ranks_a_run_stopped_partway_by_its_latest_generator_at_a_fitted_value(
  tmp_path,
):
  cfg = tiny_config.sine_run(tmp_path, stop_at=20, keep_checkpoints=10)
  rank_runs = bench_module("rank_runs")
  assert not setup.prepare(cfg).run()
  gen_20, settings_20 = rank_runs.ranked_generator(cfg.workdir)
  latest = setup.prepare(cfg)
  assert gen_20.step == 20 and gen_20.critic is None
  jax.tree.map(np.testing.assert_array_equal, gen_20.params, latest.state.g.params)
  fit = latest.schedule.fit_weight_temperature(latest.state.g.params, latest.schedule.key)
  assert settings_20 == {"weight_temperature": fit["weight_temperature"], "resample": 0}
  assert setup.prepare(dataclasses.replace(cfg, stop_at=0)).run()
  gen, settings = rank_runs.ranked_generator(cfg.workdir)
  assert settings == {} and gen.weight_temperature == calibration.read(cfg.workdir)
  # --checkpoint: the finished run's generator of step 20, ranked as when it stopped there.
  ckpt = Checkpointer(os.path.join(cfg.workdir, "checkpoints"), 10)
  at_20 = ckpt.ids_by_step()[20]
  ckpt.close()
  again, settings_again = rank_runs.ranked_generator(cfg.workdir, at_20)
  jax.tree.map(np.testing.assert_array_equal, again.params, gen_20.params)
  assert settings_again == settings_20
