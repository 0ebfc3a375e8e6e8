"""Diagnosis, not speed: a run's held-out NLL when the first predictions of each window
are left out, and the worst single prediction among those scored.

  python benchmarks/held_out_nll.py --workdir runs/cond_intel_res_seed3 [--checkpoint ID] \
      [--contexts 0 1 5 50]

Scores the run's held-out NLL windows (those of its `eval_nll`, `--eval_windows` of them)
with the generator it kept, or the one training at `--checkpoint`, once per context k
(what `steps.make_nll_eval(..., context=k)` computes: the first k predictions of each
window, from the zero state, are not scored; 0 scores them all, as `eval_nll` did before
2026-11-29; the run's own `eval_nll` uses one second of context). Prints
one JSON line per k: the mean NLL and the largest single-prediction NLL scored.
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np

from sensegen import api
from sensegen import input_pipeline
from sensegen import steps


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--checkpoint", type=int, default=None, help="an id under WORKDIR/checkpoints")
  p.add_argument("--contexts", type=int, nargs="+", default=[0, 1, 5, 50])
  args = p.parse_args()
  gen = api.load(args.workdir, args.checkpoint)
  cfg = gen.config
  run_data = input_pipeline.load_for_training(cfg)
  held_out, labels = input_pipeline.eval_windows(run_data, cfg.window, cfg.eval_windows, cfg.seed)
  per_prediction = jax.jit(steps.prediction_nll, static_argnums=0)
  nll = np.asarray(per_prediction(gen.model, gen.params, held_out, labels), np.float64)
  for k in args.contexts:
    row = {
      "workdir": args.workdir,
      "step": gen.step,
      "context": k,
      "eval_nll": float(np.mean(nll[:, k:])),
      "worst_prediction_nll": float(np.max(nll[:, k:])),
    }
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
