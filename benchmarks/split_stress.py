"""Robustness, not speed: the data-parallel train step on 2 CPU devices of one process
(`--cpu_devices`), dispatched as fast as the host can feed it, as the trainer does (no
waiting for results), for `--steps` steps of `har_quick.flags`' generator on noise.

  python benchmarks/split_stress.py --steps 10000 [--unbounded]

With `--unbounded` the step does not wait for the previous one, as before 2026-11-29
(session 13): XLA:CPU's all-reduce then waits forever and XLA aborts the process after its
40 s rendezvous timeout. Prints progress every 2,000 steps on stderr, then one JSON line.
"""

import argparse
import json
import sys
import time

import _common
import jax
import numpy as np

from sensegen import models
from sensegen import parallel
from sensegen import steps


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--steps", type=int, default=10000)
  p.add_argument("--unbounded", action="store_true")
  args = p.parse_args()
  parallel.split_cpu(2)
  gen = models.Generator(
    channels=1, lstm_layers=2, lstm_units=64, dense_units=64, mixtures=8, lstm_impl="fused"
  )
  tx = steps.make_optimizer(3e-3, 0.95, 1.0, "adam")
  x0 = np.zeros((1, 2, 1), np.float32)
  ts = jax.jit(
    lambda: steps.create_train_state(jax.random.key(0), gen, (gen.zero_state(1), x0), tx)
  )()
  mesh = parallel.make_mesh()
  step = parallel.make_parallel_generator_step(gen, mesh, bounded=not args.unbounded)
  ts, rnn = parallel.replicate(ts, mesh), parallel.shard_rnn_state(gen.zero_state(32), mesh)
  rng = np.random.default_rng(0)
  start = time.perf_counter()
  for i in range(args.steps):
    x = rng.normal(size=(32, 51, 1)).astype(np.float32)
    batch = {"inputs": x[:, :-1], "targets": x[:, 1:], "reset": np.zeros(32, bool)}
    ts, rnn, metrics = step(ts, rnn, parallel.shard_batch(batch, mesh))
    if i % 2000 == 0:
      print(f"step {i}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
  result = {
    "bench": "split_stress",
    "steps": args.steps,
    "bounded": not args.unbounded,
    "devices": jax.device_count(),
    "train_nll": float(metrics["train_nll"]),
    "seconds": time.perf_counter() - start,
    "allocator": _common.allocator.loaded(),
  }
  print(json.dumps(result), flush=True)


if __name__ == "__main__":
  main()
