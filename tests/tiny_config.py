"""The smallest run configuration, for tests that build train states without training."""

from sensegen.config import Config

TINY = Config(
  workdir="x",
  lstm_layers=1,
  lstm_units=4,
  dense_units=4,
  mixtures=2,
  batch_size=2,
  d_lstm_units=4,
  d_dense_units=2,
)
