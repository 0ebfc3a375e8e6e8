"""Sensor datasets: the embedded UCI HAPT recordings and bring-your-own files."""

from sensegen.data.dataset import SensorDataset
from sensegen.data.files import load_file
from sensegen.data.har import ACTIVITY_NAMES
from sensegen.data.har import CHANNELS
from sensegen.data.har import LABEL_NAMES
from sensegen.data.har import load_har
from sensegen.data.har import UNITS

__all__ = [
  "ACTIVITY_NAMES",
  "CHANNELS",
  "LABEL_NAMES",
  "SensorDataset",
  "UNITS",
  "load_file",
  "load_har",
]
