"""Activity-conditioned training and sampling on a toy two-class signal."""

import dataclasses
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from launch_util import bench_module

from sensegen import api
from sensegen import experiment
from sensegen import evaluation_run
from sensegen import input_pipeline
from sensegen import resampling
from sensegen import sampling
from sensegen.config import Config
from sensegen.data import windows
from sensegen.errors import ConfigError
from sensegen.errors import DataError
from sensegen.evaluate import features
from sensegen.train import setup

# The shared fixture runs once: every test of this module on one worker.
pytestmark = pytest.mark.xdist_group("conditioning")


def _two_class_file(path, seed=0):
  """Series that walk through label 1 (a sine) then label 2 (flat noise), with an
  unlabelled gap between recordings' halves."""
  rng = np.random.default_rng(seed)
  xs, labels = [], []
  for _ in range(6):
    t = np.arange(300)
    sine = np.sin(2 * np.pi * (t / 16 + rng.random()))
    flat = 0.05 * rng.normal(size=300)
    gap = rng.normal(size=40)
    xs.append(np.concatenate([sine, gap, flat])[:, None])
    labels.append(np.concatenate([np.ones(300), np.zeros(40), np.full(300, 2)]))
  np.savez(path, x=np.stack(xs).astype(np.float32), labels=np.stack(labels).astype(np.int32))


def _toy_run(root, **overrides) -> Config:
  """A small conditioned run on the two-class files, written to `root`."""
  _two_class_file(root / "toy.npz")
  _two_class_file(root / "toy_test.npz", seed=1)
  cfg = Config(
    workdir=str(root / "run"),
    data=str(root / "toy.npz"),
    eval_data=str(root / "toy_test.npz"),
    condition_on="activity",
    figures=False,
    lstm_layers=1,
    lstm_units=24,
    dense_units=16,
    mixtures=3,
    batch_size=8,
    bptt_steps=24,
    train_steps=300,
    learning_rate=1e-2,
    window=48,
    eval_windows=4,
    eval_every=300,
    log_every=300,
    checkpoint_every=300,
    calibration_windows=16,
    resample_windows=16,
  )
  return dataclasses.replace(cfg, **overrides)


@pytest.fixture(scope="module")
def conditioned_run(tmp_path_factory):
  cfg = _toy_run(tmp_path_factory.mktemp("cond"))
  return api.train(cfg), input_pipeline.load(cfg, min_length=cfg.window)


def test_only_labelled_stretches_are_used(conditioned_run):
  _, run_data = conditioned_run
  assert run_data.num_labels == 3
  # Each labelled stretch of the 6 series is one series.
  assert all(np.all(l > 0) for l in run_data.train.labels)
  assert all(len(s) == len(l) for s, l in zip(run_data.train.series, run_data.train.labels))


def test_sampling_with_a_label_recovers_its_class(conditioned_run):
  gen, _ = conditioned_run
  key = jax.random.key(0)
  sine = np.asarray(gen.sample(key, 16, 96, labels=gen.label_ids("1", length=96)))
  flat = np.asarray(gen.sample(key, 16, 96, labels=gen.label_ids("2", length=96)))
  assert sine[:, 16:].std() > 4 * flat[:, 16:].std()
  # The sine's period (16 steps) shows in the autocorrelation of the label-1 samples.
  z = sine[:, 16:, 0] - sine[:, 16:, 0].mean(1, keepdims=True)
  acf16 = np.mean(np.sum(z[:, 16:] * z[:, :-16], 1) / np.sum(z * z, 1))
  acf8 = np.mean(np.sum(z[:, 8:] * z[:, :-8], 1) / np.sum(z * z, 1))
  assert acf16 > 0.3 and acf8 < 0


def test_label_schedule_lengths_and_order(conditioned_run):
  gen, _ = conditioned_run
  ids = gen.label_ids(schedule="1:50,2:30,1:20")
  assert ids.shape == (100,)
  np.testing.assert_array_equal(ids[:50], 1)
  np.testing.assert_array_equal(ids[50:80], 2)
  np.testing.assert_array_equal(ids[80:], 1)
  x = np.asarray(gen.sample(jax.random.key(1), 8, 100, labels=ids))
  assert x.shape == (8, 100, 1)
  assert x[:, 60:80].std() < x[:, 20:50].std()


def test_samples_are_each_activitys_critics_pick_of_candidates_with_their_labels(
  conditioned_run,
):
  gen, _ = conditioned_run
  assert isinstance(gen.critic, resampling.LabelCritics) and set(gen.critic.critics) == {1, 2}
  # Critics that prefer loud windows (weight 1e6: Gumbel noise cannot swap candidates whose
  # log stds differ by more than ~1e-5): each row keeps the loudest candidates drawn with
  # its own labels.
  names = features.feature_names(gen.critic.window, gen.channels)
  loud = {}
  for label, critic in gen.critic.critics.items():
    coef = 1e6 * (np.arange(len(critic.coef)) == names.index(f"log_std[{gen.channels[0]}]"))
    loud[label] = dataclasses.replace(critic, coef=coef, mean=0 * coef, scale=1 + 0 * coef)
  gen = dataclasses.replace(gen, critic=resampling.LabelCritics(loud))
  labels = np.repeat(np.array([1, 2, 1, 2])[:, None], 60, axis=1)
  key = jax.random.key(3)
  kept = np.asarray(gen.sample(key, 4, 60, labels=labels, resample=3))
  draw_key = jax.random.split(key)[0]
  candidates = np.asarray(
    gen.sample_fn(gen.params, draw_key, 12, 60, labels=np.tile(labels, (3, 1)))
  )
  for rows in ([0, 2], [1, 3]):
    own = candidates[rows[0] :: 2]  # Candidate i carries the labels of row i % 4.
    loudest = own[np.argsort(-own[:, :48].std(axis=(1, 2)))[:2]]
    np.testing.assert_array_equal(np.sort(kept[rows], axis=0), np.sort(loudest, axis=0))


def test_bad_labels_are_config_errors(conditioned_run):
  gen, _ = conditioned_run
  with pytest.raises(ConfigError, match="unknown label 'RUNNING'"):
    gen.label_ids("RUNNING", length=5)
  with pytest.raises(ConfigError, match="NAME:STEPS"):
    gen.label_ids(schedule="1:50,2")
  with pytest.raises(ConfigError, match="conditioned"):
    gen.sample(jax.random.key(0), 2, 5)


def test_evaluation_scores_each_activity_from_64_windows_each(conditioned_run):
  gen, run_data = conditioned_run
  cfg = dataclasses.replace(gen.config, posthoc_steps=3, burn_in=0)
  with pytest.raises(
    DataError, match="--num_samples=127: 63 windows per activity for 2 activities"
  ):
    evaluation_run.activity_ids(dataclasses.replace(cfg, num_samples=127), gen, run_data)
  cfg = dataclasses.replace(cfg, num_samples=128, baselines=True)
  activity = evaluation_run.activity_report(
    cfg, gen, run_data, evaluation_run.activity_ids(cfg, gen, run_data)
  )
  assert activity["classes"] == ["1", "2"] and activity["windows_per_activity"] == 64
  for name in ("1", "2"):
    score = activity["per_activity"][name]["discriminative_score"]
    assert score["judge"] in ("lstm", "features") and 0 <= score["ci95"][0] <= score["mean"]
    holdout = activity["per_activity"][name]["real_holdout_discriminative_score"]
    assert 0 <= holdout["ci95"][0] <= holdout["mean"] <= 0.5
    regime = activity["per_activity"][name]["regime"]
    assert 0 <= regime["quiet_share_synthetic"] <= 1 and 0 <= regime["window_std_ks"] <= 1
  assert 0 <= activity["tstr_accuracy"] <= 1 and 0 <= activity["trtr_accuracy"] <= 1


def test_adversarial_schedule_trains_a_label_aware_critic(tmp_path):
  cfg = _toy_run(
    tmp_path,
    lstm_units=8,
    dense_units=8,
    mixtures=2,
    batch_size=4,
    bptt_steps=10,
    train_steps=4,
    eval_every=100,
    log_every=2,
    checkpoint_every=100,
    calibration_windows=0,
    resample_windows=0,
    schedule="adversarial",
    rounds=2,
    g_steps_per_round=2,
    critic_steps=1,
    adv_window=12,
    burn_in=5,
    d_minibatch=4,
  )
  trainer = setup.prepare(cfg)
  assert trainer.run()
  lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
  rows = [json.loads(line) for line in lines]
  assert [r["round"] for r in rows if "adv_d_accuracy" in r] == [1, 2]
  assert any("adv_g_loss" in r for r in rows)
  # The critic reads the one-hot labels beside the signal (1 channel).
  judged = jax.ShapeDtypeStruct((1, 2, 1 + trainer.run_data.num_labels), jnp.float32)
  expected = jax.eval_shape(experiment.critic(cfg).init, jax.random.key(0), judged)
  shapes = lambda tree: [leaf.shape for leaf in jax.tree.leaves(tree)]
  assert shapes(trainer.state.c.params) == shapes(expected)


def test_subject_styles_come_from_the_file_and_reach_the_samples(tmp_path):
  """A `--subject_style` run reads each series' subject from the file (two subjects: two
  styles), and its samples depend on the style only through that style's embedding row."""
  rng = np.random.default_rng(0)
  x = rng.normal(size=(8, 800, 1)).astype(np.float32)  # Held out: each one's last 80 steps.
  np.savez(tmp_path / "two.npz", x=x, labels=np.ones(8, np.int32), subjects=np.repeat([4, 9], 4))
  cfg = _toy_run(
    tmp_path, data=str(tmp_path / "two.npz"), eval_data="", subject_style=True, train_steps=20
  )
  gen = api.train(cfg)
  assert gen.model.num_styles == 2  # Subjects 4 and 9: styles 1 and 2.
  draw = lambda params, style: np.asarray(
    sampling.sample(
      gen.model,
      params,
      jax.random.key(1),
      4,
      32,
      labels=jnp.ones((4, 32), jnp.int32),
      burn_in=8,
      style_ids=jnp.full(4, style),
    )
  )
  assert not np.allclose(draw(gen.params, 1), draw(gen.params, 2))
  rows = gen.params["params"]["style_embed"]["embedding"]
  same = jax.tree.map(lambda leaf: leaf, gen.params)
  same["params"]["style_embed"]["embedding"] = rows.at[1].set(rows[2])
  np.testing.assert_array_equal(draw(same, 1), draw(same, 2))


def test_rank_runs_scores_each_activity_against_its_own_training_windows(
  conditioned_run, monkeypatch
):
  """`benchmarks/rank_runs.py`'s criterion: per activity, real windows cut from that
  activity's training stretches (never the test split) against samples drawn under its
  label, scored by the feature judge; "mean" averages the activities."""
  gen, run_data = conditioned_run
  rank_runs = bench_module("rank_runs")
  seen, asked = [], []
  fake_scores = {1: [0.1, 0.2, 0.3], 2: [0.3, 0.4, 0.5]}
  monkeypatch.setattr(
    features,
    "feature_scores",
    lambda real, synth: seen.append((real, synth)) or fake_scores[len(seen)],
  )
  sample = type(gen).sample
  monkeypatch.setattr(
    type(gen),
    "sample",
    lambda self, *a, **k: asked.append(np.asarray(a[4])) or sample(self, *a, **k),
  )
  cfg = dataclasses.replace(gen.config, num_samples=128, burn_in=0, seed=3)
  got = rank_runs.criterion(cfg, gen, run_data)
  np.testing.assert_allclose([got["1"], got["2"], got["mean"]], [0.2, 0.4, 0.3])
  (real_1, synth_1), (real_2, synth_2) = seen
  for label, real in ((1, real_1), (2, real_2)):
    assert real.shape == (64, cfg.window, 1)
    stretches = windows.label_runs(run_data.train.series, run_data.train.labels, label, cfg.window)
    cuts = np.concatenate(
      [np.lib.stride_tricks.sliding_window_view(s[:, 0], cfg.window) for s in stretches]
    )
    assert all(np.any(np.all(cuts == w[:, 0], axis=1)) for w in real)
  assert synth_1.shape == synth_2.shape == (64, cfg.window, 1)
  # One draw per activity, each asking for that activity's label at every step.
  assert [a.tolist() for a in asked] == [[1] * cfg.window, [2] * cfg.window]
