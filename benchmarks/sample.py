"""Speed of autoregressive sampling (`sensegen.sampling.sample`, one jitted `lax.scan`).

  python benchmarks/sample.py --num 256 --length 400 --iters 3

Prints one JSON line: `samples_per_s` (series of the given length per second),
`timesteps_per_s`, `compile_s`, `median_s`, `min_s` and the configuration.
"""

import statistics
import time

import _common
import jax

from sensegen import sampling


def main():
  p = _common.model_parser(__doc__)
  p.add_argument("--num", type=int, default=256, help="samples drawn at once (batch)")
  p.add_argument("--length", type=int, default=400, help="time steps per sample")
  p.add_argument("--iters", type=int, default=3)
  p.add_argument(
    "--burn_in",
    type=int,
    default=0,
    help="steps discarded first (0: the PyTorch reference's work; the library defaults to 1000)",
  )
  args = p.parse_args()

  gen = _common.generator(args)
  variables = jax.jit(gen.init)(
    jax.random.key(0), gen.zero_state(1), jax.numpy.zeros((1, 2, args.channels))
  )
  key = jax.random.key(1)
  start = time.perf_counter()
  draw = sampling.sample_jit.lower(
    gen, variables, key, args.num, args.length, burn_in=args.burn_in
  ).compile()
  compile_s = time.perf_counter() - start

  draw(variables, key)  # first run: allocations
  wall, cpu = _common.time_calls(lambda: draw(variables, key), args.iters)
  median = statistics.median(wall)
  _common.report(
    {
      "bench": "sample",
      "num": args.num,
      "length": args.length,
      "burn_in": args.burn_in,
      **_common.model_config(args),
      "samples_per_s": args.num / median,
      "timesteps_per_s": args.num * args.length / median,
      "compile_s": compile_s,
    },
    wall,
    cpu,
  )


if __name__ == "__main__":
  main()
