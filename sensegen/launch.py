"""Command-line driver: `sensegen --flagfile=har_quick.flags --workdir=DIR`, the same as
`python -m sensegen.launch ...`.

Every `Config` field is a flag of the same name. `--flagfile=NAME.flags` also finds the
flagfiles shipped in the package (`sensegen.flagfile`). Bad flags or data end with one line
naming the culprit and exit code 2, with nothing written to the workdir. The terminal shows
the run's own lines and every warning; other libraries' INFO lines need `--verbosity=1`.
The command re-executes itself once under tcmalloc where it is installed
(`SENSEGEN_TCMALLOC=0` turns that off; see `sensegen.allocator`).
"""

import dataclasses
import functools
import os
import signal
import sys

from absl import app
from absl import flags
from absl import logging

from sensegen import allocator
from sensegen import config as config_lib
from sensegen import config_compat
from sensegen import flagfile
from sensegen import terminal
from sensegen.errors import ConfigError, SenseGenError

_DEFINE = {
  bool: flags.DEFINE_bool,
  int: flags.DEFINE_integer,
  float: flags.DEFINE_float,
  str: flags.DEFINE_string,
}
for _field in dataclasses.fields(config_lib.Config):
  _DEFINE[type(_field.default)](_field.name, _field.default, _field.metadata["help"])
for _old, _new in config_compat.DEPRECATED_FLAGS.items():
  flags.DEFINE_integer(_old, None, f"Deprecated name of --{_new}.")
FLAGS = flags.FLAGS
# INFO lines without absl's `I1128 02:49:20.429279 140095 schedules.py:248]` prefix (absl
# drops it at the default verbosity only); warnings keep theirs.
FLAGS.set_default("showprefixforinfo", False)

EXIT_BAD_INPUT = 2
EXIT_PEER_LOST = 1


def config_from_flags() -> config_lib.Config:
  names = [
    *(f.name for f in dataclasses.fields(config_lib.Config)),
    *config_compat.DEPRECATED_FLAGS,
  ]
  values = {name: getattr(FLAGS, name) for name in names}
  given = {name for name in names if FLAGS[name].present}
  return config_lib.validate(config_lib.Config(**config_compat.with_current_names(values, given)))


def _fail(message: str) -> None:
  print(f"error: {message}", file=sys.stderr)
  sys.exit(EXIT_BAD_INPUT)


def _parse(argv):
  try:
    return FLAGS(flagfile.resolve_argv(argv))
  except flags.Error as err:
    _fail(str(err).splitlines()[0])
  except ConfigError as err:
    _fail(str(err))


def _train(cfg) -> int:
  # Imported here so that --help and flag errors stay fast.
  import jax
  from sensegen.train import setup

  logging.info("JAX backend: %s, %d device(s)", jax.default_backend(), jax.device_count())
  try:
    return _run(setup.prepare(cfg), cfg)
  except jax.errors.JaxRuntimeError as err:
    if jax.process_count() == 1:
      raise
    _peer_lost(err)


def _peer_lost(err) -> None:
  """Ends this process when a collective failed because another process of the job is gone,
  skipping JAX's shutdown barrier (it would wait for the dead peer, then abort)."""
  import jax

  print(
    f"error: process {jax.process_index()}/{jax.process_count()}: a collective with the other "
    f"processes failed ({str(err).splitlines()[0][:200]}); another process probably died: "
    f"rerun every process with the same flags to resume from the last checkpoint",
    file=sys.stderr,
    flush=True,
  )
  os._exit(EXIT_PEER_LOST)


def _run(trainer, cfg) -> int:
  """Trains until done or stopped by SIGTERM/SIGINT (then checkpointed); the exit code."""

  def on_signal(signum, frame):
    del frame
    trainer.stop.signal = signum

  previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
  try:
    finished = trainer.run()
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
  if finished:
    logging.info("training finished; outputs in %s", os.path.abspath(cfg.workdir))
    return 0
  if trainer.stop.signal is None:
    logging.info(
      "stopped at generator step %d (--stop_at): checkpoint saved in %s/checkpoints; the same "
      "command without --stop_at continues",
      trainer.position.step,
      cfg.workdir,
    )
    return 0
  name = signal.Signals(trainer.stop.signal).name
  print(
    f"stopped by {name}: checkpoint saved in {cfg.workdir}/checkpoints; "
    f"rerun the same command to resume",
    file=sys.stderr,
  )
  return 128 + trainer.stop.signal


def _sample(cfg) -> int:
  import jax
  import numpy as np
  from sensegen import api, export

  output = cfg.output or os.path.join(cfg.workdir, "samples.npz")
  export.check_path(output)
  gen = api.load(cfg.workdir, cfg.checkpoint or None)
  length, labels, extra = cfg.sample_length, None, {}
  if cfg.label or cfg.label_schedule or gen.num_labels:
    if not (cfg.label or cfg.label_schedule):
      raise ConfigError("this run is conditioned: pass --label or --label_schedule")
    labels = gen.label_ids(cfg.label, cfg.label_schedule, cfg.sample_length)
    length, extra = len(labels), {"labels": np.broadcast_to(labels, (cfg.num_samples, len(labels)))}
  factor = gen.resample_factor(length, cfg.resample)
  if factor > 1:
    logging.info("critic resampling: 1 kept of every %d candidates (--resample)", factor)
  if gen.privacy:  # The samples say what privacy their generator spent.
    extra.update(epsilon=np.float64(gen.privacy["epsilon"]), delta=np.float64(gen.privacy["delta"]))
  x = gen.sample(
    jax.random.key(cfg.seed),
    cfg.num_samples,
    length,
    cfg.temperature,
    labels,
    burn_in=cfg.burn_in,
    weight_temperature=cfg.weight_temperature,
    resample=cfg.resample,
  )
  export.write_samples(output, x, gen.channels, gen.units, extra)
  logging.info("wrote %d samples of %d steps to %s", cfg.num_samples, length, output)
  return 0


def _calibrate(cli) -> int:
  """Fits the weight temperature and then the resampling critic of the generator a trained
  run samples with, as its training does at the end."""
  from sensegen import api, calibration, resampling
  from sensegen import train as train_lib

  if cli.weight_temperature or not cli.calibration_windows:
    raise ConfigError(
      "--mode=calibrate fits the weight temperature: leave --weight_temperature at 0 and "
      "--calibration_windows positive"
    )
  gen = api.load(cli.workdir)
  if gen.config.dp:
    raise ConfigError(
      f"{cli.workdir} is a --dp run: a fit would read its private training data outside "
      "the privacy accounting"
    )
  cfg = dataclasses.replace(
    gen.config,
    weight_temperature=0.0,
    calibration_windows=cli.calibration_windows,
    resample_windows=cli.resample_windows,
  )
  schedule = train_lib.fitting_schedule(cfg, gen.model)
  fit = schedule.fit_weight_temperature(gen.params, schedule.key)
  calibration.write(cli.workdir, {"step": gen.step, **fit})
  logging.info("wrote %s", os.path.join(cli.workdir, calibration.FILE))
  critic = schedule.fit_critic(gen.params, schedule.key, fit.get("weight_temperature"))
  if critic is not None:
    resampling.write(cli.workdir, critic, {"step": gen.step, "windows": cfg.resample_windows})
    logging.info("wrote %s", os.path.join(cli.workdir, resampling.FILE))
  return 0


def _join(cfg) -> None:
  """Joins the multi-process job; only process 0 prints more than warnings."""
  from sensegen import parallel

  parallel.initialize(cfg.coordinator_address, cfg.num_processes, cfg.process_id)
  import jax

  if jax.process_index() > 0:
    logging.set_verbosity(logging.WARNING)


def training_cpu_devices(cfg, cores: int) -> int:
  """How many CPU devices a run of `cfg` trains on, given `cores` available: `--cpu_devices`,
  or for 0 (the default) `parallel.cpu_devices_for` the cores when its generator steps are
  plain NLL steps; 1 outside single-process training."""
  from sensegen import parallel

  if cfg.mode != "train" or cfg.coordinator_address:
    return 1
  if cfg.cpu_devices:
    return cfg.cpu_devices
  if not config_lib.plain_generator_steps(cfg):
    return 1
  return parallel.cpu_devices_for(cfg.batch_size, cores)


def _split_cpu(cfg) -> None:
  """Before JAX starts its backend: the CPU as `training_cpu_devices` devices."""
  from sensegen import parallel

  devices = training_cpu_devices(cfg, parallel.available_cores())
  if devices > 1:
    parallel.split_cpu(devices)
    logging.info(
      "CPU training: the batch is split over %d CPU devices, %d rows each (--cpu_devices=1: "
      "one device)",
      devices,
      cfg.batch_size // devices,
    )


def main(argv, as_command: bool = False) -> int:
  """Runs the parsed flags' mode; `as_command` (the command line, in a fresh process): first
  re-execute under tcmalloc (once the flags are known good, so that bad input still ends in
  one line), then split the CPU for training (`--cpu_devices`) before JAX starts."""
  if len(argv) > 1:
    _fail(f"unexpected arguments {' '.join(argv[1:])!r}: every setting is a --flag")
  terminal.configure(logging.get_absl_handler().python_handler, FLAGS.verbosity)
  try:
    cfg = config_from_flags()
    if as_command:
      allocator.reexec_under_tcmalloc()
      _split_cpu(cfg)
    if cfg.coordinator_address and cfg.mode == "train":
      _join(cfg)
    elif cfg.process_id:  # Sampling and evaluation run in process 0 alone.
      logging.info("process %d: nothing to do for --mode=%s", cfg.process_id, cfg.mode)
      return 0
    if cfg.mode == "train":
      return _train(cfg)
    if cfg.mode == "sample":
      return _sample(cfg)
    if cfg.mode == "calibrate":
      return _calibrate(cfg)
    from sensegen import evaluation_run

    return evaluation_run.run(cfg)
  except SenseGenError as err:
    _fail(str(err))


def run() -> None:
  """The `sensegen` console command."""
  app.run(functools.partial(main, as_command=True), flags_parser=_parse)


if __name__ == "__main__":
  run()
