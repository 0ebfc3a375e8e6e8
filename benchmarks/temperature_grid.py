"""Diagnosis, not speed: how the two sampling temperatures move a trained run's mix of
quiet and active windows. For each (temperature, weight temperature) of a grid, the quiet
share, the per-window std quartiles and the KS distance of per-window stds against
training windows (what the fit of `sensegen.calibration` sees) and held-out windows.

  python benchmarks/temperature_grid.py --workdir runs/main_seed1 \\
      --temperatures 0.95 1 1.05 --weight_temperatures 0.85 0.9 0.95 1 [--num 512 --seed 7]

Prints one JSON line per grid point (`sensegen.evaluate.stats.regime` against each real
set). Every grid point is
drawn with the same key, so differences between points are those of the temperatures.
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np

from sensegen import api
from sensegen import input_pipeline
from sensegen.data import windows
from sensegen.evaluate import stats


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
    windows.random_windows(split.series, args.num, cfg.window, rng)
    for split in (run_data.train, run_data.test)
  )
  key = jax.random.key(args.seed)
  for temperature in args.temperatures:
    for wt in args.weight_temperatures:
      x = gen.sample(key, args.num, cfg.window, temperature, weight_temperature=wt, resample=0)
      synth = gen.normaliser.normalise(np.asarray(x))
      vs_train, vs_test = stats.regime(train, synth), stats.regime(test, synth)
      row = {
        "temperature": temperature,
        "weight_temperature": wt,
        "quiet_share": vs_train["quiet_share_synthetic"],
        "std_quartiles": vs_train["window_std_quartiles_synthetic"],
        "ks_train": vs_train["window_std_ks"],
        "ks_test": vs_test["window_std_ks"],
        "real_quiet_share_train": vs_train["quiet_share_real"],
        "real_quiet_share_test": vs_test["quiet_share_real"],
      }
      print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
