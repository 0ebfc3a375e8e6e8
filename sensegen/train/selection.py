"""Which of a run's generators it samples with (`--select_generator`).

Why: the generator at the end of training is not reliably the best sampler. For three seeds
of `har_quick`, the round-start generator whose weight-temperature fit matched the training
windows best gave windows closer to held-out data than the last one on every measure the
report has (README, "Choosing the generator"); for one seed the last generator drew 2% quiet
windows against 22% real. `best_fit` keeps, among the generators fitted during training (at
each discriminator phase and at the end), the one with the lowest window-std KS against
training windows; held-out data is not used. The kept params and their fit live in the run
state and the checkpoint, so a resumed run keeps the same one. `best_judge` ranks the
candidates by what the evaluation's feature judge (`evaluate.features`) makes of their
fitted windows against the same training windows instead: on two CPUs, three seeds each,
it gave a lower discriminative score than `best_fit` (README, "The same job on another
CPU"); the KS alone can prefer an early generator fitted at an extreme weight temperature.

Picking stays a choice among noisy scores of a generator that wanders from round to round.
`average` (the default) keeps the mean of the params every `--average_every` steps of the
run's second half instead, which on three seeds scored lower than every pick (README,
"Averaging generators instead of picking one").
"""

import jax
import jax.numpy as jnp

from sensegen.config import Config

# What each picking criterion minimises: a key of the fit (`Schedule.fit_weight_temperature`);
# `average` keeps a mean instead (`add_to_average`).
CRITERIA = {"best_fit": "window_std_ks", "best_judge": "judge_score"}


def consider(cfg: Config, state, position, fit: dict) -> bool:
  """Keeps `state.g.params` as the run's generator (in `state.best`, its fit in
  `position.best`) if `fit` (`Schedule.fit_weight_temperature`'s result for them) beats
  the one kept so far on the `--select_generator` criterion; ties keep the earlier.
  Returns whether it was kept."""
  criterion = CRITERIA.get(cfg.select_generator)
  if criterion is None or not fit:
    return False
  if position.best and fit[criterion] >= position.best[criterion]:
    return False
  # A copy: the generator step donates (reuses) the buffers of the params it updates.
  state.best = jax.tree.map(jnp.copy, state.g.params)
  position.best = {"step": position.step, **fit}
  return True


def add_to_average(cfg: Config, state, position, total_steps: int) -> bool:
  """With `--select_generator=average`, adds `state.g.params` to the running mean in
  `state.best` once `position.step` reaches `--average_from` of the schedule's
  `total_steps` (once per step). `position.best` holds "averaged" (how many), "averaged_from"
  (the first one's step) and "step" (the last one's); the average's fit is made at the end
  of training (`averaged`). Returns whether they were added."""
  if cfg.select_generator != "average" or position.step < cfg.average_from * total_steps:
    return False
  n = position.best.get("averaged", 0)
  if n and position.best["step"] == position.step:
    return False
  if n == 0:
    state.best = jax.tree.map(jnp.copy, state.g.params)
  else:
    state.best = jax.tree.map(lambda a, p: a + (p - a) / (n + 1), state.best, state.g.params)
  position.best = {
    "averaged_from": position.best.get("averaged_from", position.step),
    "averaged": n + 1,
    "step": position.step,
  }
  return True


def averaged(cfg: Config, position) -> bool:
  """Whether the run keeps an average of generators (whose fit is made at the end)."""
  return cfg.select_generator == "average" and bool(position.best)


def params(state) -> dict:
  """The generator params the run samples with: the kept ones, else the last."""
  return state.best if state.best is not None else state.g.params


def sampling_record(position, last_fit: dict) -> dict:
  """The run's `calibration.FILE` record: the fit of the generator it samples with and the
  step it is from ("step"); the run's last step and that step's fit ("last_step",
  "last_window_std_ks", "last_weight_temperature", and "last_judge_score" if judged)."""
  chosen = position.best or {"step": position.step, **last_fit}
  last = {f"last_{k}": v for k, v in last_fit.items() if k != "tried"}
  return {**chosen, "last_step": position.step, **last}
