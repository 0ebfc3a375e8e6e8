"""Quality, not speed: does averaging a run's late generators beat picking one of them?

  python benchmarks/checkpoint_average.py --workdir runs/main_intel_judge_seed0 --seed 0 \
      --from_step 20000 [--every 4000]

The generator wanders from round to round, and the selection criteria pick among noisy
candidates (README, "The same job on another CPU"). This averages the generator params of
every checkpoint at or after `--from_step` (the run must have kept them:
`--keep_checkpoints=100`), fits the weight temperature of the average on training windows
as training does (`calibration`), draws `--num_samples` windows and scores them with
`--mode=evaluate --synthetic=...` (which rewrites the run's `eval/`). Prints one JSON line
in `har_ablation.py`'s format; `--from_step` equal to the last step scores the last
generator through the same steps.
"""

import argparse
import dataclasses
import json
import os

import _common  # noqa: F401  (puts the repository on sys.path)
import har_ablation
import jax
import numpy as np

from sensegen import api
from sensegen import calibration
from sensegen import input_pipeline
from sensegen.checkpoint import Checkpointer
from sensegen.data import windows

_FIT, _DRAWS = 31, 32  # Seed streams of their own.


def averaged(workdir: str, from_step: int, every: int = 0) -> tuple:
  """(the run's generator with the mean params of its checkpoints at steps >= `from_step`
  (with `every`, only at multiples of it), those steps)."""
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), keep=1000)
  ids = ckpt.ids_by_step()
  ckpt.close()
  steps = sorted(s for s in ids if s >= from_step and (not every or s % every == 0))
  if not steps:
    raise SystemExit(f"{workdir}: no checkpoint at step >= {from_step}")
  gens = [api.load(workdir, checkpoint=ids[s]) for s in steps]
  mean = jax.tree.map(lambda *p: sum(p) / len(p), *(g.params for g in gens))
  return dataclasses.replace(gens[-1], params=mean), steps


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--seed", type=int, default=0, help="evaluation seed (as the ablation's)")
  p.add_argument("--from_step", type=int, required=True)
  p.add_argument("--every", type=int, default=0, help="only checkpoints at multiples of it")
  p.add_argument("--num_samples", type=int, default=256)
  p.add_argument("--row", default="main_intel_checkpoint_average")
  args = p.parse_args()
  gen, steps = averaged(args.workdir, args.from_step, args.every)
  cfg = gen.config
  run_data = input_pipeline.load_for_training(cfg)
  rng = np.random.default_rng([args.seed, _FIT])
  real = windows.random_windows(run_data.train.series, cfg.calibration_windows, cfg.window, rng)
  key = jax.random.fold_in(jax.random.key(args.seed), _FIT)
  draw = lambda wt: gen.normaliser.normalise(
    np.asarray(
      gen.sample(key, cfg.calibration_windows, cfg.window, weight_temperature=wt, resample=0)
    )
  )
  fit = calibration.fit_weight_temperature(draw, real)
  key = jax.random.fold_in(jax.random.key(args.seed), _DRAWS)
  x = gen.sample(
    key, args.num_samples, cfg.window, weight_temperature=fit["weight_temperature"], resample=0
  )
  os.makedirs(os.path.join(args.workdir, "checkpoint_average"), exist_ok=True)
  name = f"from_{args.from_step}" + (f"_every_{args.every}" if args.every else "")
  path = os.path.join(args.workdir, "checkpoint_average", f"{name}.npz")
  np.savez(path, x=np.asarray(x), channels=np.array(gen.channels))
  har_ablation.evaluate(args.workdir, args.seed, f"--synthetic={path}")
  row = {
    **har_ablation.result(f"{args.row}_{name}", args.seed, args.workdir),
    "averaged_steps": steps,
    "weight_temperature": fit["weight_temperature"],
    "fit_window_std_ks": fit["window_std_ks"],
  }
  print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
