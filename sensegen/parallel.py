"""Data parallelism over a 1-D device mesh with `jax.sharding`.

Batches `[B, ...]` and the recurrent state `[layers, 2, B, H]` are split along B over
the mesh axis "data"; parameters and optimiser state are replicated, so XLA adds the
gradient all-reduce and every device applies the same update.

On one CPU host, a single process can split its cores into as many JAX devices
(`split_cpu`, before JAX starts its backend): the same data parallelism then runs each
device's share of the batch on one core, which measured faster than XLA's threading of
the small per-step matmuls over the cores (`--cpu_devices`, the launcher's default).

Several processes (hosts, or CPU processes on one machine): `initialize` before anything
else touches JAX; `make_mesh()` then spans every process's devices, and each process
passes only its own rows (`local_rows`) to `shard_batch`/`shard_rnn_state`.
"""

import os

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from sensegen import errors
from sensegen import steps

AXIS = "data"
# `--coordinator_address` value that lets JAX find the cluster (SLURM, Cloud TPU, Kubernetes).
AUTO = "auto"


def initialize(coordinator_address: str, num_processes: int, process_id: int) -> None:
  """Joins a multi-process job; CPU processes exchange gradients over gloo (TCP)."""
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  if coordinator_address == AUTO:
    jax.distributed.initialize()
  else:
    jax.distributed.initialize(coordinator_address, num_processes, process_id)


# The fewest rows of the batch a split CPU device gets: what was measured to pay (16-128).
MIN_ROWS_PER_CPU_DEVICE = 16


def cpu_devices_for(batch_size: int, cores: int) -> int:
  """The most CPU devices, at most `cores`, that divide `batch_size` into shares of at
  least `MIN_ROWS_PER_CPU_DEVICE` rows (1: no split)."""
  fits = [
    k
    for k in range(1, max(cores, 1) + 1)
    if batch_size % k == 0 and batch_size // k >= MIN_ROWS_PER_CPU_DEVICE
  ]
  return max(fits, default=1)


def available_cores() -> int:
  """The cores this process may run on (its CPU affinity, e.g. under `taskset`)."""
  return len(os.sched_getaffinity(0))


def split_cpu(devices: int) -> None:
  """Makes the host CPU `devices` JAX devices; call before JAX starts its backend. Other
  backends (a GPU) stay the default and are unaffected."""
  if devices > 1:
    jax.config.update("jax_num_cpu_devices", devices)


def local_rows(batch_size: int) -> slice:
  """This process's rows of a global batch of `batch_size` (all of them with one process)."""
  rows = batch_size // jax.process_count()
  return slice(jax.process_index() * rows, (jax.process_index() + 1) * rows)


def any_process(flag: bool) -> bool:
  """Whether `flag` holds on any process (a collective: every process must call it)."""
  if jax.process_count() == 1:
    return flag
  return bool(np.any(multihost_utils.process_allgather(np.int32(flag))))


def make_mesh(devices=None) -> Mesh:
  """A 1-D mesh named "data" over `devices` (default: all devices of all processes)."""
  return Mesh(np.asarray(jax.devices() if devices is None else devices), (AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the mesh."""
  return NamedSharding(mesh, P(AXIS))


def rnn_state_sharding(mesh: Mesh) -> NamedSharding:
  """`[layers, 2, B, H]` split along B (axis 2)."""
  return NamedSharding(mesh, P(None, None, AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, num_devices: int) -> None:
  """Raises ConfigError unless `batch_size` splits evenly over `num_devices`."""
  if batch_size % num_devices:
    raise errors.ConfigError(
      f"batch size {batch_size} is not divisible by the {num_devices} devices of the "
      f"data-parallel mesh; use a multiple of {num_devices}"
    )


def _from_local_rows(x, sharding: NamedSharding, axis: int):
  """This process's rows of a global array -> the global array placed with `sharding`."""
  check_batch_size(x.shape[axis], len(sharding.mesh.local_devices))
  return jax.make_array_from_process_local_data(sharding, np.asarray(x))


def shard_batch(batch, mesh: Mesh):
  """Splits every leaf `[B, ...]` of `batch` (e.g. inputs, targets, reset, labels) over "data"."""
  return jax.tree.map(lambda x: _from_local_rows(x, batch_sharding(mesh), 0), batch)


def shard_rnn_state(state, mesh: Mesh):
  """Splits a recurrent state `[layers, 2, B, H]` along B over "data"."""
  return _from_local_rows(state, rnn_state_sharding(mesh), 2)


def replicate(tree, mesh: Mesh):
  """A full copy of `tree` (parameters, train state) on every device of `mesh`; every
  process passes the same values. (Through host memory: with several processes,
  `device_put` of a device array makes an array Orbax cannot save.)"""
  return jax.device_put(jax.device_get(tree), replicated(mesh))


def place_state(state, batch_size: int, mesh: Mesh):
  """A fresh `experiment.RunState` on `mesh`: train states replicated, the recurrent state
  `[layers, 2, batch_size, H]` split along the batch (this process's rows)."""
  rnn = np.asarray(state.rnn)[:, :, local_rows(batch_size)]
  trains = {k: v for k, v in state.tree().items() if k != "rnn"}
  return type(state).from_tree({**replicate(trains, mesh), "rnn": shard_rnn_state(rnn, mesh)})


def make_parallel_generator_step(model, mesh: Mesh, bounded: bool = True):
  """`steps.make_generator_step(model)`, data-parallel over `mesh`.

  Same signature, (train_state, rnn_state, batch) -> (train_state, rnn_state, metrics),
  with the train state and metrics replicated and rnn_state/batch split along B. Each
  device runs the step on its rows and the gradients are averaged once, after the
  backward pass (left to XLA, the all-reduce lands inside the time loop: one per step of
  every layer). A batch that does not split evenly raises ConfigError. On CPU devices
  each call first waits for the previous call's step (`bounded`; False only to show why,
  `benchmarks/split_stress.py`).
  """
  mean = lambda loss_and_grads: jax.lax.pmean(loss_and_grads, AXIS)
  split = P(None, None, AXIS)
  step = jax.jit(
    jax.shard_map(
      steps.generator_step(model, mean),
      mesh=mesh,
      in_specs=(P(), split, P(AXIS)),
      out_specs=(P(), split, P()),
      # The fused LSTM's custom VJP does not track which values vary over devices.
      check_vma=False,
    ),
    donate_argnums=(0, 1),
  )

  # XLA:CPU's all-reduce can wait forever when several steps are queued on split CPU
  # devices (it aborted at its 40 s rendezvous timeout within 2,000 steps, every time);
  # with at most the previous step still running it did not (`benchmarks/split_stress.py`).
  on_cpu = all(d.platform == "cpu" for d in mesh.devices.flat)
  previous = [] if bounded and on_cpu else None

  def parallel_step(ts, rnn_state, batch):
    check_batch_size(batch["inputs"].shape[0], mesh.size)
    ts, rnn_state, metrics = step(ts, rnn_state, batch)
    if previous is not None:
      if previous:
        jax.block_until_ready(previous.pop())
      previous.append(metrics)
    return ts, rnn_state, metrics

  return parallel_step
