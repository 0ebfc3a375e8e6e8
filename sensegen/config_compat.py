"""Older runs and renamed flags: old flag names still work (with a warning), saved
`config.json` files of older runs load under the current names and with the values those
runs used for fields they did not have, and a resumed run must repeat its run-defining
flags.
"""

import dataclasses
import logging
from typing import Optional

from sensegen.config import Config
from sensegen.config import effective_lstm_impl
from sensegen.config import run_fields
from sensegen.errors import ConfigError

__all__ = [
  "DEPRECATED_FLAGS",
  "LEGACY_VALUES",
  "check_resume",
  "read_saved",
  "settled",
  "with_current_names",
]

# Renamed flags (old name -> new name): the old names still work, with a warning, so that
# old flagfiles and saved config.json files resume.
DEPRECATED_FLAGS = {"g_epochs": "g_steps_per_round"}


def with_current_names(values: dict, given, warn: bool = True) -> dict:
  """Field values with those set under deprecated names moved to their current fields.

  Args:
    values: field (and deprecated flag) name -> value, e.g. parsed flags or a config.json.
    given: the names the user set (flags on the command line or in flagfiles, the keys of
      a saved config.json); other deprecated entries are dropped.
    warn: log a warning for each deprecated name used (flags, not saved files).

  Raises:
    ConfigError: an old and a new name are both given, with different values.
  """
  values = dict(values)
  for old, new in DEPRECATED_FLAGS.items():
    value = values.pop(old, None)
    if old in given:
      if new in given and values[new] != value:
        raise ConfigError(
          f"--{old}={value} contradicts --{new}={values[new]}; "
          f"--{old} is the deprecated name of --{new}"
        )
      _deprecated(f"--{old} is deprecated: use --{new}", warn)
      values[new] = value
  if values.get("schedule") == "adversarial":
    # The adversarial schedule has no discriminator epochs: --d_epochs was its old name
    # for the critic steps. It keeps its default there, so it never blocks a resume.
    default = Config.__dataclass_fields__["d_epochs"].default
    if "d_epochs" in given and "critic_steps" not in given:
      _deprecated("--d_epochs for --schedule=adversarial is deprecated: use --critic_steps", warn)
      values["critic_steps"] = values["d_epochs"]
    values["d_epochs"] = default
  return values


def _deprecated(message: str, warn: bool) -> None:
  if warn:
    logging.warning(message)


# What runs saved before a field existed did: an old run loads and resumes as it trained.
LEGACY_VALUES = {
  "optimizer": "rmsprop",
  "lr_decay": 1.0,
  "model_space": "processed",
  "reset_prob": 0.0,
  "scheduled_sampling": 0.0,
  "calibration_windows": 0,
  "lstm_impl": "scan",
  "select_generator": "last",
  "residual_mean": False,
  "input_noise": 0.0,
  "dequantize": False,
  "subject_style": False,
  "style_dropout": 0.2,
}


def read_saved(saved: dict) -> dict:
  """A saved config.json's values under the current field names (also for older runs)."""
  return {**LEGACY_VALUES, **with_current_names(saved, set(saved), warn=False)}


def settled(cfg: Config, saved: Optional[dict]) -> Config:
  """`cfg` with the settings it leaves to the run filled in: an unset --lstm_impl becomes
  the saved run's own (`saved`, its config.json; so a changed default never blocks a
  resume), or the default for a new run (`saved` None)."""
  if cfg.lstm_impl:
    return cfg
  impl = read_saved(saved)["lstm_impl"] if saved is not None else effective_lstm_impl(cfg)
  return dataclasses.replace(cfg, lstm_impl=impl)


def check_resume(cfg: Config, saved: dict, path: str) -> None:
  """Raises ConfigError if a run-defining flag differs from the run saved at `path`."""
  cfg = settled(cfg, saved)
  saved = read_saved(saved)
  for name in run_fields():
    if name in saved and saved[name] != getattr(cfg, name):
      raise ConfigError(
        f"--{name}={getattr(cfg, name)} contradicts {path} ({name}={saved[name]}); "
        f"use the same value to resume or a new --workdir"
      )
