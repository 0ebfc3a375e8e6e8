"""Renamed flags: old flagfiles and saved config.json files keep working."""

import dataclasses
import logging

import pytest

from sensegen import config
from sensegen import config_compat
from sensegen import launch
from sensegen.config import Config
from sensegen.errors import ConfigError


def _flags(*argv) -> Config:
  launch.FLAGS.unparse_flags()
  try:
    launch.FLAGS(["sensegen.launch", "--workdir=w", *argv])
    return launch.config_from_flags()
  finally:
    launch.FLAGS.unparse_flags()


def test_deprecated_flags_set_the_renamed_fields_with_a_warning(caplog):
  caplog.set_level(logging.WARNING)
  cfg = _flags("--schedule=adversarial", "--g_epochs=7", "--d_epochs=5")
  assert (cfg.g_steps_per_round, cfg.critic_steps) == (7, 5)
  assert cfg.d_epochs == Config.d_epochs  # unused by this schedule, so never compared
  assert "--g_epochs is deprecated: use --g_steps_per_round" in caplog.text
  assert "use --critic_steps" in caplog.text


def test_d_epochs_keeps_its_meaning_in_the_alternating_schedule(caplog):
  caplog.set_level(logging.WARNING)
  cfg = _flags("--schedule=alternating", "--d_epochs=5", "--g_steps_per_round=9")
  assert (cfg.d_epochs, cfg.critic_steps, cfg.g_steps_per_round) == (5, Config.critic_steps, 9)
  assert "deprecated" not in caplog.text


def test_old_and_new_name_with_different_values_are_refused():
  with pytest.raises(ConfigError, match="--g_epochs=7 contradicts --g_steps_per_round=8"):
    _flags("--g_epochs=7", "--g_steps_per_round=8")


def test_a_saved_config_of_an_older_run_reads_and_resumes_under_the_new_names():
  old = {
    **dataclasses.asdict(Config(workdir="w", schedule="adversarial")),
    "g_epochs": 50,
    "d_epochs": 20,
  }
  del old["g_steps_per_round"], old["critic_steps"]
  saved = config_compat.read_saved(old)
  assert (saved["g_steps_per_round"], saved["critic_steps"]) == (50, 20)
  new = Config(workdir="w", schedule="adversarial", g_steps_per_round=50, critic_steps=20)
  config_compat.check_resume(new, old, "config.json")
  with pytest.raises(ConfigError, match="--critic_steps=21 contradicts"):
    config_compat.check_resume(dataclasses.replace(new, critic_steps=21), old, "config.json")


def test_runs_saved_before_a_field_existed_load_with_what_they_trained_with():
  old = dataclasses.asdict(Config(workdir="w"))
  for name in config_compat.LEGACY_VALUES:
    del old[name]
  saved = config_compat.read_saved(old)
  assert saved["optimizer"] == "rmsprop" and saved["model_space"] == "processed"
  assert saved["lr_decay"] == 1.0 and saved["reset_prob"] == 0.0
  assert saved["residual_mean"] is False and Config(workdir="w").residual_mean is True
  # Today's defaults differ, so resuming such a run with them names the difference.
  with pytest.raises(ConfigError, match="contradicts config.json"):
    config_compat.check_resume(Config(workdir="w"), old, "config.json")


@pytest.mark.parametrize(
  "flag, value",
  [
    ("optimizer", "sgd"),
    ("model_space", "latent"),
    ("lr_decay", 0.0),
    ("reset_prob", 1.0),
    ("input_noise", -0.1),
    ("input_noise", float("nan")),
    ("style_dropout", 1.0),
  ],
)
def test_new_training_flags_are_validated(flag, value):
  with pytest.raises(ConfigError, match=f"--{flag}="):
    config.validate(Config(workdir="w", **{flag: value}))


def test_subject_style_needs_a_conditioned_nll_or_alternating_run():
  with pytest.raises(ConfigError, match="--subject_style needs --condition_on"):
    config.validate(Config(workdir="w", subject_style=True))
  with pytest.raises(ConfigError, match="--subject_style does not support --schedule=adv"):
    config.validate(
      Config(workdir="w", subject_style=True, condition_on="activity", schedule="adversarial")
    )
  config.validate(Config(workdir="w", subject_style=True, condition_on="activity"))


def test_an_unset_lstm_impl_is_the_resumed_runs_own_else_the_default(monkeypatch):
  monkeypatch.setattr(config, "DEFAULT_LSTM_IMPL", "fused")  # a changed default
  unset = Config(workdir="w")
  trained_with_bf16 = dataclasses.asdict(Config(workdir="w", lstm_impl="bf16"))
  assert config_compat.settled(unset, None).lstm_impl == "fused"  # a new run
  assert config_compat.settled(unset, trained_with_bf16).lstm_impl == "bf16"
  older = dataclasses.asdict(unset)
  del older["lstm_impl"]  # saved before the field existed: those runs trained with scan
  assert config_compat.settled(unset, older).lstm_impl == "scan"
  given = Config(workdir="w", lstm_impl="scan")
  assert config_compat.settled(given, trained_with_bf16) is given
  with pytest.raises(ConfigError, match="--lstm_impl=scan contradicts"):
    config_compat.check_resume(given, trained_with_bf16, "config.json")
