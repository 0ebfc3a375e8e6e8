"""Tests of sensegen.evaluate on small hand-made window sets."""

import itertools
import json
import os

import numpy as np
import pytest
import scipy.stats

from sensegen import baselines
from sensegen import plots
from sensegen import evaluate as ev
from sensegen.errors import DataError
from sensegen.evaluate import embeddings
from sensegen.evaluate import features
from sensegen.evaluate import judges
from sensegen.evaluate import privacy
from sensegen.evaluate import stats

_KEYS = {
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
  "window",
  "channels",
}


def _noise(seed, n, length=32, d=2):
  return np.random.default_rng(seed).normal(size=(n, length, d)).astype(np.float32)


def _sines(seed, n, length=32, d=2, noise=0.1):
  """Sines of random frequency and phase per window and channel, plus noise."""
  rng = np.random.default_rng(seed)
  t = np.arange(length)[None, :, None]
  freq = rng.uniform(0.05, 0.15, (n, 1, d))
  phase = rng.uniform(0, 2 * np.pi, (n, 1, d))
  x = np.sin(2 * np.pi * freq * t + phase) + noise * rng.normal(size=(n, length, d))
  return x.astype(np.float32)


# ------------------------------------------------------- distribution metrics


def test_identical_sets_have_zero_distances():
  x = _sines(0, 20, length=64, d=3)
  assert ev.marginal_wasserstein(x, x) == [0.0] * 3
  assert ev.acf_distance(x, x) == [0.0] * 3
  assert ev.psd_distance(x, x, fs=50.0) == [0.0] * 3
  assert ev.correlation_difference(x, x) == 0.0


def test_wasserstein_matches_scipy():
  real, synth = _noise(0, 30), 2 * _noise(1, 17, length=20) + 1
  expected = [
    scipy.stats.wasserstein_distance(real[..., c].ravel(), synth[..., c].ravel()) for c in range(2)
  ]
  np.testing.assert_allclose(ev.marginal_wasserstein(real, synth), expected)


def test_wasserstein_of_a_shift_is_the_shift():
  x = _noise(0, 10)
  np.testing.assert_allclose(ev.marginal_wasserstein(x, x + 1.5), [1.5, 1.5], rtol=1e-6)


def test_autocorrelation_hand_case():
  x = np.array([1.0, -1.0, 1.0, -1.0])[None, :, None]
  # Biased estimator: lag 1 = -3 / 4, lag 2 = 2 / 4.
  np.testing.assert_allclose(stats.autocorrelation(x, 2)[0, :, 0], [-0.75, 0.5])


def test_autocorrelation_of_constant_window_is_zero():
  assert np.all(stats.autocorrelation(np.ones((2, 10, 1)), 3) == 0)


def test_acf_distance_caps_lag_at_window_length():
  assert len(ev.acf_distance(_noise(0, 4, length=8), _noise(1, 4, length=8), max_lag=50)) == 2


def test_psd_distance_of_scaled_set_is_two_decades():
  x = _noise(0, 10, length=64)
  # Amplitude x10 is power x100, i.e. exactly 2 in log10 at every frequency.
  np.testing.assert_allclose(ev.psd_distance(x, 10 * x, fs=20.0), [2.0, 2.0], rtol=1e-5)


def test_correlation_difference_hand_case():
  a = np.array([1.0, -1.0, 1.0, -1.0])
  b = np.array([1.0, 1.0, -1.0, -1.0])
  real = np.stack([a, a], axis=-1)[None]  # correlation 1
  synth = np.stack([a, b], axis=-1)[None]  # correlation 0
  assert ev.correlation_difference(real, synth) == pytest.approx(1.0)


def test_correlation_difference_is_none_for_one_channel():
  assert ev.correlation_difference(_noise(0, 3, d=1), _noise(1, 3, d=1)) is None


# ----------------------------------------------------------- privacy metrics


def _brute_nearest(q, r):
  return np.linalg.norm(q.reshape(len(q), 1, -1) - r.reshape(1, len(r), -1), axis=-1).min(axis=1)


def test_nearest_distances_match_brute_force():
  q, r = _noise(0, 7, length=5), _noise(1, 11, length=5)
  np.testing.assert_allclose(privacy.nearest_distances(q, r), _brute_nearest(q, r), rtol=1e-6)


def test_membership_auc_is_the_pairwise_win_rate_with_ties_as_half():
  members, nonmembers = _noise(0, 30, length=4), _noise(1, 30, length=4)
  synth = np.concatenate([members[:5], _noise(2, 10, length=4)])
  # Equal counts: no subsampling; a member scores higher when it is nearer.
  pos, neg = (-_brute_nearest(x, synth) for x in (members, nonmembers))
  brute = np.mean(
    [1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)]
  )
  assert ev.membership_auc(members, nonmembers, synth) == pytest.approx(brute)
  assert ev.membership_auc(members, members, synth) == 0.5


def test_replayed_training_set_leaks():
  train, test = _noise(0, 200), _noise(1, 200)
  replay = baselines.replay_baseline(train, 200, seed=3)
  dcr = ev.dcr(train, test, replay)
  assert dcr["ratio"] < 0.05 and dcr["nndr_ratio"] < 0.05
  assert ev.membership_auc(train, test, replay) > 0.9


def test_fresh_draw_does_not_leak():
  train, test, fresh = _noise(0, 200), _noise(1, 200), _noise(2, 200)
  dcr = ev.dcr(train, test, fresh)
  assert dcr["ratio"] == pytest.approx(1.0, abs=0.1)
  assert dcr["nndr_ratio"] == pytest.approx(1.0, abs=0.1)
  assert ev.membership_auc(train, test, fresh) == pytest.approx(0.5, abs=0.12)


def test_nndr_is_blind_to_amplitude_where_dcr_is_not():
  """Fresh windows at half the amplitude copy nothing: DCR falls, NNDR does not."""
  train, test = _noise(0, 200), _noise(1, 200)
  quieter = 0.5 * _noise(2, 200)
  dcr = ev.dcr(train, test, quieter)
  assert dcr["ratio"] < 0.9
  assert dcr["nndr_ratio"] == pytest.approx(1.0, abs=0.1)


def test_nndr_medians_match_a_brute_force_search():
  train, test, synth = _noise(0, 30, length=4), _noise(1, 20, length=4), _noise(2, 25, length=4)

  def brute_median(queries):
    flat = lambda x: x.reshape(len(x), -1)
    d = np.sort(np.linalg.norm(flat(queries)[:, None] - flat(train)[None], axis=-1), axis=1)
    return np.median(d[:, 0] / d[:, 1])

  dcr = ev.dcr(train, test, synth)
  assert dcr["nndr_synthetic_median"] == pytest.approx(brute_median(synth))
  assert dcr["nndr_holdout_median"] == pytest.approx(brute_median(test))
  assert dcr["nndr_ratio"] == pytest.approx(brute_median(synth) / brute_median(test))


# ------------------------------------------------------ post-hoc LSTM scores
# 200 windows of [32, 2] per set here and in the `evaluate` test, so that the
# compiled train steps are shared (compiling dominates these tests' time).


def test_discriminative_score_separates_sines_from_noise():
  score = ev.discriminative_score(_sines(0, 200), _noise(1, 200), steps=150)
  assert score["lstm"]["mean"] > 0.4 and score["features"]["mean"] > 0.4


def test_discriminative_score_small_for_same_distribution():
  score = ev.discriminative_score(_noise(0, 200), _noise(1, 200), steps=150)
  assert score["lstm"]["mean"] < 0.15 and score["features"]["mean"] < 0.15


def test_discriminative_score_is_the_stronger_judge_with_its_interval():
  # Amplitude differs, dynamics do not: the window-statistics judge sees it at once.
  score = ev.discriminative_score(_noise(0, 200), 1.5 * _noise(1, 200), steps=3)
  stronger = max(("lstm", "features"), key=lambda name: score[name]["mean"])
  assert score["judge"] == stronger == "features"
  assert {k: score[k] for k in ("mean", "std", "ci95")} == score[stronger]
  lo, hi = score["ci95"]
  assert 0.0 <= lo <= score["mean"] <= hi <= 0.5


def test_score_interval_is_the_wilson_interval():
  # Wilson's formula for 0.5 + 0.1 of 200 judged windows, written out independently.
  p, n, z = 0.6, 200, scipy.stats.norm.ppf(0.975)
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
  np.testing.assert_allclose(
    judges.score_interval(0.1, n), [centre - half - 0.5, centre + half - 0.5]
  )
  assert judges.score_interval(0.0, n)[0] == 0.0


@pytest.mark.parametrize("real_count, synth_count, bad", [(63, 64, "real"), (64, 3, "synthetic")])
def test_discriminative_score_refuses_fewer_than_64_windows(real_count, synth_count, bad):
  with pytest.raises(DataError) as info:
    ev.discriminative_score(_noise(0, real_count), _noise(1, synth_count))
  count = real_count if bad == "real" else synth_count
  assert str(info.value).startswith(f"{bad}: {count} windows, a discriminative score needs")


def test_window_features_line_up_and_see_the_spectrum():
  white = _noise(0, 80, length=64)
  smooth = np.cumsum(_noise(1, 80, length=64), axis=1) / 8.0
  f_white, f_smooth = features.window_features(white), features.window_features(smooth)
  assert f_white.shape == f_smooth.shape and f_white.shape[0] == 80
  assert np.all(np.isfinite(f_white))
  assert features.feature_scores(white, smooth, seeds=(0,)) == [0.5]
  names = features.feature_names(64, ("x", "y"))
  assert len(names) == f_white.shape[1] and len(set(names)) == len(names)
  # Columns are statistic-major: the first two are the log std of x and of y.
  np.testing.assert_allclose(f_white[:, :2], np.log(white.astype(np.float64).std(axis=1) + 1e-8))
  assert names[:2] == ["log_std[x]", "log_std[y]"] and names[-1] == "correlation[x,y]"
  constant = features.window_features(np.zeros((3, 64, 2)))
  assert np.all(np.isfinite(constant)) and constant.shape[1] == f_white.shape[1]


# ------------------------------------------------------------ regime statistics


def test_regime_counts_quiet_windows_and_compares_std_distributions():
  quiet = 0.05 * _noise(0, 100, length=64) / _noise(0, 100, length=64).std(axis=1, keepdims=True)
  loud = _noise(1, 100, length=64)
  half = np.concatenate([quiet[:50], loud[:50]])
  r = ev.regime(half, loud)
  assert r["quiet_share_real"] == 0.5 and r["quiet_share_synthetic"] == 0.0
  assert r["window_std_ks"] == pytest.approx(0.5)
  assert ev.regime(quiet, loud)["window_std_ks"] == 1.0
  assert r["window_std_quartiles_real"][0] == pytest.approx(0.05, rel=1e-4)
  expected = np.median(np.diff(loud, axis=1).std(axis=1))
  assert r["diff_std_synthetic"] == pytest.approx(expected)
  same = ev.regime(loud, loud)
  assert same["window_std_ks"] == 0.0
  assert same["window_std_quartiles_real"] == same["window_std_quartiles_synthetic"]


def test_plot_window_std_writes_png(tmp_path):
  path = str(tmp_path / "window_std.png")
  plots.window_std(ev.window_std(_sines(0, 70)), ev.window_std(_noise(1, 70)), path, 0.1)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_predictive_score_tstr_close_to_trtr_for_real_like_data():
  train, test = _sines(0, 200), _sines(1, 200)
  same = ev.predictive_score(train, test, train, steps=100)
  assert same["tstr_mae"] == pytest.approx(same["trtr_mae"], rel=1e-4)
  fresh = ev.predictive_score(train, test, _sines(2, 200), steps=100)
  assert fresh["tstr_mae"] == pytest.approx(fresh["trtr_mae"], rel=0.25)
  noise = ev.predictive_score(train, test, _noise(3, 200), steps=100)
  assert noise["tstr_mae"] > 1.5 * noise["trtr_mae"]


# --------------------------------------------------------------- embeddings


def test_pca_2d_of_points_on_a_line():
  t = np.linspace(-1, 1, 9)
  emb = embeddings.pca_2d(np.stack([t, 2 * t, -t], axis=1))
  np.testing.assert_allclose(np.abs(emb[:, 0]), np.abs(t) * np.sqrt(6), rtol=1e-6)
  np.testing.assert_allclose(emb[:, 1], 0.0, atol=1e-9)


def test_tsne_keeps_clusters_apart():
  rng = np.random.default_rng(0)
  x = np.concatenate([rng.normal(0, 1, (30, 5)), rng.normal(20, 1, (30, 5))])
  emb = embeddings.embed_2d(x, "tsne", seed=0)
  d = np.linalg.norm(emb[:, None] - emb[None], axis=-1)
  np.fill_diagonal(d, np.inf)
  same_cluster = (np.argmin(d, axis=1) < 30) == (np.arange(60) < 30)
  assert emb.shape == (60, 2) and same_cluster.all()


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_plot_embedding_writes_png(tmp_path, method):
  path = str(tmp_path / f"{method}.png")
  ev.plot_embedding(_sines(0, 20), _noise(1, 20), path, method=method)
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.listdir(tmp_path) == [f"{method}.png"]


def test_plot_trace_grid_writes_png(tmp_path):
  path = str(tmp_path / "traces.png")
  ev.plot_trace_grid(_sines(0, 5), _noise(1, 5), path, channels=("x", "y"))
  with open(path, "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"
  assert os.listdir(tmp_path) == ["traces.png"]


# ------------------------------------------------------------------- report


def test_evaluate_report_has_stable_keys_and_subsamples():
  report = ev.evaluate(
    _sines(0, 300),
    _sines(1, 200),
    _noise(2, 250),
    sample_rate_hz=50.0,
    channels=("x", "y"),
    max_windows=200,
    quick=True,
  )
  assert set(report) == _KEYS
  assert set(report["discriminative_score"]) == {"mean", "std", "ci95", "judge", "lstm", "features"}
  assert set(report["regime"]) >= {"quiet_share_real", "quiet_share_synthetic", "window_std_ks"}
  assert set(report["predictive_score"]) == {"tstr_mae", "trtr_mae"}
  assert set(report["dcr"]) == {
    "synthetic_median",
    "holdout_median",
    "ratio",
    "nndr_synthetic_median",
    "nndr_holdout_median",
    "nndr_ratio",
  }
  assert report["counts"] == {"train": 200, "test": 200, "synthetic": 200}
  assert report["window"] == 32 and report["channels"] == ["x", "y"]
  for key in ("marginal_wasserstein", "acf_distance", "psd_distance"):
    assert len(report[key]) == 2
  assert 0.0 <= report["membership_auc"] <= 1.0
  json.dumps(report, allow_nan=False)


_GOOD = _noise(0, 4, length=16, d=3)


@pytest.mark.parametrize(
  "kwargs, message",
  [
    (dict(synthetic=_noise(0, 4, length=16, d=2)), "synthetic: 2 channels, real data has 3"),
    (dict(synthetic=_noise(0, 4, length=8, d=3)), "synthetic: windows of 8 steps, 16 needed"),
    (dict(synthetic=np.where(np.arange(3) == 1, np.nan, _GOOD)), "synthetic: contains NaN"),
    (dict(synthetic=np.where(np.arange(3) == 1, np.inf, _GOOD)), "synthetic: contains inf"),
    (dict(synthetic=_GOOD[0]), "synthetic: rank 2, expected windows"),
    (dict(real_test=_noise(0, 4, length=16, d=1)), "real_test: 1 channels, real_train has 3"),
    (dict(real_train=_GOOD[:1]), "real_train: 1 windows, at least 2 needed"),
    (dict(synthetic=_noise(0, 63, length=16, d=3)), "real_train: 4 windows, a discriminative"),
    (dict(real_train=np.array([["a"]])), "real_train: dtype <U1"),
    (dict(channels=("x", "y")), "channels: 2 names, real data has 3"),
    (dict(sample_rate_hz=0.0), "sample_rate_hz: 0.0, must be positive"),
  ],
)
def test_evaluate_rejects_bad_input(kwargs, message):
  args = dict(
    real_train=_GOOD,
    real_test=_GOOD,
    synthetic=_GOOD,
    sample_rate_hz=50.0,
    channels=("x", "y", "z"),
  )
  args.update(kwargs)
  with pytest.raises(DataError) as info:
    ev.evaluate(**args)
  assert str(info.value).startswith(message)
  assert "\n" not in str(info.value)


def _fake_report(scale):
  return {
    "discriminative_score": {
      "mean": 0.1 * scale,
      "std": 0.01,
      "ci95": [0.05, 0.15],
      "judge": "features",
      "lstm": {"mean": 0.05, "std": 0.01, "ci95": [0.0, 0.1]},
    },
    "predictive_score": {"tstr_mae": 0.3, "trtr_mae": 0.25},
    "marginal_wasserstein": [0.1, 0.2],
    "acf_distance": [0.01, 0.02],
    "psd_distance": [0.5, 0.6],
    "correlation_difference": None,
    "regime": {"quiet_share_real": 0.25, "window_std_quartiles_real": [0.1, 0.5, 1.0]},
    "dcr": {"synthetic_median": 1.0, "holdout_median": 0.0, "ratio": float("nan")},
    "membership_auc": 0.5,
    "counts": {"train": 10, "test": 5, "synthetic": 10},
    "window": 32,
    "channels": ["acc_x", "acc_y"],
  }


def test_write_report_writes_json_and_markdown(tmp_path):
  out = str(tmp_path / "eval")
  json_path, md_path = ev.write_report(
    _fake_report(1), out, baselines={"gaussian": _fake_report(2), "ar": _fake_report(3)}
  )
  with open(json_path) as f:
    payload = json.load(f)
  assert set(payload) == _KEYS | {"baselines"}
  assert set(payload["baselines"]) == {"gaussian", "ar"}
  assert set(payload["baselines"]["ar"]) == _KEYS
  assert payload["dcr"]["ratio"] is None
  with open(md_path) as f:
    md = f.read()
  assert "| metric | model | gaussian | ar |" in md
  assert "| discriminative_score.mean | 0.1 | 0.2 | 0.3 |" in md
  assert "| marginal_wasserstein[acc_y] | 0.2 | 0.2 | 0.2 |" in md
  assert "| dcr.ratio | n/a | n/a | n/a |" in md
  assert "| discriminative_score.ci95 | [0.05, 0.15] | [0.05, 0.15] | [0.05, 0.15] |" in md
  assert "| discriminative_score.judge | features | features | features |" in md
  assert "| discriminative_score.lstm.mean | 0.05 | 0.05 | 0.05 |" in md
  assert "| regime.window_std_quartiles_real | [0.1, 0.5, 1] |" in md
  assert sorted(os.listdir(out)) == ["report.json", "report.md"]


def test_write_report_without_baselines(tmp_path):
  json_path, _ = ev.write_report(_fake_report(1), str(tmp_path))
  with open(json_path) as f:
    assert json.load(f)["baselines"] == {}


def test_activity_accuracy_tstr_equals_trtr_for_real_data_and_fails_for_swapped_labels():
  t = np.arange(30)

  def windows(n, seed):
    r = np.random.default_rng(seed)
    sines = np.sin(2 * np.pi * (t[None] / 6 + r.random((n, 1))))[..., None]
    flat = 0.05 * r.normal(size=(n, 30, 1))
    return (
      np.concatenate([sines, flat]).astype(np.float32),
      np.concatenate([np.zeros(n), np.ones(n)]).astype(np.int32),
    )

  x_train, y_train = windows(40, 1)
  x_test, y_test = windows(20, 2)
  good = ev.activity_accuracy(
    x_train, y_train, x_test, y_test, x_train, y_train, num_classes=2, steps=120
  )
  assert good["trtr_accuracy"] > 0.95 and good["tstr_accuracy"] > 0.95
  swapped = ev.activity_accuracy(
    x_train, y_train, x_test, y_test, x_train, 1 - y_train, num_classes=2, steps=120
  )
  assert swapped["tstr_accuracy"] < 0.05
