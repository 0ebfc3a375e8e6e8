"""The evaluation report: all metric families on one set of windows, as JSON and markdown.

Everything works on arrays of windows `[N, L, D]` (N windows, L steps, D channels),
real and synthetic in the same (normalised) space. Metrics are computed per call from
explicit seeds; nothing is cached between calls. `evaluate` merges the entries of each
metric family (`judges`, `classifiers`, `stats`, `privacy`). A new family adds a module,
its entries in `evaluate` and its rows in `_REPORT_METRICS` and `_TARGETS`.

`evaluate` compares the synthetic windows with the real train windows
(fidelity, discriminative), forecasts real test windows (predictive), and
uses train vs test windows as members vs non-members (privacy). It returns a
report dict with exactly these keys:

  discriminative_score: {mean, std, ci95, judge, lstm, features}: |accuracy - 0.5|
    of the stronger of two judges of real (train) vs synthetic windows, a post-hoc
    LSTM classifier and a logistic regression on window statistics (`judges`), over
    seeds (0 = indistinguishable, 0.5 = perfectly separable), its 95% interval, the
    stronger judge's name and each judge's {mean, std, ci95}.
  predictive_score: {tstr_mae, trtr_mae}: MAE on real test windows of an LSTM
    next-step forecaster trained on synthetic (TSTR) or real train (TRTR).
  marginal_wasserstein: per channel, Wasserstein-1 between the marginals
    (all steps of all windows pooled).
  acf_distance: per channel, mean over lags 1..50 of the absolute difference
    of the mean per-window autocorrelation.
  psd_distance: per channel, mean absolute difference of log10 of the mean
    per-window Welch PSD (DC bin excluded).
  correlation_difference: mean absolute difference of the off-diagonal
    cross-channel correlations (all steps pooled); None when D == 1.
  regime: per-window amplitude statistics (`stats.regime`): quiet_share_real and
    quiet_share_synthetic (windows with std below quiet_std = 0.1), window_std_ks
    (KS distance of the per-window std distributions), their quartiles and the
    median per-window std of the first difference.
  dcr: {synthetic_median, holdout_median, ratio}: median Euclidean distance
    of synthetic / real test windows to their closest train window, and
    synthetic_median / holdout_median (near 0 = copies, near 1 = holdout-like);
    nndr_synthetic_median, nndr_holdout_median, nndr_ratio: the same for the
    scale-free nearest / second-nearest distance ratio (`privacy.dcr`).
  membership_auc: AUC of a distance-to-synthetic membership attack, train
    windows (members) vs test windows (non-members); 0.5 = no leak.
  counts: {train, test, synthetic}: windows used after subsampling.
  window: L.
  channels: the D channel names.

A non-finite value (e.g. an undefined ratio) is NaN in the dict and null in
`report.json`.
"""

import json
import os

import numpy as np

from sensegen import fileio
from sensegen.data.windows import subsample
from sensegen.evaluate import checks
from sensegen.evaluate import classifiers
from sensegen.evaluate import judges
from sensegen.evaluate import privacy
from sensegen.evaluate import stats

# Rows of the markdown table, in order; lists expand to one row per channel.
_REPORT_METRICS = (
  "discriminative_score",
  "predictive_score",
  "marginal_wasserstein",
  "acf_distance",
  "psd_distance",
  "correlation_difference",
  "regime",
  "dcr",
  "membership_auc",
  "counts",
)

_TARGETS = (
  "discriminative_score: 0 is best (0.5 = perfectly separable).",
  "predictive_score: lower is better; tstr_mae close to trtr_mae means "
  "synthetic data is as useful as real.",
  "marginal_wasserstein, acf_distance, psd_distance, correlation_difference: 0 is best.",
  "regime: quiet_share_synthetic close to quiet_share_real, window_std_ks 0 is best.",
  "dcr.ratio, dcr.nndr_ratio: near 1 is like fresh real data, near 0 means copies of "
  "training windows; dcr.ratio also falls when synthetic windows are quieter.",
  "membership_auc: 0.5 is no leak, 1 is full leak.",
)


def evaluate(
  real_train,
  real_test,
  synthetic,
  *,
  sample_rate_hz: float,
  channels,
  seed: int = 0,
  max_windows: int = 1000,
  quick: bool = False,
  steps: int = 300,
) -> dict:
  """All metrics of `synthetic` against the real data (see module docstring).

  Each set is first subsampled (seeded, without replacement) to at most
  `max_windows` windows. `quick` trades accuracy for speed: 60 instead of
  300 training steps per LSTM and at most 256 windows per set.

  Args:
    real_train: `[N, L, D]` windows the generator was trained on.
    real_test: `[M, L, D]` held-out real windows.
    synthetic: `[K, L, D]` generated windows.
    sample_rate_hz: sampling rate, for the PSD.
    channels: D channel names.
    seed: seed of subsampling, classifiers and forecasters.
    max_windows: windows per set at most.
    quick: fast, rough settings (for smoke tests).
    steps: training steps of the post-hoc classifier and forecasters.

  Returns:
    The report dict.

  Raises:
    DataError: a set is not finite `[N, L, D]`, shapes disagree, or real_train or
      synthetic has fewer than `judges.MIN_WINDOWS` windows.
  """
  train, test, synth, channels = checks.check_inputs(
    real_train, real_test, synthetic, channels, sample_rate_hz
  )
  steps = min(steps, 60) if quick else steps
  max_windows = min(max_windows, 256) if quick else max_windows
  rng = np.random.default_rng(seed)
  train, test, synth = (subsample(x, max_windows, rng) for x in (train, test, synth))
  return {
    "discriminative_score": judges.discriminative_score(
      train, synth, seeds=(seed, seed + 1, seed + 2), steps=steps
    ),
    "predictive_score": classifiers.predictive_score(train, test, synth, seed=seed, steps=steps),
    **stats.scores(train, synth, sample_rate_hz),
    **privacy.scores(train, test, synth, seed=seed),
    "counts": {"train": len(train), "test": len(test), "synthetic": len(synth)},
    "window": int(train.shape[1]),
    "channels": channels,
  }


def _json_safe(value):
  """`value` with NaN / inf floats replaced by None, recursively."""
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(v) for v in value]
  if isinstance(value, float) and not np.isfinite(value):
    return None
  return value


def _nested_rows(label: str, value) -> dict:
  """{label.key...: value} of a nested dict; lists (intervals, quartiles) stay one cell."""
  if isinstance(value, dict):
    return {
      k: v for key, sub in value.items() for k, v in _nested_rows(f"{label}.{key}", sub).items()
    }
  return {label: value}


def _metric_rows(report: dict, channels) -> dict:
  """Flattens a report to {row label: value}, one row per cell; a per-channel list
  gives one row per channel."""
  rows = {}
  for key in _REPORT_METRICS:
    value = report.get(key)
    if isinstance(value, (list, tuple)):
      rows.update({f"{key}[{c}]": v for c, v in zip(channels, value)})
    else:
      rows.update(_nested_rows(key, value))
  return rows


def _format(value) -> str:
  """A table cell: 4 significant digits, "n/a" for None / NaN, lists as [a, b]."""
  if value is None or (isinstance(value, float) and not np.isfinite(value)):
    return "n/a"
  if isinstance(value, str):
    return value
  if isinstance(value, (list, tuple)):
    return "[" + ", ".join(_format(v) for v in value) + "]"
  if isinstance(value, (int, np.integer)):
    return str(int(value))
  return f"{value:.4g}"


def markdown_table(report: dict, baselines=None) -> str:
  """Markdown table, rows = metrics, columns = "model" + each baseline."""
  baselines = baselines or {}
  channels = report["channels"]
  columns = {"model": _metric_rows(report, channels)}
  columns.update({name: _metric_rows(r, channels) for name, r in baselines.items()})
  lines = ["| metric | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
  for label in columns["model"]:
    cells = [_format(col.get(label)) for col in columns.values()]
    lines.append(f"| {label} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def write_report(report: dict, out_dir: str, baselines=None) -> tuple:
  """Writes `report.json` and `report.md` into `out_dir`, atomically.

  Args:
    report: the dict from `evaluate`.
    out_dir: directory (created if missing).
    baselines: {name: report dict of that baseline}, or None.

  Returns:
    (json path, markdown path).
  """
  baselines = dict(baselines or {})
  os.makedirs(out_dir, exist_ok=True)
  payload = _json_safe({**report, "baselines": baselines})
  json_path = _write_text(
    os.path.join(out_dir, "report.json"), json.dumps(payload, indent=2, allow_nan=False) + "\n"
  )
  md = "\n".join(
    [
      "# Evaluation report",
      "",
      f"Window: {report['window']} steps; channels: {', '.join(report['channels'])}.",
      "",
      *(
        [
          f"Privacy: the generator spent epsilon = {report['privacy']['epsilon']:.4g} at "
          f"delta = {report['privacy']['delta']:g} ({report['privacy']['unit']}).",
          "",
        ]
        if report.get("privacy")
        else []
      ),
      *(
        [
          "Samples drawn from the generator of training step {generator_step} with "
          "temperature {temperature:g}, weight temperature {weight_temperature:g}, burn-in "
          "{burn_in} steps.".format(**report["sampling"]),
          "",
        ]
        if report.get("sampling")
        else []
      ),
      markdown_table(report, baselines),
      "",
      *(f"- {line}" for line in _TARGETS),
      "",
    ]
  )
  md_path = _write_text(os.path.join(out_dir, "report.md"), md)
  return json_path, md_path


def _write_text(path: str, text: str) -> str:
  """Writes `text` to `path` atomically; returns `path`."""
  with fileio.atomic_open(path) as f:
    f.write(text)
  return path
