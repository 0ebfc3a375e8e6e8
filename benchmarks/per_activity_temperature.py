"""Diagnosis, not speed: would a weight temperature fitted per activity help a conditioned
run? For each activity, fits one on that activity's training windows (as `calibration`
does for the whole run) and scores the activity as `--mode=evaluate` does, at the run's
fitted value and at the activity's own.

  python benchmarks/per_activity_temperature.py --workdir runs/cond_alt_seed0 [--fit_windows 256]

Prints one JSON line per activity: the fitted value, its window-std KS, and for both
temperatures the per-activity discriminative score, quiet shares (real, synthetic) and
window-std KS against the activity's training windows.
"""

import argparse
import dataclasses
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np

from sensegen import api
from sensegen import calibration
from sensegen import evaluation_run
from sensegen import input_pipeline
from sensegen.config import Config
from sensegen.data import windows

_FIT = 7  # A seed stream of its own for the fit's windows and draws.


def _fit(gen, cfg, run_data, label: int, count: int) -> dict:
  """`calibration.fit_weight_temperature` on one activity's training windows."""
  rng = np.random.default_rng([cfg.seed, _FIT, label])
  train = run_data.train
  stretches = windows.label_runs(train.series, train.labels, label, cfg.window)
  real = windows.random_windows(stretches, count, cfg.window, rng)
  key = jax.random.fold_in(jax.random.key(cfg.seed), 1000 * _FIT + label)
  labels = np.full(cfg.window, label)
  draw = lambda wt: gen.normaliser.normalise(
    np.asarray(
      gen.sample(
        key, count, cfg.window, cfg.temperature, labels, cfg.burn_in, weight_temperature=wt
      )
    )
  )
  return calibration.fit_weight_temperature(draw, real)


def _scores(gen, cfg, run_data, label: int, count: int, weight_temperature: float) -> dict:
  """The activity's entry of the evaluation, drawn at `weight_temperature` (0: the run's)."""
  c = dataclasses.replace(cfg, weight_temperature=weight_temperature)
  sets = evaluation_run.activity_sets(c, gen, run_data, label, count)
  s = evaluation_run._activity_scores(c, gen, *sets)  # pylint: disable=protected-access
  regime = s["regime"]
  return {
    "score": s["discriminative_score"]["mean"],
    "quiet": [regime["quiet_share_real"], regime["quiet_share_synthetic"]],
    "window_std_ks": regime["window_std_ks"],
  }


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdir", required=True)
  p.add_argument("--num_samples", type=int, default=384, help="as --mode=evaluate's")
  p.add_argument("--fit_windows", type=int, default=256)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  cli = Config(workdir=args.workdir, mode="evaluate", num_samples=args.num_samples, seed=args.seed)
  cfg = evaluation_run._evaluation_config(cli)  # pylint: disable=protected-access
  gen = api.load(args.workdir)
  run_data = input_pipeline.load(cfg, min_length=cfg.window)
  ids = evaluation_run.activity_ids(cfg, gen, run_data)
  count = cfg.num_samples // len(ids)
  for label in ids:
    fit = _fit(gen, cfg, run_data, label, args.fit_windows)
    row = {
      "activity": gen.label_names[label],
      "run_weight_temperature": gen.weight_temperature,
      "fitted": fit["weight_temperature"],
      "fitted_window_std_ks": fit["window_std_ks"],
      "at_run_value": _scores(gen, cfg, run_data, label, count, 0.0),
      "at_fitted": _scores(gen, cfg, run_data, label, count, fit["weight_temperature"]),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
