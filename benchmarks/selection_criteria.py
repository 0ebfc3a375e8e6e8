"""Experiment, not speed: which criterion picks a run's best generator among its candidates
(the generator at the start of each discriminator round, and the last one)?

  python benchmarks/selection_criteria.py --workdir runs/main_v3_seed0 [--num 256 --seed 0]

The run must have kept every checkpoint (`--keep_checkpoints=100` for `har_quick`). Each
candidate draws `--num` windows as the evaluation does, with the weight temperature fitted
for it during training, and is scored by
  fit_ks         its fit's window-std KS against training windows (logged during training;
                 what `--select_generator=best_fit` minimises),
  judge_train    the feature judge's score (`features.feature_scores`, mean of 3 splits),
                 its windows against training windows,
  judge_heldout  the same against held-out windows: what the evaluation measures, shown to
                 see how well each training-side criterion predicts it (not a criterion).
Prints one JSON line per candidate, then one line naming each criterion's pick.
"""

import argparse
import json
import os

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np

from sensegen import api
from sensegen import calibration
from sensegen import fileio
from sensegen import input_pipeline
from sensegen import metrics
from sensegen.checkpoint import Checkpointer
from sensegen.data import windows
from sensegen.evaluate import features


def candidates(workdir: str) -> list:
  """[(step, fit KS, weight temperature, checkpoint id)] of every round start and the end."""
  rows = metrics.read_rows(os.path.join(workdir, "metrics.jsonl"))
  found = [(r["step"], r["window_std_ks"], r["weight_temperature"]) for r in rows if "round" in r]
  final = fileio.read_json(os.path.join(workdir, calibration.FILE))
  found.append(
    (
      final.get("last_step", final["step"]),
      final.get("last_window_std_ks", final["window_std_ks"]),
      final.get("last_weight_temperature", final["weight_temperature"]),
    )
  )
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=1000)
  ids = ckpt.ids_by_step()
  ckpt.close()
  return [(step, ks, wt, ids.get(step)) for step, ks, wt in found]


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--num", type=int, default=256)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  cfg = api.read_config(args.workdir)
  run_data = input_pipeline.load(cfg, min_length=cfg.window)
  rng = np.random.default_rng([args.seed, 1])
  train = windows.random_windows(run_data.train.series, args.num, cfg.window, rng)
  test = windows.random_windows(run_data.test.series, args.num, cfg.window, rng)
  rows = []
  for step, ks, wt, ckpt_id in candidates(args.workdir):
    if ckpt_id is None:
      print(json.dumps({"step": step, "skipped": "no checkpoint of this step"}), flush=True)
      continue
    gen = api.load(args.workdir, checkpoint=ckpt_id)
    x = gen.sample(
      jax.random.key(args.seed), args.num, cfg.window, weight_temperature=wt, resample=0
    )
    synth = gen.normaliser.normalise(np.asarray(x))
    row = {
      "step": step,
      "weight_temperature": wt,
      "fit_ks": ks,
      "judge_train": float(np.mean(features.feature_scores(train, synth))),
      "judge_heldout": float(np.mean(features.feature_scores(test, synth))),
    }
    rows.append(row)
    print(json.dumps(row), flush=True)
  picks = {c: min(rows, key=lambda r: (r[c], r["step"]))["step"] for c in ("fit_ks", "judge_train")}
  picks["last"] = rows[-1]["step"]
  print(json.dumps({"picks": picks}), flush=True)


if __name__ == "__main__":
  main()
