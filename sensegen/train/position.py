"""Where a training run stands: the JSON `meta` of its checkpoints, typed."""

import dataclasses
from typing import Optional

from sensegen.data import windows


@dataclasses.dataclass
class Position:
  """The loop's position between two steps: what a resumed run needs besides arrays.

  Attributes:
    step: generator steps done.
    round: rounds done (alternating and adversarial schedules).
    phase: what the current round does next: "d" (discriminator or critic phase) or "g"
      (generator steps up to `g_until`).
    g_until: the step at which the current round's generator phase ends.
    streams: positions of the truncated-BPTT data streams.
    saves: checkpoints written so far (the id of the latest).
    privacy: for --dp runs, the epsilon spent at `step`, delta, noise and unit.
    best: the fit of the generator kept by `--select_generator` (`Schedule.
      fit_weight_temperature`'s result and the "step" it was fitted at); empty until the
      first fit, and with `last`.
  """

  step: int = 0
  round: int = 0
  phase: str = "d"
  g_until: int = 0
  streams: Optional[windows.Streams] = None
  saves: int = 0
  privacy: dict = dataclasses.field(default_factory=dict)
  best: dict = dataclasses.field(default_factory=dict)

  def to_json(self) -> dict:
    """The checkpoint's `meta` dict, keyed as runs have always written it."""
    return {
      "step": self.step,
      "round": self.round,
      "phase": self.phase,
      "g_until": self.g_until,
      "streams": self.streams.to_dict(),
      "saves": self.saves,
      "privacy": self.privacy,
      **({"best": self.best} if self.best else {}),
    }

  @classmethod
  def from_json(cls, meta: dict) -> "Position":
    """Reads a checkpoint's `meta`, of this version or an older one."""
    return cls(
      step=meta["step"],
      round=meta["round"],
      phase=meta["phase"],
      g_until=meta["g_until"],
      streams=windows.Streams.from_dict(meta["streams"]),
      saves=meta.get("saves", 0),
      privacy=meta.get("privacy") or {},
      best=meta.get("best") or {},
    )
