"""Where a train step's time goes: forward (loss only), forward + backward, and the whole
step (+ clipping and RMSProp), for this project's generator or the PyTorch reference.

  python benchmarks/train_phases.py --batch 32 --steps 100
  /path/to/torch/python benchmarks/train_phases.py --batch 32 --steps 100 \
      --torch_ref ../shared/bench/torch_ref.py

Prints one JSON line of median milliseconds: `forward_ms`, `forward_backward_ms`,
`step_ms`. The backward's share is `forward_backward_ms - forward_ms`. PyTorch's forward
is timed as in training (building the autograd graph); `forward_inference_ms` adds its
no-grad forward. The JAX side runs under tcmalloc where installed, as the other scripts
(`SENSEGEN_TCMALLOC=0`: glibc); the line names the allocator each ran under. The model
size flags apply to JAX only: the PyTorch reference is the paper's model.
"""

import argparse
import importlib.util
import json
import os
import platform
import statistics
import sys
import time

# Run from a fresh clone without installing the package; `allocator` and `precision` import
# nothing heavy, so the PyTorch side needs no JAX.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sensegen import allocator  # noqa: E402
from sensegen import precision  # noqa: E402


def _cpu() -> str:
  """The CPU's model name and its AVX-512 / bf16 flags (/proc/cpuinfo on Linux)."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      info = f.read()
  except OSError:
    return platform.machine()
  name = next((l.partition(":")[2].strip() for l in info.splitlines() if "model name" in l), "")
  extras = sorted(precision.cpu_flags(info) & ({"avx512f"} | precision.BF16_CPU_FLAGS))
  return f"{name} ({', '.join(extras) or 'no avx512/bf16'})"


def _median_ms(fn, iters: int, warmup: int = 3) -> float:
  for _ in range(warmup):
    fn()
  wall = []
  for _ in range(iters):
    start = time.perf_counter()
    fn()
    wall.append(time.perf_counter() - start)
  return statistics.median(wall) * 1e3


def jax_phases(args) -> dict:
  """This project's generator (size flags of `_common`) at `[args.batch, args.steps]`."""
  import _common  # pylint: disable=import-outside-toplevel  (re-executes under tcmalloc)
  import jax  # pylint: disable=import-outside-toplevel

  from sensegen import steps  # pylint: disable=import-outside-toplevel

  gen = _common.generator(args)
  data, ts, rnn = _common.train_inputs(args, gen)
  loss = lambda p: steps.sequence_nll(gen, p, rnn, data["inputs"], data["targets"])[0]
  forward, grad = jax.jit(loss), jax.jit(jax.value_and_grad(loss))
  train_step = steps.make_generator_step(gen)
  carry = {"ts": ts, "rnn": rnn}

  def one_step():
    carry["ts"], carry["rnn"], metrics = train_step(carry["ts"], carry["rnn"], data)
    return jax.block_until_ready(metrics)

  params = ts.params
  return {
    "framework": "jax",
    "version": jax.__version__,
    "impl": args.impl,
    **_common.model_config(args),
    "forward_ms": _median_ms(lambda: jax.block_until_ready(forward(params)), args.iters),
    "forward_backward_ms": _median_ms(lambda: jax.block_until_ready(grad(params)), args.iters),
    "step_ms": _median_ms(one_step, args.iters),
  }


def torch_phases(batch: int, steps_: int, iters: int, ref_path: str) -> dict:
  """`torch_ref.py`'s generator, loss and optimiser at `[batch, steps_]`."""
  import torch  # pylint: disable=import-outside-toplevel

  spec = importlib.util.spec_from_file_location("torch_ref", ref_path)
  ref = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(ref)
  torch.manual_seed(0)
  model = ref.Generator()
  opt = torch.optim.RMSprop(model.parameters(), lr=1e-3)
  x = torch.randn(batch, steps_ + 1, 1)
  inputs, targets = x[:, :-1].contiguous(), x[:, 1:, 0].contiguous()
  state = (torch.zeros(ref.LAYERS, batch, ref.H), torch.zeros(ref.LAYERS, batch, ref.H))
  forward = lambda: ref.mdn_nll(model(inputs, state)[0], targets)

  def inference():
    with torch.no_grad():
      forward()

  def forward_backward():
    opt.zero_grad(set_to_none=True)
    forward().backward()

  def one_step():
    forward_backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

  return {
    "framework": "torch",
    "version": torch.__version__,
    "forward_ms": _median_ms(forward, iters),
    "forward_inference_ms": _median_ms(inference, iters),
    "forward_backward_ms": _median_ms(forward_backward, iters),
    "step_ms": _median_ms(one_step, iters),
  }


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
  for name, default in (("layers", 3), ("units", 256), ("dense", 128), ("mixtures", 24)):
    p.add_argument(f"--{name}", type=int, default=default, help="JAX model size")
  p.add_argument("--channels", type=int, default=1)
  p.add_argument("--batch", type=int, default=32)
  p.add_argument("--steps", type=int, default=100, help="BPTT window T")
  p.add_argument("--iters", type=int, default=20)
  p.add_argument("--impl", default="fused", help="JAX LSTM implementation (`lstm.IMPLS`)")
  p.add_argument("--torch_ref", default="", help="time torch_ref.py's generator instead")
  args = p.parse_args()
  if args.torch_ref:
    result = torch_phases(args.batch, args.steps, args.iters, args.torch_ref)
  else:
    result = jax_phases(args)
  print(
    json.dumps(
      {
        "bench": "train_phases",
        "batch": args.batch,
        "T": args.steps,
        "iters": args.iters,
        "cpu": _cpu(),
        "ld_preload": os.environ.get("LD_PRELOAD", ""),
        "allocator": allocator.loaded(),
        **result,
      }
    )
  )


if __name__ == "__main__":
  main()
