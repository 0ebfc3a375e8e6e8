"""The resampling critic and the Gumbel top-k choice."""

import jax
import numpy as np
import pytest
import scipy.stats
import sklearn.linear_model
import sklearn.pipeline
import sklearn.preprocessing

from sensegen import resampling
from sensegen.errors import ConfigError
from sensegen.evaluate.features import window_features


def _windows(rng, n, scale, length=64, channels=2):
  """AR(1) windows `[n, length, channels]` of the given innovation scale."""
  noise = rng.normal(size=(n, length, channels)) * scale
  x = np.zeros_like(noise)
  for t in range(1, length):
    x[:, t] = 0.8 * x[:, t - 1] + noise[:, t]
  return x.astype(np.float32)


@pytest.fixture(scope="module")
def fitted():
  rng = np.random.default_rng(0)
  real, synthetic = _windows(rng, 80, 1.0), _windows(rng, 80, 1.6)
  return real, synthetic, resampling.fit(real, synthetic)


def _reference_features(windows, real):
  """window_features plus the one-hot octile of each channel's log std among `real`'s."""
  log_std = lambda w: np.log(w.std(axis=1))
  edges = np.quantile(log_std(real), np.arange(1, 8) / 8, axis=0)
  onehot = [
    np.eye(8)[np.digitize(log_std(windows)[:, c], edges[:, c], right=True)]
    for c in range(windows.shape[-1])
  ]
  return np.concatenate([window_features(windows), *onehot], axis=1)


def test_logits_are_the_fitted_logistic_regressions_decision_function(fitted):
  real, synthetic, critic = fitted
  reference = sklearn.pipeline.make_pipeline(
    sklearn.preprocessing.StandardScaler(),
    sklearn.linear_model.LogisticRegression(C=1.0, max_iter=2000),
  ).fit(
    np.concatenate([_reference_features(real, real), _reference_features(synthetic, real)]),
    np.r_[np.ones(len(real)), np.zeros(len(synthetic))],
  )
  probe = _windows(np.random.default_rng(1), 10, 1.3)
  np.testing.assert_allclose(
    critic.logits(probe), reference.decision_function(_reference_features(probe, real)), rtol=1e-6
  )
  # It tells the sets apart: real windows score higher.
  assert critic.logits(real).mean() > critic.logits(synthetic).mean()


def test_a_longer_series_scores_the_sum_of_its_windows_and_a_shorter_one_is_refused(fitted):
  _, _, critic = fitted
  x = _windows(np.random.default_rng(2), 3, 1.0, length=2 * critic.window + 7)
  parts = [x[:, i * critic.window : (i + 1) * critic.window] for i in range(2)]
  np.testing.assert_allclose(critic.logits(x), sum(critic.logits(p) for p in parts), rtol=1e-6)
  with pytest.raises(ValueError, match="needs 64"):
    critic.logits(x[:, : critic.window - 1])


def test_resampling_gives_the_candidates_the_real_mix_of_quiet_and_loud_windows():
  rng = np.random.default_rng(3)
  real = np.concatenate([_windows(rng, 100, 0.1), _windows(rng, 100, 1.0)])
  # Candidates of every amplitude in between, with the real windows' mean log std.
  between = lambda n: np.exp(rng.uniform(np.log(0.1), np.log(1.0), n))[:, None, None]
  critic = resampling.fit(real, _windows(rng, 200, 1.0) * between(200))
  pool = _windows(rng, 1600, 1.0) * between(1600)
  kept = pool[resampling.select(jax.random.key(0), critic.logits(pool), 100)]
  ks = lambda w: scipy.stats.ks_2samp(w.std(axis=(1, 2)), real.std(axis=(1, 2))).statistic
  assert ks(kept) < ks(pool) / 2


def test_written_critic_reads_back_the_same(fitted, tmp_path):
  _, synthetic, critic = fitted
  resampling.write(str(tmp_path), critic, {"step": 7})
  again = resampling.read(str(tmp_path))
  assert again.window == critic.window
  np.testing.assert_allclose(again.logits(synthetic), critic.logits(synthetic), rtol=1e-12)
  assert resampling.read(str(tmp_path / "none")) is None
  (tmp_path / resampling.FILE).write_text('{"critic": {"window": 64}}')
  with pytest.raises(ConfigError, match=f"{resampling.FILE} holds no resampling critic"):
    resampling.read(str(tmp_path))


def test_select_draws_without_replacement_in_proportion_to_exp_logits():
  logits = np.log(np.array([1.0, 3.0, 0.0 + 1e-9, 6.0]))
  keys = jax.random.split(jax.random.key(0), 2000)
  firsts = np.array([resampling.select(k, logits, 1)[0] for k in keys])
  # P(i) = w_i / sum(w) = 0.1, 0.3, ~0, 0.6; binomial sd <= 0.011 over 2000 draws.
  np.testing.assert_allclose(np.bincount(firsts, minlength=4) / 2000, [0.1, 0.3, 0, 0.6], atol=0.05)
  pair = resampling.select(keys[0], logits, 3)
  assert len(set(pair.tolist())) == 3
  np.testing.assert_array_equal(pair, resampling.select(keys[0], logits, 3))
  with pytest.raises(ValueError, match="cannot keep 5 of 4"):
    resampling.select(keys[0], logits, 5)


@pytest.fixture(scope="module")
def label_critics(fitted):
  """Label 1: the fitted critic; label 2: one that prefers quiet windows."""
  _, _, critic = fitted
  rng = np.random.default_rng(4)
  quiet = resampling.fit(_windows(rng, 80, 0.2), _windows(rng, 80, 1.0))
  return resampling.LabelCritics({1: critic, 2: quiet})


def test_each_window_is_scored_by_the_critic_of_its_most_frequent_label(label_critics):
  one, two = label_critics.critics[1], label_critics.critics[2]
  w = label_critics.window
  x = _windows(np.random.default_rng(5), 4, 1.0, length=3 * w)
  labels = np.zeros((4, 3 * w), np.int64)
  labels[:, :w] = 1
  labels[:, w : 2 * w] = 2
  labels[:, w : w + 10] = 1  # A minority: the second window stays label 2's.
  labels[:, 2 * w :] = 5  # No critic: scores 0.
  parts = [x[:, i * w : (i + 1) * w] for i in range(3)]
  expected = one.logits(parts[0]) + two.logits(parts[1])
  np.testing.assert_allclose(label_critics.logits(x, labels), expected, rtol=1e-6)


def test_written_label_critics_read_back_the_same(label_critics, tmp_path):
  x = _windows(np.random.default_rng(6), 5, 1.0, length=label_critics.window)
  labels = np.repeat(np.array([1, 2, 2, 1, 3])[:, None], label_critics.window, axis=1)
  resampling.write(str(tmp_path), label_critics, {"step": 3})
  again = resampling.read(str(tmp_path))
  assert isinstance(again, resampling.LabelCritics) and set(again.critics) == {1, 2}
  np.testing.assert_allclose(again.logits(x, labels), label_critics.logits(x, labels), rtol=1e-12)


def test_select_matching_keeps_candidates_drawn_with_each_series_labels():
  labels = np.array([[1, 1], [2, 2], [1, 1], [3, 3]])
  factor = 5
  candidate_labels = np.tile(labels, (factor, 1))
  # The best two candidates of all are label 3's, but label 3 has one row; of label 1's ten
  # candidates, two are far ahead: the label-1 rows get exactly those two.
  logits = np.random.default_rng(0).normal(size=len(candidate_labels))
  logits[np.flatnonzero(candidate_labels[:, 0] == 3)[:2]] = 100.0
  best_of_label_1 = np.flatnonzero(candidate_labels[:, 0] == 1)[[3, 8]]
  logits[best_of_label_1] = 50.0
  keep = resampling.select_matching(jax.random.key(0), logits, labels, factor)
  np.testing.assert_array_equal(candidate_labels[keep], labels)
  assert sorted(keep[[0, 2]].tolist()) == sorted(best_of_label_1.tolist())
  assert logits[keep[3]] == 100.0
