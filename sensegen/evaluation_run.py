"""`--mode=evaluate`: the run's generator (or a given samples file) against its real data.

Writes `WORKDIR/eval/report.json`, `report.md` and figures (PCA, t-SNE, traces and
`window_std.png`, the per-window std of real and synthetic windows). All metrics are computed
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
from sensegen import plots
from sensegen.config import Config
from sensegen.data import windows
from sensegen.errors import DataError

# Purposes of the seeded draws, so that each set is independent.
_TRAIN, _TEST, _SAMPLES, _BASELINES, _ACTIVITY = 11, 12, 13, 14, 15


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
    raise DataError(f"--synthetic={path}: channels {list(names)}, the run has {list(gen.channels)}")
  return gen.normaliser.normalise(x)


def sampling_settings(cfg: Config, gen: api.TrainedGenerator) -> dict:
  """How the evaluated windows are drawn, besides the temperature (also in the report;
  `resample` is the factor applied: 1 when the run has no critic)."""
  return {
    "burn_in": cfg.burn_in,
    "weight_temperature": cfg.weight_temperature or gen.weight_temperature,
    "resample": gen.resample_factor(cfg.window, cfg.resample),
  }


def window_sets(cfg: Config, gen: api.TrainedGenerator, run_data: input_pipeline.RunData):
  """(real train, real test, synthetic) windows `[--num_samples, L, D]`, normalised, drawn
  from `cfg.seed` (or read from `--synthetic`): what the evaluation scores."""
  n = cfg.num_samples
  draw = lambda series, purpose, name: windows.random_windows(
    series, n, cfg.window, np.random.default_rng([cfg.seed, purpose]), name=name
  )
  train = draw(run_data.train.series, _TRAIN, "train data")
  test = draw(run_data.test.series, _TEST, "held-out data")
  if cfg.synthetic:
    synthetic = load_synthetic(cfg.synthetic, gen)
  else:
    labels = None
    if gen.num_labels:  # Label sequences of real train windows drive the conditioned model.
      _, labels = windows.random_windows(
        run_data.train.series,
        n,
        cfg.window,
        np.random.default_rng([cfg.seed, _SAMPLES]),
        labels=run_data.train.labels,
      )
    logging.info("sampling %d windows of %d steps", n, cfg.window)
    key = jax.random.fold_in(jax.random.key(cfg.seed), _SAMPLES)
    synthetic = gen.normaliser.normalise(
      np.asarray(
        gen.sample(key, n, cfg.window, cfg.temperature, labels, **sampling_settings(cfg, gen))
      )
    )
  return train, test, synthetic


def activity_ids(cfg: Config, gen: api.TrainedGenerator, run_data) -> list:
  """Label ids with stretches of at least `--window` steps in both splits (for HAR: the 6
  basic activities; transitions are shorter), checked to get `MIN_WINDOWS` windows each
  out of `--num_samples`."""
  splits = (run_data.train, run_data.test)
  ids = [
    a
    for a in range(1, gen.num_labels)
    if all(windows.label_runs(ds.series, ds.labels, a, cfg.window) for ds in splits)
  ]
  if not ids:
    raise DataError(f"no activity has stretches of {cfg.window} steps in both splits")
  n = cfg.num_samples // len(ids)
  if n < evaluate.MIN_WINDOWS:
    raise DataError(
      f"--num_samples={cfg.num_samples}: {n} windows per activity for {len(ids)} activities, "
      f"the per-activity discriminative score needs {evaluate.MIN_WINDOWS} "
      f"(--num_samples={evaluate.MIN_WINDOWS * len(ids)} at least)"
    )
  return ids


def activity_report(cfg: Config, gen: api.TrainedGenerator, run_data, ids: list) -> dict:
  """Per-activity fidelity and a TSTR vs TRTR activity classifier, for conditioned runs.

  For each activity of `ids` (`activity_ids`), `--num_samples` / #activities windows are
  drawn from the real splits and generated with that label. With `--baselines`, each
  activity also has the score of its held-out real windows against its training windows.
  """
  n = cfg.num_samples // len(ids)
  names = [gen.label_names[a] if gen.label_names else str(a) for a in ids]
  sets = {name: activity_sets(cfg, gen, run_data, a, n) for name, a in zip(names, ids)}
  stack = lambda i: np.concatenate([v[i] for v in sets.values()])
  classes = np.repeat(np.arange(len(ids)), n)
  accuracy = evaluate.activity_accuracy(
    stack(0),
    classes,
    stack(1),
    classes,
    stack(2),
    classes,
    num_classes=len(ids),
    seed=cfg.seed,
    steps=cfg.posthoc_steps,
  )
  per_activity = {}
  for name, windows_ in sets.items():
    logging.info("scoring activity %s", name)
    per_activity[name] = _activity_scores(cfg, gen, *windows_)
  return {"classes": names, "windows_per_activity": n, **accuracy, "per_activity": per_activity}


def activity_sets(cfg: Config, gen: api.TrainedGenerator, run_data, label: int, n: int):
  """(real train, real test, synthetic) windows `[n, L, D]` of one activity, normalised."""
  rng = np.random.default_rng([cfg.seed, _ACTIVITY, label])
  stretches = lambda ds: windows.label_runs(ds.series, ds.labels, label, cfg.window)
  real = lambda ds: windows.random_windows(stretches(ds), n, cfg.window, rng)
  real_train, real_test = real(run_data.train), real(run_data.test)
  key = jax.random.fold_in(jax.random.key(cfg.seed), _ACTIVITY * 100 + label)
  labels = np.full(cfg.window, label)
  synth = gen.sample(key, n, cfg.window, cfg.temperature, labels, **sampling_settings(cfg, gen))
  return real_train, real_test, gen.normaliser.normalise(np.asarray(synth))


def _activity_scores(cfg: Config, gen: api.TrainedGenerator, real_train, real_test, synth):
  """One activity's entry of `activity_report`'s per_activity."""
  judge = lambda real, other: evaluate.discriminative_score(
    real, other, seeds=(cfg.seed, cfg.seed + 1, cfg.seed + 2), steps=cfg.posthoc_steps
  )
  scores = {
    "discriminative_score": judge(real_train, synth),
    "regime": evaluate.regime(real_train, synth),
    "marginal_wasserstein": evaluate.marginal_wasserstein(real_train, synth),
    "acf_distance": evaluate.acf_distance(real_train, synth),
    "psd_distance": evaluate.psd_distance(real_train, synth, gen.sample_rate_hz),
  }
  if cfg.baselines:  # How far apart the subjects of the two splits are.
    scores["real_holdout_discriminative_score"] = judge(real_train, real_test)
  return scores


def run(cli: Config) -> int:
  """Evaluates the run in `cli.workdir`; data and model settings come from its config.json."""
  cfg = _evaluation_config(cli)
  if not cfg.synthetic and cfg.num_samples < evaluate.MIN_WINDOWS:
    raise DataError(
      f"--num_samples={cfg.num_samples}: a discriminative score needs at least "
      f"{evaluate.MIN_WINDOWS} windows per set"
    )
  gen = api.load(cli.workdir, cli.checkpoint or None)
  run_data = input_pipeline.load(cfg, min_length=cfg.window)
  ids = activity_ids(cfg, gen, run_data) if gen.num_labels else []
  train, test, synthetic = window_sets(cfg, gen, run_data)
  score = lambda synth: evaluate.evaluate(
    train,
    test,
    synth,
    sample_rate_hz=gen.sample_rate_hz,
    channels=gen.channels,
    seed=cfg.seed,
    steps=cfg.posthoc_steps,
  )
  logging.info("scoring the model's %d windows", len(synthetic))
  report = score(synthetic)
  rows = {}
  if cfg.baselines:
    sets = baselines_lib.baseline_sets(train, test, len(synthetic), seed=cfg.seed + _BASELINES)
    for name, windows_ in sets.items():
      logging.info("scoring baseline %s", name)
      rows[name] = score(windows_)
  if gen.num_labels:
    report["activity"] = activity_report(cfg, gen, run_data, ids)
  if not cfg.synthetic:
    report["sampling"] = {
      "temperature": cfg.temperature,
      **sampling_settings(cfg, gen),
      "generator_step": gen.step,
    }
  if gen.privacy:
    report = {"privacy": gen.privacy, **report}
  out = os.path.join(cfg.workdir, "eval")
  evaluate.write_report(report, out, rows)
  if cfg.figures:
    _write_figures(out, gen, train, test, synthetic, report["regime"]["quiet_std"])
  logging.info("wrote %s/report.json and report.md", out)
  return 0


def _evaluation_config(cli: Config) -> Config:
  """The run's saved config with the evaluation flags of `cli`."""
  return dataclasses.replace(
    api.read_config(cli.workdir),
    num_samples=cli.num_samples,
    synthetic=cli.synthetic,
    baselines=cli.baselines,
    temperature=cli.temperature,
    weight_temperature=cli.weight_temperature,
    burn_in=cli.burn_in,
    resample=cli.resample,
    seed=cli.seed,
    workdir=cli.workdir,
    posthoc_steps=cli.posthoc_steps,
    figures=cli.figures,
  )


def _write_figures(out: str, gen: api.TrainedGenerator, train, test, synthetic, quiet_std):
  """PCA / t-SNE views, the per-window std distributions and a trace grid into `out`."""
  evaluate.plot_embedding(test, synthetic, os.path.join(out, "pca.png"), method="pca")
  evaluate.plot_embedding(test, synthetic, os.path.join(out, "tsne.png"), method="tsne")
  plots.window_std(
    evaluate.window_std(train),
    evaluate.window_std(synthetic),
    os.path.join(out, "window_std.png"),
    quiet_std,
  )
  to_units = gen.normaliser.denormalise
  evaluate.plot_trace_grid(
    to_units(test), to_units(synthetic), os.path.join(out, "traces.png"), gen.channels
  )
