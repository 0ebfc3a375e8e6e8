"""Data parallelism over a 1-D device mesh with `jax.sharding`.

Batches `[B, ...]` and the recurrent state `[layers, 2, B, H]` are split along B over
the mesh axis "data"; parameters and optimiser state are replicated, so XLA adds the
gradient all-reduce and every device applies the same update.

Multi-host: call `jax.distributed.initialize(...)` before anything else touches JAX;
`make_mesh()` then spans every process's devices, and each process passes only its
own rows to `shard_batch`/`shard_rnn_state` (global B = rows per process x processes).
"""

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from sensegen import errors
from sensegen import steps

AXIS = "data"


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
  """A full copy of `tree` (parameters, train state) on every device of `mesh`."""
  return jax.device_put(tree, replicated(mesh))


def make_parallel_generator_step(model, mesh: Mesh):
  """`steps.make_generator_step(model)`, data-parallel over `mesh`.

  Same signature, (train_state, rnn_state, batch) -> (train_state, rnn_state, metrics),
  with the train state and metrics replicated and rnn_state/batch split along B.
  Inputs not yet placed are placed by jit; a batch that does not split evenly raises
  ConfigError instead of XLA's sharding error.
  """
  step = jax.jit(
    steps.make_generator_step(model),
    in_shardings=(replicated(mesh), rnn_state_sharding(mesh), batch_sharding(mesh)),
    out_shardings=(replicated(mesh), rnn_state_sharding(mesh), replicated(mesh)),
    donate_argnums=(0, 1),
  )

  def parallel_step(ts, rnn_state, batch):
    check_batch_size(batch["inputs"].shape[0], mesh.size)
    return step(ts, rnn_state, batch)

  return parallel_step
