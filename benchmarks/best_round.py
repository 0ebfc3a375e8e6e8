"""Post-hoc round selection (an experiment, not a library feature yet): a copy of an
alternating run whose generator is the one, among the starts of its discriminator rounds
and the end of training, whose weight-temperature fit matched the training windows best
(lowest window-std KS, as logged in metrics.jsonl and sampling.json; no held-out data).

  python benchmarks/best_round.py --workdir runs/main_v3_seed1
  python -m sensegen.launch --mode=evaluate --workdir=runs/main_v3_seed1_best \
      --num_samples=256 --seed=1

The run must have kept the checkpoint of the chosen step (`--keep_checkpoints=100` keeps
all of a `har_quick` run's). Writes `<workdir>_best`: the run without its later checkpoints,
evaluations and TensorBoard logs, and a sampling.json with the chosen round's fit.
"""

import argparse
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sensegen import calibration  # noqa: E402
from sensegen import fileio  # noqa: E402
from sensegen import metrics  # noqa: E402


def candidates(workdir: str) -> list:
  """[(KS, generator step, weight temperature)] of every round's fit and the final one."""
  rows = metrics.read_rows(os.path.join(workdir, "metrics.jsonl"))
  found = [
    (r["window_std_ks"], r["step"], r["weight_temperature"]) for r in rows if "window_std_ks" in r
  ]
  final = fileio.read_json(os.path.join(workdir, calibration.FILE))
  last_step = max(r["step"] for r in rows)
  return found + [(final["window_std_ks"], last_step, final["weight_temperature"])]


def _checkpoint_steps(workdir: str) -> dict:
  """Checkpoint id -> the generator step it holds."""
  root = os.path.join(workdir, "checkpoints")
  return {
    int(name): fileio.read_json(os.path.join(root, name, "meta", "metadata"))["step"]
    for name in os.listdir(root)
    if name.isdigit()
  }


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True)
  args = p.parse_args()
  workdir = args.workdir.rstrip("/")
  ks, step, weight_temperature = min(candidates(workdir))
  steps = _checkpoint_steps(workdir)
  at_step = [i for i, s in steps.items() if s == step]
  if not at_step:
    sys.exit(f"error: {workdir} kept no checkpoint of step {step} (rerun with --keep_checkpoints)")
  keep = max(at_step)
  out = workdir + "_best"
  shutil.rmtree(out, ignore_errors=True)
  shutil.copytree(workdir, out, ignore=shutil.ignore_patterns("eval*", "tensorboard"))
  for i in steps:
    if i > keep:
      shutil.rmtree(os.path.join(out, "checkpoints", str(i)))
  fit = {"weight_temperature": weight_temperature, "window_std_ks": ks, "tried": [], "step": step}
  calibration.write(out, fit)
  print(f"step {step} (window-std KS {ks:.3f}, weight temperature {weight_temperature}) -> {out}")


if __name__ == "__main__":
  main()
