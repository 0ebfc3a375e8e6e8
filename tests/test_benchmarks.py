"""Each benchmark script runs on a tiny model and prints one JSON line (no speed checks)."""

import json
import os
import subprocess
import sys

import pytest

# The shared fixture runs once: every test of this module on one worker.
pytestmark = [pytest.mark.xdist_group("benchmarks"), pytest.mark.heavy]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_TINY = ["--layers", "1", "--units", "8", "--dense", "8", "--mixtures", "2", "--iters", "1"]
_RUNS = {
  "train_step.py": _TINY + ["--batch", "4", "--steps", "5", "--impl", "fused"],
  "sample.py": _TINY + ["--num", "2", "--length", "5"],
  "matmul_peak.py": ["--n", "64", "--iters", "2"],
}
_TIMING = {"compile_s", "median_s", "min_s", "iters"}


@pytest.fixture(scope="module")
def outputs():
  """Script name -> its parsed JSON line; the three run side by side to save time."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  procs = {
    name: subprocess.Popen(
      [sys.executable, os.path.join(_REPO, "benchmarks", name), *args],
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


def test_every_line_names_the_allocator_it_ran_under(outputs):
  for name, r in outputs.items():
    assert r["allocator"] in ("tcmalloc", "glibc", "unknown"), name


def test_compare_script_parses():
  subprocess.run(["bash", "-n", os.path.join(_REPO, "benchmarks", "compare.sh")], check=True)
