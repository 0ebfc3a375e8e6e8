"""Diagnosis, not speed: how coarsely a run's generator training series are recorded.

  python benchmarks/quantisation.py --workdir runs/cond_intel_res_seed0

Loads the training data of the run in `--workdir` as it trained on them (in the
generator's own space, e.g. the raw accelerometer, normalised) and prints one JSON line
per channel: its quantisation
step (`windows.quantisation_step`, what `--dequantize` adds noise of) and the share of
steps that repeat the channel's last value exactly; for a conditioned run, one line per
label with the share of its steps that repeat every channel at once.
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import numpy as np

from sensegen import api
from sensegen import input_pipeline
from sensegen.data import windows


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  p.add_argument("--workdir", required=True, help="a trained run directory")
  args = p.parse_args()
  train = input_pipeline.load_for_training(api.read_config(args.workdir)).model_train
  steps = windows.quantisation_step(train.series)
  same = np.concatenate([np.diff(s, axis=0) == 0 for s in train.series])  # [T - 1, D]
  for name, step, share in zip(train.channels, steps, same.mean(axis=0)):
    print(json.dumps({"channel": name, "step": float(step), "repeats": float(share)}))
  if train.labels is not None:
    labels = np.concatenate([lab[1:] for lab in train.labels])
    for label in np.unique(labels):
      share = same[labels == label].all(axis=1).mean()
      print(json.dumps({"label": int(label), "all_channels_repeat": float(share)}))


if __name__ == "__main__":
  main()
