"""Quality, not speed: a regime-switching signal of known statistics, the fast loop for
trying generation methods before HAR.

  python benchmarks/regime_switching.py --steps 3000 --seeds 0 1 2 [--set burn_in=0 ...]

The signal alternates between a quiet and an active AR(2) regime, each lasting a uniform
200-800 steps, like resting and walking in HAPT: quiet is smooth noise of std 0.05,
active a noisy oscillation of period ~20 steps and std 1. A small generator (2x LSTM 32,
6 components; `--set NAME=VALUE` overrides any `Config` field, e.g. `reset_prob=0.05`,
`scheduled_sampling=0.25`, `weight_temperature=0.7`, `burn_in=0`, `optimizer=rmsprop`)
trains on 40 series of 8,000 steps for a few CPU minutes; 256 of its default samples of
200 steps are compared with 256 windows cut at random positions of held-out series:

- `quiet_share_real`, `quiet_share_synthetic`: windows whose std (normalised) is below 0.1;
- `window_std_ks`: Kolmogorov-Smirnov distance of the per-window std distributions;
- `feature_judge_score`: |accuracy - 0.5| of the evaluation report's feature-based judge
  (0 = indistinguishable), the cheaper of its two judges.

One JSON line per seed, then the mean and std over seeds.
"""

import argparse
import dataclasses
import json
import os
import tempfile

import _common  # noqa: F401  (puts the repository on sys.path)
import jax
import numpy as np

from sensegen import api
from sensegen.config import Config
from sensegen.data import windows
from sensegen.evaluate import features
from sensegen.evaluate import stats

QUIET_STD, ACTIVE_STD, PERIOD = 0.05, 1.0, 20.0
WINDOW, NUM_WINDOWS = 200, 256


def _ar2(rng, n: int, radius: float, period: float, std: float) -> np.ndarray:
  """A stationary AR(2) of `n` steps with poles radius * exp(+-2 pi i / period), scaled to `std`."""
  a1, a2 = 2 * radius * np.cos(2 * np.pi / period), -(radius**2)
  x, noise = np.zeros(n + 200), rng.normal(size=n + 200)
  for t in range(2, len(x)):
    x[t] = a1 * x[t - 1] + a2 * x[t - 2] + noise[t]
  x = x[200:]
  return x * std / x.std()


def regime_series(rng, length: int) -> np.ndarray:
  """One series `[length, 1]` of alternating quiet / active stretches of 200-800 steps."""
  parts, active, total = [], rng.random() < 0.5, 0
  while total < length:
    n = int(rng.integers(200, 801))
    parts.append(
      _ar2(rng, n, 0.97, PERIOD, ACTIVE_STD) if active else _ar2(rng, n, 0.9, 8.0, QUIET_STD)
    )
    total, active = total + n, not active
  return np.concatenate(parts)[:length, None].astype(np.float32)


def write_data(path: str, seed: int, count: int, length: int) -> None:
  rng = np.random.default_rng(seed)
  np.savez(path, x=np.stack([regime_series(rng, length) for _ in range(count)]))


def run(seed: int, steps: int, overrides: dict, root: str) -> dict:
  train_path, test_path = os.path.join(root, "train.npz"), os.path.join(root, "test.npz")
  write_data(train_path, 100, 40, 8000)
  write_data(test_path, 200, 10, 8000)
  cfg = Config(
    workdir=os.path.join(root, f"run{seed}"),
    data=train_path,
    eval_data=test_path,
    lstm_layers=2,
    lstm_units=32,
    dense_units=32,
    mixtures=6,
    batch_size=32,
    bptt_steps=50,
    train_steps=steps,
    window=WINDOW,
    eval_windows=64,
    log_every=500,
    eval_every=steps,
    checkpoint_every=steps,
    seed=seed,
  )
  cfg = dataclasses.replace(cfg, **overrides)
  gen = api.train(cfg)
  fake = np.asarray(
    gen.sample(jax.random.key(seed), NUM_WINDOWS, WINDOW, weight_temperature=cfg.weight_temperature)
  )
  with np.load(test_path) as f:
    real = windows.random_windows(list(f["x"]), NUM_WINDOWS, WINDOW, np.random.default_rng(seed))
  real, fake = gen.normaliser.normalise(real), gen.normaliser.normalise(fake)
  return {
    "bench": "regime_switching",
    "seed": seed,
    "steps": steps,
    **overrides,
    **stats.regime(real, fake),
    "feature_judge_score": features.feature_scores(real, fake, seeds=(seed,))[0],
  }


def _value(text: str):
  if text.lower() in ("true", "false"):
    return text.lower() == "true"
  for cast in (int, float):
    try:
      return cast(text)
    except ValueError:
      pass
  return text


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=3000)
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
  args = p.parse_args()
  overrides = {k: _value(v) for k, v in (s.split("=", 1) for s in args.set)}
  rows = []
  with tempfile.TemporaryDirectory() as root:
    for seed in args.seeds:
      rows.append(run(seed, args.steps, overrides, root))
      print(json.dumps(rows[-1]), flush=True)
  keys = ("quiet_share_real", "quiet_share_synthetic", "window_std_ks", "feature_judge_score")
  print(
    json.dumps(
      {
        "bench": "regime_switching_summary",
        "seeds": args.seeds,
        **overrides,
        **{
          k: {
            "mean": float(np.mean([r[k] for r in rows])),
            "std": float(np.std([r[k] for r in rows])),
          }
          for k in keys
        },
      }
    )
  )


if __name__ == "__main__":
  main()
