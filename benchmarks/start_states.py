"""Quality, not speed: where a free-running sample starts (issue 16's third start-state method).

  python benchmarks/start_states.py --workdir runs/ablation/raw_adam_burn_in_seed0 --seed 0

Samples of a trained (unconditioned) run are drawn from three kinds of start, each followed
by `--burn_in` free steps (default 0) and 400 returned steps, then scored by
`--mode=evaluate --synthetic=...` like the ablation's rows:
- `fitted`: a Gaussian (full covariance) fitted to the LSTM states and inputs the generator
  reaches when teacher-forced through `--prime_length` steps of training windows at random
  positions, then drawn afresh (no real state is used as such);
- `real`: those real states themselves (priming with real data, the privacy opt-in);
- `zero`: the zero state and a zero input (what a burn-in of 1,000 steps replaces).
Prints one JSON line per start in `har_ablation.py`'s format (`--table` reads them).
"""

import argparse
import json
import os

import _common  # noqa: F401  (puts the repository on sys.path)
import har_ablation
import jax
import jax.numpy as jnp
import numpy as np

from sensegen import api
from sensegen import input_pipeline
from sensegen import sampling
from sensegen.data import windows

_STATES, _DRAWS = 21, 22  # Seed streams of their own.


def real_states(gen, series, count: int, length: int, rng) -> tuple:
  """The generator's (state `[layers, 2, count, H]`, next input `[count, S]`) after being
  teacher-forced from the zero state through `length` steps of `count` windows of `series`
  (model space) at random positions."""
  prime = jnp.asarray(windows.random_windows(series, count, length + 1, rng, name="train data"))
  apply = jax.jit(lambda p, x: gen.model.apply(p, gen.model.zero_state(x.shape[0]), x)[0])
  return apply(gen.params, prime[:, :-1]), prime[:, -1]


def fitted_states(states: tuple, count: int, rng) -> tuple:
  """`count` draws of a Gaussian fitted to `states` (as `real_states` returns them); h is
  clipped to the LSTM's range [-1, 1]."""
  state, x = (np.asarray(a, np.float64) for a in states)
  flat = np.concatenate([np.moveaxis(state, 2, 0).reshape(state.shape[2], -1), x], axis=1)
  draws = rng.multivariate_normal(flat.mean(0), np.cov(flat, rowvar=False), size=count)
  size = state[:, :, 0].size
  new_state = np.moveaxis(draws[:, :size].reshape((count,) + state[:, :, 0].shape), 0, 2)
  new_state[:, 1] = np.clip(new_state[:, 1], -1.0, 1.0)  # [layers, 2 (c, h), count, H]
  return jnp.asarray(new_state, jnp.float32), jnp.asarray(draws[:, size:], jnp.float32)


def _starts(gen, series, args) -> dict:
  rng = np.random.default_rng([args.seed, _STATES])
  real = real_states(gen, series, args.fit_windows, args.prime_length, rng)
  fitted = fitted_states(real, args.num_samples, rng)
  pick = rng.choice(args.fit_windows, args.num_samples, replace=False)
  zero = gen.model.zero_state(args.num_samples), jnp.zeros((args.num_samples, gen.model.channels))
  return {
    "fitted": fitted,
    "real": (real[0][:, :, pick], real[1][pick]),
    "zero": zero,
  }


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--workdir", required=True)
  p.add_argument("--seed", type=int, default=0, help="evaluation seed (as the ablation's)")
  p.add_argument("--row", default="raw_adam", help="row names: ROW_START_start[_burn_in_B]")
  p.add_argument("--num_samples", type=int, default=256)
  p.add_argument("--window", type=int, default=400)
  p.add_argument("--fit_windows", type=int, default=2048)
  p.add_argument("--prime_length", type=int, default=1000)
  p.add_argument("--burn_in", type=int, default=0)
  p.add_argument("--starts", nargs="+", default=["fitted", "real", "zero"])
  args = p.parse_args()
  gen = api.load(args.workdir)
  if gen.num_labels:
    raise SystemExit(f"{args.workdir}: a conditioned run; this benchmark draws unconditioned")
  run_data = input_pipeline.load_for_training(gen.config)
  starts = _starts(gen, run_data.model_train.series, args)
  out = os.path.join(args.workdir, "start_states")
  os.makedirs(out, exist_ok=True)
  key = jax.random.fold_in(jax.random.key(args.seed), _DRAWS)
  for name in args.starts:
    x = sampling.sample_jit(
      gen.model,
      gen.params,
      key,
      args.num_samples,
      args.window,
      burn_in=args.burn_in,
      output_map=gen.output_map,
      start=starts[name],
    )
    path = os.path.join(out, f"{name}_burn_in_{args.burn_in}.npz")
    np.savez(path, x=gen.normaliser.denormalise(np.asarray(x)), channels=np.array(gen.channels))
    row = f"{args.row}_{name}_start" + (f"_burn_in_{args.burn_in}" if args.burn_in else "")
    har_ablation.evaluate(args.workdir, args.seed, f"--synthetic={path}")
    print(json.dumps(har_ablation.result(row, args.seed, args.workdir)), flush=True)


if __name__ == "__main__":
  main()
