"""Quality, not speed: would a run have sampled better with another of its generators kept?

  python benchmarks/keep_checkpoint.py --workdir runs/cond_intel_res_seed0 --checkpoint 21 \
      --to runs/cond_intel_res_seed0_last

Copies the run in `--workdir` to a new run directory `--to` whose kept generator
(`--select_generator`, `train.selection`) is the one that was training at checkpoint
`--checkpoint` (e.g. the last, where the run kept an average), with the run files
`sensegen.load` reads. Then the usual commands fit its weight temperature and resampling
critic and evaluate it like any run, e.g.

  python -m sensegen.launch --workdir=runs/cond_intel_res_seed0_last --mode=calibrate
  python -m sensegen.launch --workdir=runs/cond_intel_res_seed0_last --mode=evaluate \
      --num_samples=384 --seed=0
"""

import argparse
import os
import shutil

import _common  # noqa: F401  (puts the repository on sys.path)

from sensegen import api
from sensegen import experiment
from sensegen import fileio
from sensegen import train
from sensegen.checkpoint import Checkpointer

_RUN_FILES = ("config.json", "dataset.json", "metrics.jsonl")


def keep(workdir: str, checkpoint: int, to: str) -> int:
  """Writes the run `to` (see the module docstring); returns the kept generator's step."""
  if os.path.exists(to):
    raise SystemExit(f"{to} exists: --to must be a new directory")
  cfg = api.read_config(workdir)
  record = fileio.read_json(os.path.join(workdir, "dataset.json"))
  model_space = record.get("model_space")
  channels = len((model_space or record)["channels"])
  critic_state = train.schedule_class(cfg.schedule).trains_critic
  fresh = experiment.abstract_state(
    cfg,
    channels,
    record.get("num_labels", 0),
    critic_state,
    num_styles=record.get("num_styles", 0),
  )
  source = Checkpointer(os.path.join(workdir, "checkpoints"), cfg.keep_checkpoints)
  if checkpoint not in source.steps():
    raise SystemExit(f"{workdir}/checkpoints holds no checkpoint {checkpoint} ({source.steps()})")
  tree, meta = source.restore(checkpoint, fresh.like)
  source.close()
  os.makedirs(to)
  for name in _RUN_FILES:
    shutil.copy(os.path.join(workdir, name), to)
  tree["best"] = tree["g"].params
  meta["best"] = {"step": meta["step"]}
  target = Checkpointer(os.path.join(to, "checkpoints"), cfg.keep_checkpoints)
  target.save(checkpoint, tree, meta)
  target.close()
  return meta["step"]


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  p.add_argument("--checkpoint", type=int, required=True, help="an id under WORKDIR/checkpoints")
  p.add_argument("--to", required=True, help="the new run directory")
  args = p.parse_args()
  step = keep(args.workdir, args.checkpoint, args.to)
  print(
    f"{args.to}: keeps the generator of step {step} ({args.workdir}, checkpoint {args.checkpoint})"
  )


if __name__ == "__main__":
  main()
