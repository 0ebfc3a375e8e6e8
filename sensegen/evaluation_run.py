"""`--mode=evaluate`: the run's generator (or a given samples file) against its real data.

Writes `WORKDIR/eval/report.json`, `report.md` and figures. All metrics are computed
in the run's normalised space on windows of the run's `--window` steps.
"""

import dataclasses
import os

import jax
import numpy as np
from absl import logging

from sensegen import api
from sensegen import baselines as baselines_lib
from sensegen import evaluate
from sensegen import input_pipeline
from sensegen.config import Config
from sensegen.data import windows
from sensegen.errors import DataError

# Purposes of the seeded draws, so that each set is independent.
_TRAIN, _TEST, _SAMPLES, _BASELINES = 11, 12, 13, 14


def load_synthetic(path: str, gen: api.TrainedGenerator) -> np.ndarray:
  """A samples `.npz` (`x` `[N, L, D]`, physical units) in the run's normalised space."""
  if not os.path.isfile(path):
    raise DataError(f"--synthetic={path}: no such file")
  try:
    with np.load(path, allow_pickle=False) as f:
      x = np.asarray(f["x"], np.float32)
      names = tuple(str(c) for c in f["channels"]) if "channels" in f else gen.channels
  except (KeyError, ValueError, OSError) as err:
    raise DataError(f"--synthetic={path}: not a samples .npz with an array 'x' ({err})") from err
  if x.ndim != 3:
    raise DataError(f"--synthetic={path}: x has shape {x.shape}, expected [N, L, D]")
  if names != gen.channels:
    raise DataError(f"--synthetic={path}: channels {list(names)}, the run has "
                    f"{list(gen.channels)}")
  return gen.normaliser.normalise(x)


def _sets(cfg: Config, gen: api.TrainedGenerator, run_data: input_pipeline.RunData):
  n = cfg.num_samples
  draw = lambda series, purpose, name: windows.random_windows(
      series, n, cfg.window, np.random.default_rng([cfg.seed, purpose]), name=name)
  train = draw(run_data.train.series, _TRAIN, "train data")
  test = draw(run_data.test.series, _TEST, "held-out data")
  if cfg.synthetic:
    synthetic = load_synthetic(cfg.synthetic, gen)
  else:
    logging.info("sampling %d windows of %d steps", n, cfg.window)
    key = jax.random.fold_in(jax.random.key(cfg.seed), _SAMPLES)
    synthetic = gen.normaliser.normalise(np.asarray(gen.sample(key, n, cfg.window,
                                                               cfg.temperature)))
  return train, test, synthetic


def run(cli: Config) -> int:
  """Evaluates the run in `cli.workdir`; data and model settings come from its config.json."""
  saved = api.read_config(cli.workdir)
  cfg = dataclasses.replace(saved, num_samples=cli.num_samples, synthetic=cli.synthetic,
                            baselines=cli.baselines, temperature=cli.temperature,
                            seed=cli.seed, workdir=cli.workdir,
                            posthoc_steps=cli.posthoc_steps)
  gen = api.load(cli.workdir)
  run_data = input_pipeline.load(cfg, min_length=cfg.window)
  train, test, synthetic = _sets(cfg, gen, run_data)
  score = lambda synth: evaluate.evaluate(
      train, test, synth, sample_rate_hz=gen.sample_rate_hz, channels=gen.channels,
      seed=cfg.seed, steps=cfg.posthoc_steps)
  logging.info("scoring the model's %d windows", len(synthetic))
  report = score(synthetic)
  rows = {}
  if cfg.baselines:
    sets = baselines_lib.baseline_sets(train, test, len(synthetic), seed=cfg.seed + _BASELINES)
    for name, windows_ in sets.items():
      logging.info("scoring baseline %s", name)
      rows[name] = score(windows_)
  out = os.path.join(cfg.workdir, "eval")
  evaluate.write_report(report, out, rows)
  evaluate.plot_embedding(test, synthetic, os.path.join(out, "pca.png"), method="pca")
  evaluate.plot_embedding(test, synthetic, os.path.join(out, "tsne.png"), method="tsne")
  to_units = gen.normaliser.denormalise
  evaluate.plot_trace_grid(to_units(test), to_units(synthetic), os.path.join(out, "traces.png"),
                           gen.channels)
  logging.info("wrote %s/report.json and report.md", out)
  return 0
