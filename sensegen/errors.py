"""Typed errors the library raises; the launcher turns them into one line and exit code 2."""

__all__ = [
  "ConfigError",
  "DataError",
  "SenseGenError",
]


class SenseGenError(Exception):
  """Base class of every error meant for the user (bad input, bad configuration)."""


class DataError(SenseGenError, ValueError):
  """A data file or dataset is missing, malformed, or does not fit the request."""


class ConfigError(SenseGenError, ValueError):
  """A flag or configuration value is invalid or contradicts a previous run."""
