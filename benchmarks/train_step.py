"""Speed of one generator train step (forward + NLL + backward + clip + RMSProp).

  python benchmarks/train_step.py --batch 128 --steps 100 --iters 10 [--impl scan|fused|bf16]

As the launcher trains with `--cpu_devices`: on a CPU host the batch is split over that many
CPU devices (default 0, the launcher's default: `parallel.cpu_devices_for` the cores
available; 1: one device). Prints one JSON line: `timesteps_per_s` (B*T per second),
`achieved_gflops` (the FLOP count of `../shared/bench/torch_ref.py`'s `train_flops`, for
the configured size), `compile_s`, `median_s`, `min_s`, `cpu_devices` and the
configuration.
"""

import statistics
import time

import _common

import jax

from sensegen import config
from sensegen import lstm
from sensegen import parallel
from sensegen import steps


def train_flops(layers, units, dense, mixtures, channels, batch, steps) -> float:
  """3x the forward matmul FLOPs (forward + two backward matmuls), as torch_ref.py counts."""
  recurrent = 2 * 4 * units * (channels + units) + (layers - 1) * 2 * 4 * units * (2 * units)
  heads = 2 * units * dense + 2 * dense * mixtures * (1 + 2 * channels)
  return 3.0 * (recurrent + heads) * batch * steps


def main():
  p = _common.model_parser(__doc__)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--steps", type=int, default=100, help="BPTT window T")
  p.add_argument("--iters", type=int, default=5)
  p.add_argument(
    "--impl",
    default=config.DEFAULT_LSTM_IMPL,
    choices=sorted(lstm.IMPLS),
    help="LSTM implementation: scan (autodiff), fused (custom VJP), bf16 (default: the launcher's)",
  )
  p.add_argument("--cpu_devices", type=int, default=0, help="0: as the launcher, per core")
  args = p.parse_args()
  cpu_devices = args.cpu_devices or parallel.cpu_devices_for(args.batch, parallel.available_cores())
  parallel.split_cpu(cpu_devices)

  gen = _common.generator(args)
  batch, ts, rnn = _common.train_inputs(args, gen)

  start = time.perf_counter()
  if jax.device_count() > 1:
    mesh = parallel.make_mesh()
    step = parallel.make_parallel_generator_step(gen, mesh)
    batch, rnn = parallel.shard_batch(batch, mesh), parallel.shard_rnn_state(rnn, mesh)
    ts = parallel.replicate(ts, mesh)
    ts, rnn, _ = jax.block_until_ready(step(ts, rnn, batch))  # compiles; donates its state
  else:
    step = steps.make_generator_step(gen).lower(ts, rnn, batch).compile()
  compile_s = time.perf_counter() - start
  carry = {"ts": ts, "rnn": rnn}

  def one_step():
    # The step donates its state: carry the outputs into the next call.
    carry["ts"], carry["rnn"], carry["metrics"] = step(carry["ts"], carry["rnn"], batch)
    return carry["metrics"]

  one_step()  # first run: allocations
  wall, cpu = _common.time_calls(one_step, args.iters)
  median = statistics.median(wall)
  flops = train_flops(
    args.layers, args.units, args.dense, args.mixtures, args.channels, args.batch, args.steps
  )
  _common.report(
    {
      "bench": "train_step",
      "batch": args.batch,
      "T": args.steps,
      "impl": args.impl,
      "cpu_devices": jax.device_count() if jax.default_backend() == "cpu" else 0,
      **_common.model_config(args),
      "timesteps_per_s": args.batch * args.steps / median,
      "achieved_gflops": flops / median / 1e9,
      "gflop_per_step": flops / 1e9,
      "compile_s": compile_s,
      "loss": float(carry["metrics"]["train_nll"]),
    },
    wall,
    cpu,
  )


if __name__ == "__main__":
  main()
