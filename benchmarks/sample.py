"""Speed of autoregressive sampling (`sensegen.sampling.sample`, one jitted `lax.scan`).

  python benchmarks/sample.py --num 256 --length 400 --iters 3
  python benchmarks/sample.py --num 1 --matvec_floor   # the LSTM matmuls alone

Prints one JSON line: `samples_per_s` (series of the given length per second),
`timesteps_per_s`, `compile_s`, `median_s`, `min_s` and the configuration.
`--matvec_floor` times a scan that does only the stack's per-step matmuls, with the same
weights and shapes (no gates, no MDN head, no draw): what the sampler cannot beat at f32.
"""

import statistics
import time

import _common
import jax
import jax.numpy as jnp

from sensegen import sampling


def _matvecs_only(variables, num: int, length: int):
  """`length` steps of only the stack's matmuls `[num, I + H] @ [I + H, 4H]` (a cheap
  nonlinearity keeps XLA from folding them away)."""
  lstm = variables["params"]["lstm"]
  kernels = [lstm[f"kernel_{i}"] for i in range(len(lstm) // 2)]
  units = kernels[0].shape[1] // 4

  def step(h, _):
    x = h[:, : kernels[0].shape[0] - units]
    for kernel in kernels:
      x = jnp.tanh((jnp.concatenate([x, h], axis=-1) @ kernel)[:, :units])
    return x, None

  return jax.lax.scan(step, jnp.zeros((num, units)), None, length=length)[0]


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
  p.add_argument(
    "--matvec_floor", action="store_true", help="time the per-step matmuls alone (see above)"
  )
  args = p.parse_args()

  gen = _common.generator(args)
  variables = jax.jit(gen.init)(
    jax.random.key(0), gen.zero_state(1), jax.numpy.zeros((1, 2, args.channels))
  )
  key = jax.random.key(1)
  start = time.perf_counter()
  if args.matvec_floor:
    floor = jax.jit(_matvecs_only, static_argnums=(1, 2)).lower(variables, args.num, args.length)
    draw = floor.compile()
    run = lambda: draw(variables)
  else:
    draw = sampling.sample_jit.lower(
      gen, variables, key, args.num, args.length, burn_in=args.burn_in
    ).compile()
    run = lambda: draw(variables, key)
  compile_s = time.perf_counter() - start

  run()  # first run: allocations
  wall, cpu = _common.time_calls(run, args.iters)
  median = statistics.median(wall)
  _common.report(
    {
      "bench": "sample_matvec_floor" if args.matvec_floor else "sample",
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
