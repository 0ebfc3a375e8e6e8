"""Diagnosis, not speed: which window statistics still tell a run's samples from real
windows? Each statistic of the feature judge (`sensegen.evaluate.features`) alone, scored
by its AUC, real train windows vs samples, as `--mode=evaluate` draws them.

  python benchmarks/what_separates.py --workdir runs/main_seed0 [--num 256 --seed 0 --top 8]

For a conditioned run, `--label WALKING` compares windows of that activity's stretches with
samples drawn under that label; `--weight_temperature X` draws at X instead of the run's
fitted value. Prints one JSON line per statistic, strongest first: the AUC (0.5 = no
separation) and the median of the statistic over real and over synthetic windows.
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np
import sklearn.metrics

from sensegen import api
from sensegen import input_pipeline
from sensegen.data import windows
from sensegen.evaluate import features


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdir", required=True)
  p.add_argument("--num", type=int, default=256)
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--top", type=int, default=8)
  p.add_argument("--label", default="", help="an activity of a conditioned run (name or id)")
  p.add_argument("--weight_temperature", type=float, default=0.0, help="0: the run's fitted")
  args = p.parse_args()
  gen, cfg = api.load(args.workdir), api.read_config(args.workdir)
  run_data = input_pipeline.load(cfg, min_length=cfg.window)
  rng = np.random.default_rng(args.seed)
  series, labels = run_data.train.series, None
  if args.label:
    labels = gen.label_ids(args.label, length=cfg.window)
    train = run_data.train
    series = windows.label_runs(train.series, train.labels, labels[0], cfg.window)
  real = windows.random_windows(series, args.num, cfg.window, rng)
  draw = gen.sample(
    jax.random.key(args.seed),
    args.num,
    cfg.window,
    labels=labels,
    burn_in=cfg.burn_in,
    weight_temperature=args.weight_temperature or gen.weight_temperature,
  )
  synth = gen.normaliser.normalise(np.asarray(draw))
  f_real, f_synth = features.window_features(real), features.window_features(synth)
  y = np.r_[np.ones(len(f_real)), np.zeros(len(f_synth))]
  x = np.r_[f_real, f_synth]
  auc = np.array([sklearn.metrics.roc_auc_score(y, x[:, j]) for j in range(x.shape[1])])
  names = features.feature_names(cfg.window, gen.channels)
  for j in np.argsort(-np.abs(auc - 0.5))[: args.top]:
    row = {
      "statistic": names[j],
      "auc": float(auc[j]),
      "median_real": float(np.median(f_real[:, j])),
      "median_synthetic": float(np.median(f_synth[:, j])),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
