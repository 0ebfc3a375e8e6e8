"""Orbax checkpoints of everything a run needs to continue exactly where it stopped.

A checkpoint is a pytree of arrays (train states, recurrent state) plus a JSON
`meta` dict (step, round, data-stream positions, normaliser, ...). Orbax writes each
step to a temporary directory and renames it when complete, so a kill mid-write
leaves only whole checkpoints; a damaged one is skipped with a warning.
"""

import logging
import os
from typing import Callable, Union

import jax
import orbax.checkpoint as ocp

from sensegen.errors import SenseGenError


class CheckpointError(SenseGenError):
  """No checkpoint of the run could be restored."""


class Checkpointer:
  """Saves and restores (state pytree, meta dict) pairs under `directory`."""

  def __init__(self, directory: str, keep: int = 3):
    self._manager = ocp.CheckpointManager(
      os.path.abspath(directory),
      options=ocp.CheckpointManagerOptions(
        preservation_policy=ocp.checkpoint_managers.LatestN(n=keep),
        create=True,
        enable_async_checkpointing=False,
      ),
    )

  def steps(self) -> list:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state, meta: dict) -> None:
    self._manager.save(
      step,
      args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
      force=True,
    )
    self._manager.wait_until_finished()

  def read_meta(self, step: int) -> dict:
    """The meta dict of checkpoint `step` (without reading its arrays)."""
    restored = self._manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
    return dict(restored["meta"])

  def ids_by_step(self) -> dict:
    """Training step -> the newest checkpoint id saved at it (a round's end and a periodic
    save can share a step)."""
    return {self.read_meta(i)["step"]: i for i in self.steps()}

  def restore(self, step: int, like: Union[Callable, object]) -> tuple:
    """(state, meta) of checkpoint `step`; `like` as for `restore_latest`."""
    tree = like(self.read_meta(step)) if callable(like) else like
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)
    restored = self._manager.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()
      ),
    )
    return restored["state"], dict(restored["meta"])

  def restore_latest(self, like: Union[Callable, object]):
    """The newest restorable checkpoint as (step, state, meta), or None if there is none.

    `like` is a pytree of the same structure as the saved state (e.g. a fresh one), or a
    function of a checkpoint's meta dict returning it (for states whose structure varies).
    Checkpoints that fail to restore are skipped with a warning, newest first.
    """
    steps = self.steps()
    for step in reversed(steps):
      try:
        return (step, *self.restore(step, like))
      except Exception as err:  # Orbax raises many types for damaged files.
        logging.warning(
          "checkpoint %d is damaged (%s: %s); trying an older one",
          step,
          type(err).__name__,
          str(err).splitlines()[0][:200],
        )
    if steps:
      raise CheckpointError(
        f"none of the checkpoints {steps} in {self._manager.directory} could be restored"
      )
    return None

  def close(self) -> None:
    self._manager.close()
