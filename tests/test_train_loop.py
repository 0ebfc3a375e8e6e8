"""The trainer's host loop, in process, on a tiny file dataset."""

import dataclasses
import json
import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tiny_config

from sensegen import calibration
from sensegen import config
from sensegen import precision
from sensegen import steps
from sensegen import train
from sensegen.data import windows
from sensegen.errors import ConfigError
from sensegen.train import loop
from sensegen.train import setup
from sensegen.train.position import Position


@pytest.fixture
def tiny_cfg(tmp_path):
  return tiny_config.sine_run(tmp_path, max_bad_steps=3)


def test_consecutive_nonfinite_steps_stop_the_run_with_the_last_good_checkpoint(tiny_cfg):
  trainer = setup.prepare(tiny_cfg)
  good_update = trainer.g_update

  def failing_after_12(state, batch, step):
    m = good_update(state, batch, step)
    if step >= 12:  # From step 13 on, every step is non-finite.
      m = {**m, "finite": jnp.asarray(False)}
    return m

  trainer.g_update = failing_after_12
  with pytest.raises(loop.TrainingStopped, match="3 consecutive generator steps"):
    trainer.run()
  # The step counter of the last checkpoint (step 10) is before any bad step.
  fresh = setup.prepare(tiny_cfg)
  assert fresh.position.step == 10 and int(fresh.state.g.step) == 10


def test_interrupt_flag_saves_a_resumable_checkpoint(tiny_cfg):
  trainer = setup.prepare(tiny_cfg)
  original = trainer.g_update

  def stop_at_7(state, batch, step):
    m = original(state, batch, step)
    if int(state.g.step) == 7:
      trainer.stop.signal = 15
    return m

  trainer.g_update = stop_at_7
  assert not trainer.run()
  assert setup.prepare(tiny_cfg).position.step == 7
  assert setup.prepare(tiny_cfg).run()
  assert setup.prepare(tiny_cfg).position.step == 40


def test_stop_at_pauses_before_the_end_of_training_fits_and_the_rerun_continues_exactly(
  tiny_cfg, tmp_path
):
  whole = setup.prepare(dataclasses.replace(tiny_cfg, workdir=str(tmp_path / "whole")))
  assert whole.run()
  assert not setup.prepare(dataclasses.replace(tiny_cfg, stop_at=13)).run()
  paused = setup.prepare(tiny_cfg)
  assert paused.position.step == 13
  assert not (Path(tiny_cfg.workdir) / calibration.FILE).exists()  # Fitted at the end only.
  assert paused.run()
  assert (Path(tiny_cfg.workdir) / calibration.FILE).exists()
  resumed = setup.prepare(tiny_cfg)
  assert resumed.position.step == 40
  jax.tree.map(np.testing.assert_array_equal, resumed.state.g.params, whole.state.g.params)


def test_a_run_resumes_with_the_lstm_impl_it_trained_with(tiny_cfg, monkeypatch, caplog):
  caplog.set_level(logging.INFO)
  assert setup.prepare(dataclasses.replace(tiny_cfg, lstm_impl="fused")).cfg.lstm_impl == "fused"
  assert "precision: float32 (lstm_impl=fused)" in caplog.text
  monkeypatch.setattr(config, "DEFAULT_LSTM_IMPL", "bf16")  # the default changes
  resumed = setup.prepare(tiny_cfg)  # --lstm_impl not given
  assert resumed.cfg.lstm_impl == "fused"
  saved = json.loads((Path(tiny_cfg.workdir) / "config.json").read_text())
  assert saved["lstm_impl"] == "fused"


def test_bf16_on_a_cpu_without_bf16_hardware_warns(tiny_cfg, monkeypatch, caplog):
  monkeypatch.setattr(precision, "_read_cpuinfo", lambda: "flags\t: fpu avx2 fma\n")
  setup.prepare(dataclasses.replace(tiny_cfg, lstm_impl="bf16"))
  (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
  assert warning.getMessage().startswith("--lstm_impl=bf16: this device has no bf16 hardware")


def test_dequantize_trains_on_series_moved_within_their_quantisation_step(tiny_cfg):
  # The sine rounded to 0.01: its generator steps see values off that lattice.
  t = np.arange(2000, dtype=np.float32)
  rounded = np.round(np.sin(t / 5) / 0.01) * 0.01
  np.savez(tiny_cfg.data, x=rounded[None, :, None].astype(np.float32))
  trainer = setup.prepare(dataclasses.replace(tiny_cfg, dequantize=True, train_steps=3))
  q = windows.quantisation_step(trainer.run_data.model_train.series)
  np.testing.assert_allclose(trainer.dequantize, q)
  seen = []
  update = trainer.g_update
  trainer.g_update = lambda state, batch, step: seen.append(batch) or update(state, batch, step)
  assert trainer.run()
  values = np.concatenate([np.ravel(b["targets"]) for b in seen])
  lattice = trainer.run_data.model_train.series[0].ravel()
  off = np.min(np.abs(values[:, None] - np.unique(lattice)[None, :]), axis=1)
  assert off.max() <= q[0] / 2 + 1e-5 and np.median(off) > q[0] / 10
  other = dataclasses.replace(tiny_cfg, workdir=tiny_cfg.workdir + "_plain")
  assert setup.prepare(other).dequantize is None  # Off by default.


def test_held_out_nll_scores_windows_after_a_second_of_context(tiny_cfg):
  trainer = setup.prepare(tiny_cfg)
  held_out, train = trainer.held_out, trainer.run_data.model_train
  context = min(round(trainer.run_data.train.sample_rate_hz), tiny_cfg.window // 2)
  assert 0 < context < tiny_cfg.window - 1
  assert held_out.baseline_nll == steps.gaussian_nll(train.series, held_out.windows, context)
  params = trainer.state.g.params
  scored = steps.make_nll_eval(trainer.schedule.gen, context=context)(params, held_out.windows)
  assert held_out.nll(params, held_out.windows, None) == pytest.approx(scored, abs=1e-5)


def test_position_reads_the_meta_dicts_of_older_runs():
  old = {
    "step": 30,
    "round": 2,
    "phase": "g",
    "g_until": 40,
    "saves": 5,
    "streams": {"session": [1, 0], "offset": [7, 9]},
    "privacy": {},
  }
  position = Position.from_json(old)
  assert isinstance(position.streams, windows.Streams) and position.phase == "g"
  assert position.to_json() == old


def test_every_configurable_schedule_has_a_class():
  assert tuple(train.SCHEDULES) == config.SCHEDULES


@pytest.mark.parametrize(
  "flags, message",
  [(dict(schedule="adversarial", dp=True), "--dp with --schedule=adversarial is refused")],
)
def test_schedules_refuse_flags_they_cannot_honour(tiny_cfg, flags, message):
  cfg = dataclasses.replace(tiny_cfg, **flags)
  with pytest.raises(ConfigError, match=message):
    setup.prepare(cfg)
  for name in ("nll", "alternating"):
    train.schedule_class(name).check(dataclasses.replace(cfg, schedule=name, condition_on=""))
