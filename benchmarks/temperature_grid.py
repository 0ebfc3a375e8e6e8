"""Diagnosis, not speed: how the two sampling temperatures move a trained run's mix of
quiet and active windows. For each (temperature, weight temperature) of a grid, the quiet
share, the per-window std quartiles and the KS distance of per-window stds against
training windows (what the fit of `sensegen.calibration` sees) and held-out windows.

  python benchmarks/temperature_grid.py --workdir runs/main_seed1 \\
      --temperatures 0.95 1 1.05 --weight_temperatures 0.85 0.9 0.95 1 [--num 512 --seed 7]

Prints one JSON line for the real windows, then one per grid point. Every grid point is
drawn with the same key, so differences between points are those of the temperatures.
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np
import scipy.stats

from sensegen import api
from sensegen import input_pipeline
from sensegen.data import windows
from sensegen.evaluate import stats


def _summary(std: np.ndarray) -> dict:
  return {
    "quiet_share": float(np.mean(std < stats.QUIET_STD)),
    "std_quartiles": np.quantile(std, (0.25, 0.5, 0.75)).round(3).tolist(),
  }


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdir", required=True)
  p.add_argument("--temperatures", type=float, nargs="+", default=[1.0])
  p.add_argument("--weight_temperatures", type=float, nargs="+", default=[1.0])
  p.add_argument("--num", type=int, default=512)
  p.add_argument("--seed", type=int, default=7)
  args = p.parse_args()
  gen = api.load(args.workdir)
  cfg = gen.config
  run_data = input_pipeline.load_for_training(cfg)
  rng = np.random.default_rng(args.seed)
  train, test = (
    stats.window_std(windows.random_windows(split.series, args.num, cfg.window, rng))
    for split in (run_data.train, run_data.test)
  )
  print(json.dumps({"real_train": _summary(train), "real_test": _summary(test)}), flush=True)
  key = jax.random.key(args.seed)
  for temperature in args.temperatures:
    for wt in args.weight_temperatures:
      x = gen.sample(key, args.num, cfg.window, temperature, weight_temperature=wt)
      std = stats.window_std(gen.normaliser.normalise(np.asarray(x)))
      row = {"temperature": temperature, "weight_temperature": wt, **_summary(std)}
      for name, real in (("ks_train", train), ("ks_test", test)):
        row[name] = float(scipy.stats.ks_2samp(real, std).statistic)
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
