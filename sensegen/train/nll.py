"""`--schedule=nll`: generator steps on the NLL alone, `--train_steps` of them."""

from sensegen.train.schedule import Schedule


class NllSchedule(Schedule):
  """Teacher-forced truncated-BPTT NLL training of the generator."""

  def total_steps(self) -> int:
    return self.cfg.train_steps

  def run(self, trainer, state, position) -> bool:
    return trainer.generator_steps(state, position, self.cfg.train_steps)
