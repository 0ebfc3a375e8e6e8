"""fp32 matmul throughput of this machine through XLA: the ceiling for the LSTM's matmuls.

  python benchmarks/matmul_peak.py --n 2048 --iters 20

Prints one JSON line with `gflops` (median) and `best_gflops` (fastest call).
"""

import argparse
import statistics

import _common
import jax
import jax.numpy as jnp


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--n", type=int, default=2048, help="square matrix size")
  p.add_argument("--iters", type=int, default=20)
  p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
  args = p.parse_args()

  a_key, b_key = jax.random.split(jax.random.key(0))
  a = jax.random.normal(a_key, (args.n, args.n), args.dtype)
  b = jax.random.normal(b_key, (args.n, args.n), args.dtype)
  matmul = jax.jit(jnp.matmul)
  matmul(a, b).block_until_ready()  # compile
  wall, cpu = _common.time_calls(lambda: matmul(a, b), args.iters)
  flops = 2 * args.n**3
  _common.report(
    {
      "bench": "matmul",
      "n": args.n,
      "dtype": args.dtype,
      "gflops": flops / statistics.median(wall) / 1e9,
      "best_gflops": flops / min(wall) / 1e9,
    },
    wall,
    cpu,
  )


if __name__ == "__main__":
  main()
