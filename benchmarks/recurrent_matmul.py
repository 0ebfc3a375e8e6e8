"""The LSTM's per-step recurrent matmul alone, as a train step runs it: a `--steps`-step
`lax.scan` of `[B, 2H] x [2H, 4H]` (the paper's H = 256), each step's output feeding the
next. `--layout col` computes `W^T @ h` (`[4H, 2H] x [2H, B]`, the state kept transposed)
instead of `h @ W`. Pin it to one core with `taskset -c 0` to see what XLA's threads add.

  python benchmarks/recurrent_matmul.py --batch 32 [--layout row|col --steps 100 --iters 30]

Prints one JSON line: `gflops` (the scan's matmul FLOPs per second) and the timing.
"""

import argparse

import _common
import jax
import jax.numpy as jnp


def scan_matmuls(layout: str, steps: int, units: int):
  """A jitted scan of `steps` dependent matmuls in `layout` ("row" or "col")."""

  def row(kernel, h):
    step = lambda h, _: (jnp.tanh((h @ kernel)[:, : 2 * units]), None)
    return jax.lax.scan(step, h, None, length=steps)[0]

  def col(kernel_t, h_t):
    step = lambda h, _: (jnp.tanh((kernel_t @ h)[: 2 * units]), None)
    return jax.lax.scan(step, h_t, None, length=steps)[0]

  return jax.jit(row if layout == "row" else col)


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--layout", choices=("row", "col"), default="row")
  p.add_argument("--steps", type=int, default=100)
  p.add_argument("--units", type=int, default=256)
  p.add_argument("--iters", type=int, default=30)
  args = p.parse_args()
  h = args.units
  kernel = jax.random.normal(jax.random.key(0), (2 * h, 4 * h)) * 0.03
  state = jax.random.normal(jax.random.key(1), (args.batch, 2 * h))
  if args.layout == "col":
    kernel, state = kernel.T, state.T
  fn = scan_matmuls(args.layout, args.steps, h)
  jax.block_until_ready(fn(kernel, state))
  wall, cpu = _common.time_calls(lambda: fn(kernel, state), args.iters)
  flops = 2 * args.batch * (2 * h) * (4 * h) * args.steps
  median = sorted(wall)[len(wall) // 2]
  _common.report(
    {
      "bench": "recurrent_matmul",
      "layout": args.layout,
      "batch": args.batch,
      "T": args.steps,
      "units": h,
      "gflops": flops / median / 1e9,
    },
    wall,
    cpu,
  )


if __name__ == "__main__":
  main()
