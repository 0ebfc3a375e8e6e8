"""Diagnosis, not speed: does a `--subject_style` run's generator use its styles? Draws
`--num` windows of one activity under each style (0 = "any subject", 1..S = the training
subjects) from the same keys and prints each style's median per-window std (normalised
units, mean over channels), then the spread of those medians over the subjects against the
spread within a style. A generator that ignored its styles would show no more spread
between the subjects than within one.

  python benchmarks/subject_styles.py --workdir runs/cond_style_seed1 [--label WALKING --num 16]
"""

import argparse
import json

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import jax.numpy as jnp
import numpy as np

from sensegen import api
from sensegen import sampling


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdir", required=True)
  p.add_argument("--label", default="WALKING")
  p.add_argument("--num", type=int, default=16)
  p.add_argument("--seed", type=int, default=0)
  args = p.parse_args()
  gen = api.load(args.workdir)
  if not gen.model.num_styles:
    raise SystemExit(f"{args.workdir} was not trained with --subject_style")
  length = gen.config.window
  labels = jnp.tile(jnp.asarray(gen.label_ids(args.label, length=length)), (args.num, 1))
  medians, spreads = [], []
  for style in range(gen.model.num_styles + 1):
    x = sampling.sample_jit(
      gen.model,
      gen.params,
      jax.random.key(args.seed),
      args.num,
      length,
      labels=labels,
      burn_in=gen.config.burn_in,
      weight_temperature=gen.weight_temperature,
      output_map=gen.output_map,
      style_ids=jnp.full(args.num, style),
    )
    window_std = np.asarray(x).std(axis=1).mean(axis=-1)
    medians.append(float(np.median(window_std)))
    spreads.append(float(window_std.std()))
    print(json.dumps({"style": style, "median_window_std": round(medians[-1], 3)}))
  summary = {
    "label": args.label,
    "std_of_subject_medians": round(float(np.std(medians[1:])), 3),
    "mean_std_within_a_style": round(float(np.mean(spreads[1:])), 3),
  }
  print(json.dumps(summary))


if __name__ == "__main__":
  main()
