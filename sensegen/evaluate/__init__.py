"""Fidelity, utility and privacy metrics of synthetic sensor windows (arrays in, numbers out).

One metric family per module:
  checks       input validation of the window sets
  stats        marginal Wasserstein-1, autocorrelation, spectrum, cross-channel correlation,
               per-window regime statistics (quiet share, window-std KS)
  features     window statistics and the feature-based judge (logistic regression)
  classifiers  post-hoc LSTM models: the LSTM judge, predictive (TSTR), activity accuracy
  judges       discriminative score: the stronger of the LSTM and the feature judge
  privacy      distance to closest record, membership-inference AUC
  embeddings   PCA / t-SNE views and example-trace figures
  report       `evaluate` (every family on one set of windows) and report.json / report.md
"""

from sensegen.evaluate.classifiers import activity_accuracy
from sensegen.evaluate.classifiers import predictive_score
from sensegen.evaluate.embeddings import plot_embedding
from sensegen.evaluate.embeddings import plot_trace_grid
from sensegen.evaluate.features import window_features
from sensegen.evaluate.judges import MIN_WINDOWS
from sensegen.evaluate.judges import discriminative_score
from sensegen.evaluate.privacy import dcr
from sensegen.evaluate.privacy import membership_auc
from sensegen.evaluate.report import evaluate
from sensegen.evaluate.report import markdown_table
from sensegen.evaluate.report import write_report
from sensegen.evaluate.stats import acf_distance
from sensegen.evaluate.stats import correlation_difference
from sensegen.evaluate.stats import marginal_wasserstein
from sensegen.evaluate.stats import psd_distance
from sensegen.evaluate.stats import regime
from sensegen.evaluate.stats import window_std

__all__ = [
  "MIN_WINDOWS",
  "acf_distance",
  "activity_accuracy",
  "correlation_difference",
  "dcr",
  "discriminative_score",
  "evaluate",
  "marginal_wasserstein",
  "markdown_table",
  "membership_auc",
  "plot_embedding",
  "plot_trace_grid",
  "predictive_score",
  "psd_distance",
  "regime",
  "window_features",
  "window_std",
  "write_report",
]
