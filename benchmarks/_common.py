"""Shared flags and timing of the benchmark scripts (not a test: prints, asserts nothing)."""

import argparse
import json
import os
import statistics
import sys
import time

# Run from a fresh clone without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sensegen import allocator  # pylint: disable=g-import-not-at-top

# As the launcher does: under tcmalloc where it is installed, before JAX loads
# (SENSEGEN_TCMALLOC=0 for glibc's malloc).
allocator.reexec_under_tcmalloc()

import jax  # noqa: E402
import numpy as np  # noqa: E402

from sensegen import config  # noqa: E402
from sensegen import models  # noqa: E402
from sensegen import steps  # noqa: E402


def model_parser(description: str) -> argparse.ArgumentParser:
  """A parser with the generator's size flags; defaults are the paper's model."""
  p = argparse.ArgumentParser(description=description)
  p.add_argument("--layers", type=int, default=3)
  p.add_argument("--units", type=int, default=256)
  p.add_argument("--dense", type=int, default=128)
  p.add_argument("--mixtures", type=int, default=24)
  p.add_argument("--channels", type=int, default=1)
  return p


def generator(args) -> models.Generator:
  return models.Generator(
    channels=args.channels,
    lstm_layers=args.layers,
    lstm_units=args.units,
    dense_units=args.dense,
    mixtures=args.mixtures,
    lstm_impl=getattr(args, "impl", config.DEFAULT_LSTM_IMPL),
  )


def train_inputs(args, gen: models.Generator) -> tuple:
  """(batch, train state, zero recurrent state) of a generator step at `[args.batch,
  args.steps]` on Gaussian noise, RMSProp with clipping, the timing scripts' common input."""
  x = np.random.default_rng(0).normal(size=(args.batch, args.steps + 1, args.channels))
  x = x.astype(np.float32)
  batch = jax.device_put(
    {"inputs": x[:, :-1], "targets": x[:, 1:], "reset": np.zeros(args.batch, bool)}
  )
  tx = steps.make_optimizer(1e-3, 0.9, 1.0)
  # Jitted: an eager init compiles every initialiser op by op.
  ts = jax.jit(lambda key: steps.create_train_state(key, gen, (gen.zero_state(1), x[:1, :2]), tx))(
    jax.random.key(0)
  )
  return batch, ts, gen.zero_state(args.batch)


def model_config(args) -> dict:
  return {k: getattr(args, k) for k in ("layers", "units", "dense", "mixtures", "channels")}


def time_calls(fn, iters: int) -> tuple:
  """Wall and process-CPU seconds of `iters` calls of `fn()`, each waited for.

  CPU seconds count every thread of this process: on a shared machine, wall time well
  above CPU time / cores means other jobs took the cores.
  """
  wall, cpu = [], []
  for _ in range(iters):
    start, start_cpu = time.perf_counter(), time.process_time()
    jax.block_until_ready(fn())
    wall.append(time.perf_counter() - start)
    cpu.append(time.process_time() - start_cpu)
  return wall, cpu


def report(result: dict, wall: list, cpu: list) -> None:
  """Adds the timing summary (from `time_calls`) and the platform; prints one JSON line."""
  result.update(
    median_s=statistics.median(wall),
    min_s=min(wall),
    wall_s=wall,
    iters=len(wall),
    median_cpu_s=statistics.median(cpu),
    jax=jax.__version__,
    backend=jax.default_backend(),
    devices=jax.device_count(),
    ld_preload=os.environ.get("LD_PRELOAD", ""),
    allocator=allocator.loaded(),
  )
  print(json.dumps(result), flush=True)
