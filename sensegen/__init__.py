"""SenseGen-JAX: an LSTM mixture-density generator of sensor time series.

Public API: `sensegen.load(workdir)`, `sensegen.mdn`, `sensegen.sampling`,
`sensegen.data` (`load_har`, `load_file`, `SensorDataset`), `sensegen.models`.
"""


def load(workdir: str):
  """The trained generator of a run directory (see `sensegen.api.TrainedGenerator`)."""
  from sensegen import api  # Imported lazily: `sensegen.data` users need no JAX.
  return api.load(workdir)
