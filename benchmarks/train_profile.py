"""Where a JAX train step's time goes, op by op: a `jax.profiler` trace of the generator
step, summed per XLA op (no xprof or TensorBoard needed).

  python benchmarks/train_profile.py --batch 32 --steps 100 [--iters 5 --top 25]

Runs `--iters` steps under `jax.profiler.trace(..., create_perfetto_trace=True)`, reads the
Perfetto JSON it writes and prints one JSON line per op, most time first: milliseconds and
calls per train step and the name XLA gave the op. `ThunkExecutor::Execute (wait for
completion)` is the whole step; `while.N` are the scans, whose bodies' ops are listed too,
so lines overlap; `ynn_fusion.N` are the matmuls XLA hands to YNNPACK. The trace adds
overhead: compare shares, not totals, with `train_phases.py`.
"""

import collections
import glob
import gzip
import json
import os
import tempfile

import _common
import jax

from sensegen import allocator
from sensegen import config
from sensegen import steps


def per_op_ms(trace_dir: str, iters: int) -> list:
  """[(op, ms per train step, calls per train step)] of the Perfetto trace under
  `trace_dir`, most time first."""
  (path,) = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
  with gzip.open(path, "rt", encoding="utf-8") as f:
    trace = json.load(f)
  events = trace["traceEvents"] if isinstance(trace, dict) else trace
  total, calls = collections.Counter(), collections.Counter()
  for e in events:
    # Complete events ("X": one call, `dur` in microseconds); "$..." are Python frames.
    if e.get("ph") == "X" and not e["name"].startswith("$"):
      total[e["name"]] += e.get("dur", 0)
      calls[e["name"]] += 1
  return [(name, us / 1e3 / iters, calls[name] / iters) for name, us in total.most_common()]


def main():
  p = _common.model_parser(__doc__)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--steps", type=int, default=100, help="BPTT window T")
  p.add_argument("--impl", default=config.DEFAULT_LSTM_IMPL)
  p.add_argument("--iters", type=int, default=5)
  p.add_argument("--top", type=int, default=25)
  args = p.parse_args()
  gen = _common.generator(args)
  batch, ts, rnn = _common.train_inputs(args, gen)
  train_step = steps.make_generator_step(gen)
  for _ in range(3):  # Compile and warm up outside the trace.
    ts, rnn, metrics = train_step(ts, rnn, batch)
    jax.block_until_ready(metrics)
  with tempfile.TemporaryDirectory() as trace_dir:
    with jax.profiler.trace(trace_dir, create_perfetto_trace=True):
      for _ in range(args.iters):
        ts, rnn, metrics = train_step(ts, rnn, batch)
        jax.block_until_ready(metrics)
    ops = per_op_ms(trace_dir, args.iters)
  line = {"bench": "train_profile", "batch": args.batch, "T": args.steps, "impl": args.impl}
  line["allocator"] = allocator.loaded()
  for name, ms, n in ops[: args.top]:
    print(json.dumps({**line, "op": name, "ms_per_step": round(ms, 3), "calls_per_step": n}))


if __name__ == "__main__":
  main()
