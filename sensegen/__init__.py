"""SenseGen-JAX: an LSTM mixture-density generator of sensor time series.

Public API (docs/api.md): `sensegen.load(workdir)` and the modules `api`, `config`,
`errors`, `mdn`, `lstm`, `models`, `sampling`, `steps`, `adversarial`, `privacy`, `data`,
`evaluate`, `baselines`; the others are internal.
"""

__all__ = [
  "load",
]


def load(workdir: str):
  """The trained generator of a run directory (see `sensegen.api.TrainedGenerator`)."""
  from sensegen import api  # Imported lazily: `sensegen.data` users need no JAX.

  return api.load(workdir)
