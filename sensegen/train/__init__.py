"""Training: the host loop that drives the jitted steps of `sensegen.steps`.

  setup        prepare(cfg): checks, data, run files, restored state, the generator step
  loop         Trainer: generator steps with logging, evaluation, checkpoints, stopping
  position     Position: where the loop stands (the checkpoint's JSON)
  outputs      metrics.jsonl, TensorBoard, progress lines, figures
  schedule     the Schedule interface and what schedules share
  nll, alternating, adversarial   one schedule each

This module is the one place that maps a `--schedule` name to its schedule.
"""

from sensegen import input_pipeline
from sensegen.train.adversarial import AdversarialSchedule
from sensegen.train.alternating import AlternatingSchedule
from sensegen.train.nll import NllSchedule

SCHEDULES = {
  "nll": NllSchedule,
  "alternating": AlternatingSchedule,
  "adversarial": AdversarialSchedule,
}


def schedule_class(name: str) -> type:
  """The `Schedule` subclass of `--schedule=name` (a name `config.validate` accepted)."""
  return SCHEDULES[name]


def fitting_schedule(cfg, model):
  """The schedule of a trained run over its training data, for fitting a weight temperature
  or critic to a generator `model` of the run after training (`--mode=calibrate`)."""
  return schedule_class(cfg.schedule)(cfg, input_pipeline.load_for_training(cfg), model)
