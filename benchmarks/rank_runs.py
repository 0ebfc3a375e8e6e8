"""Which of several trained runs to keep, from training data alone (not a test: prints).

The seed decides more than any setting measured for the activity-conditioned run (README,
"Multichannel and activity-conditioned generation"), so training a few seeds and keeping
one is a method of its own, if something other than the evaluation can tell them apart.
The criterion here: the feature judge's score (`sensegen.evaluate.features`) of the windows
`--mode=evaluate` would draw with this script's `--seed` (default 1000, so independent of
an evaluation at the run's own seed) against the real windows it draws from the *training*
split; its test-split windows are drawn but not scored. For a conditioned run it is the
mean over the activities `--mode=evaluate` scores, 64 windows per activity by default; for
any other run, `--num` windows in all.

  python benchmarks/rank_runs.py --workdirs runs/a runs/b runs/c [--num 384 --seed 1000]
      [--reports runs/a_full runs/b_full runs/c_full] [--checkpoint ID]

A run stopped partway (`--stop_at`: no end-of-training fit or critic in its directory yet)
is ranked by the generator training at its latest checkpoint, at a weight temperature fitted
as `--mode=calibrate` fits one, without resampling: train k seeds with `--stop_at`, rank
them, and run the first's command again without `--stop_at` to finish it (README,
"Choosing among seeds from training data alone"). `--checkpoint ID` ranks every run that way
at that checkpoint, finished or not.

Prints one JSON line per run (criterion per activity and overall; the mean per-activity or
pooled score of the run's own `eval/report.json`, or of its `--reports` run, where it
exists), then one line with the runs ranked (lowest criterion first) and, with three or
more evaluated runs, the Spearman correlation between criterion and report, and
`best_of_k`: for every k of these runs, what keeping the one the criterion ranks first
would have given.
"""

import argparse
import dataclasses
import itertools
import json
import os

import _common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import scipy.stats

from sensegen import api
from sensegen import calibration
from sensegen import evaluation_run
from sensegen import input_pipeline
from sensegen import resampling
from sensegen import train
from sensegen.checkpoint import Checkpointer
from sensegen.evaluate import features


def criterion(cfg, gen, run_data) -> dict:
  """{activity name or "all": the feature judge's mean score} and "mean" over them: the
  evaluation's own draws at `cfg.seed` (`evaluation_run.window_sets` / `activity_sets`),
  each scored on its real *training* windows only."""
  if not gen.num_labels:
    real, _, synth = evaluation_run.window_sets(cfg, gen, run_data)
    score = float(np.mean(features.feature_scores(real, synth)))
    return {"all": score, "mean": score}
  ids = evaluation_run.activity_ids(cfg, gen, run_data)
  out = {}
  for a in ids:
    real, _, synth = evaluation_run.activity_sets(
      cfg, gen, run_data, a, cfg.num_samples // len(ids)
    )
    name = gen.label_names[a] if gen.label_names else str(a)
    out[name] = float(np.mean(features.feature_scores(real, synth)))
  out["mean"] = float(np.mean(list(out.values())))
  return out


def ranked_generator(workdir: str, checkpoint=None) -> tuple:
  """(generator, sampling settings) the criterion scores for the run in `workdir`: a
  finished run's kept generator with its own settings ({}); for a run stopped partway, or
  at `checkpoint` (an id under its checkpoints/), the generator training there with a
  fitted weight temperature and no resampling."""
  fitted = [os.path.exists(os.path.join(workdir, f)) for f in (calibration.FILE, resampling.FILE)]
  if checkpoint is None and any(fitted):  # Written at the end of training only.
    return api.load(workdir), {}
  cfg = dataclasses.replace(api.read_config(workdir), weight_temperature=0.0)
  if checkpoint is None:
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), cfg.keep_checkpoints)
    checkpoint = max(ckpt.steps(), default=None)
    ckpt.close()
  gen = api.load(workdir, checkpoint)
  schedule = train.fitting_schedule(cfg, gen.model)
  fit = schedule.fit_weight_temperature(gen.params, schedule.key)  # {}: a fixed one.
  return gen, {
    "weight_temperature": fit.get("weight_temperature", gen.weight_temperature),
    "resample": 0,
  }


def reported(workdir: str):
  """The run's `eval/report.json` score on the criterion's terms, or None."""
  path = os.path.join(workdir, "eval", "report.json")
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    report = json.load(f)
  per = report.get("activity", {}).get("per_activity")
  if per:
    return float(np.mean([v["discriminative_score"]["mean"] for v in per.values()]))
  return float(report["discriminative_score"]["mean"])


def best_of_k(pairs: list, max_k: int = 4) -> dict:
  """For k = 2..max_k, over every k of the runs' (criterion, report) `pairs`: the mean report
  of the run the criterion ranks first, of the best run by report, and in how many subsets
  the two are the same run."""
  out = {}
  for k in range(2, min(max_k, len(pairs) - 1) + 1):
    subsets = list(itertools.combinations(pairs, k))
    kept = [min(s, key=lambda p: p[0])[1] for s in subsets]
    best = [min(p[1] for p in s) for s in subsets]
    out[k] = {
      "kept": float(np.mean(kept)),
      "best": float(np.mean(best)),
      "same": sum(a == b for a, b in zip(kept, best)),
      "subsets": len(subsets),
    }
  return out


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdirs", nargs="+", required=True)
  p.add_argument("--num", type=int, default=384, help="windows per run (split over activities)")
  p.add_argument("--seed", type=int, default=1000, help="keys of the criterion's draws")
  p.add_argument(
    "--checkpoint",
    type=int,
    help="rank the generator each run was training at this checkpoint id (runs trained with "
    "--keep_checkpoints large enough), as for a run stopped there",
  )
  p.add_argument(
    "--reports",
    nargs="+",
    help="runs whose eval/report.json stands for each workdir's, in the same order "
    "(e.g. the full runs of the same seeds as shorter ones); default: the workdirs",
  )
  args = p.parse_args()
  reports = args.reports or args.workdirs
  if len(reports) != len(args.workdirs):
    p.error(f"--reports: {len(reports)} runs for {len(args.workdirs)} --workdirs")
  rows = []
  for workdir, report_dir in zip(args.workdirs, reports):
    gen, settings = ranked_generator(workdir, args.checkpoint)
    cfg = dataclasses.replace(
      api.read_config(workdir), seed=args.seed, num_samples=args.num, **settings
    )
    run_data = input_pipeline.load(cfg, min_length=cfg.window)
    row = {"workdir": workdir, "step": gen.step, "criterion": criterion(cfg, gen, run_data)}
    row["report"] = reported(report_dir)
    rows.append(row)
    print(json.dumps(row), flush=True)
  ranked = sorted(rows, key=lambda r: r["criterion"]["mean"])
  summary = {"ranked": [r["workdir"] for r in ranked]}
  pairs = [(r["criterion"]["mean"], r["report"]) for r in rows if r["report"] is not None]
  if len(pairs) >= 3:
    summary["spearman"] = float(scipy.stats.spearmanr(*zip(*pairs))[0])
    summary["best_of_k"] = best_of_k(pairs)
  print(json.dumps(summary), flush=True)


if __name__ == "__main__":
  main()
