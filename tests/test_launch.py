"""The launcher end to end with launch/smoke.flags (the embedded HAR data)."""

import dataclasses
import json
import logging
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from launch_util import REPO, launch, launch_in_process
from sensegen import api
from sensegen import checkpoint
from sensegen import metrics
from sensegen import tensorboard
from sensegen.errors import ConfigError
from sensegen.evaluate import features


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """One smoke run that the read-only tests share (in-process: JAX is already loaded)."""
  workdir = tmp_path_factory.mktemp("run")
  assert launch_in_process(f"--workdir={workdir}", "--figures") == 0
  return workdir


@pytest.mark.xdist_group("launch_trained")
def test_train_writes_run_files_and_beats_gaussian(trained):
  for name in ("config.json", "dataset.json", "metrics.jsonl", "nll.png", "traces.png"):
    assert (trained / name).is_file(), name
  rows = metrics.read_rows(str(trained / "metrics.jsonl"))
  assert [r["step"] for r in rows if "train_nll" in r] == [10, 20, 30]
  assert all(r["steps_per_sec"] > 0 for r in rows if "train_nll" in r)
  last = [r for r in rows if "eval_nll" in r][-1]
  assert last["step"] == 30 and last["eval_nll"] < last["baseline_eval_nll"]
  assert json.loads((trained / "config.json").read_text())["lstm_units"] == 16


@pytest.mark.xdist_group("launch_trained")
def test_rerun_resumes_without_rewriting_metrics(trained, caplog):
  caplog.set_level(logging.INFO)
  before = (trained / "metrics.jsonl").read_text()
  assert launch_in_process(f"--workdir={trained}", "--train_steps=40") == 0
  assert "resumed from checkpoint at step 30" in caplog.text
  after = (trained / "metrics.jsonl").read_text()
  assert after.startswith(before)
  new = [json.loads(l) for l in after[len(before) :].splitlines()]
  assert [r["step"] for r in new if "train_nll" in r] == [40]
  # TensorBoard got the same curve once per step, across the resume, and one hparams record.
  events = [
    e
    for f in tensorboard.event_files(str(trained / "tensorboard"))
    for e in tensorboard.read_events(f)
  ]
  steps = {}
  for e in events:
    for v in e.summary.value:
      steps.setdefault(v.tag, []).append(e.step)
  assert steps["nll/train"] == [10, 20, 30, 40]
  assert sorted(steps["nll/eval"]) == [15, 30, 40]
  assert len(steps[tensorboard.HPARAMS_TAG]) == 1
  assert "plots/traces" in steps


_FOUR_DEVICES = """
import sys
from launch_util import launch_in_process
sys.exit(launch_in_process(f"--workdir={sys.argv[1]}", "--batch_size=6"))
"""


@pytest.mark.heavy
def test_launcher_on_4_devices_refuses_a_batch_that_does_not_split(tmp_path):
  """One process with 4 CPU devices (fixed when JAX starts, hence a subprocess): one line,
  exit 2, nothing written. That 4 devices train like one is tests/test_parallel.py's; the
  launcher on a mesh trains like one device in tests/test_multiprocess.py."""
  four = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
  env = {
    **os.environ,
    "XLA_FLAGS": four,
    "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")]),
  }
  result = subprocess.run(
    [sys.executable, "-c", _FOUR_DEVICES, str(tmp_path / "run")],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    cwd=REPO,
  )
  assert result.returncode == 2, result.stderr[-3000:]
  assert "not divisible by the 4 devices" in result.stderr and "Traceback" not in result.stderr
  assert not (tmp_path / "run").exists()


@pytest.mark.xdist_group("launch_trained")
def test_sample_npz_and_csv(trained, tmp_path):
  npz, csv = tmp_path / "s.npz", tmp_path / "s.csv"
  for out in (npz, csv):
    assert (
      launch_in_process(
        f"--workdir={trained}",
        "--mode=sample",
        "--num_samples=3",
        "--sample_length=25",
        f"--output={out}",
      )
      == 0
    )
  with np.load(npz, allow_pickle=False) as f:
    assert f["x"].shape == (3, 25, 1) and f["x"].dtype == np.float32
    assert list(f["channels"]) == ["body_acc_x"]
    x = f["x"]
  lines = csv.read_text().splitlines()
  assert lines[0] == "sample_id,t,body_acc_x" and len(lines) == 1 + 3 * 25
  # Same seed -> the same samples in both formats; physical units (g), small values.
  np.testing.assert_allclose(float(lines[1].split(",")[2]), x[0, 0, 0], rtol=1e-5)
  assert np.abs(x).max() < 5


@pytest.mark.xdist_group("launch_trained")
def test_sample_and_evaluate_an_earlier_checkpoint(trained, tmp_path, capsys):
  first = min(int(d) for d in os.listdir(trained / "checkpoints") if d.isdigit())
  earlier = api.load(str(trained), checkpoint=first)
  out = tmp_path / "s.npz"
  flags = (f"--workdir={trained}", "--num_samples=64", "--sample_length=50", "--burn_in=10")
  assert launch_in_process(*flags, "--mode=sample", f"--checkpoint={first}", f"--output={out}") == 0
  with np.load(out) as f:
    x = f["x"]
  # That checkpoint's generator, drawn without resampling, from the --seed key.
  expected = earlier.sample(jax.random.key(0), 64, 50, burn_in=10, resample=1)
  np.testing.assert_allclose(x, expected, rtol=1e-6)
  assert earlier.step < api.load(str(trained)).step
  args = (*flags, "--mode=evaluate", "--posthoc_steps=3", "--nofigures")
  assert launch_in_process(*args, f"--checkpoint={first}") == 0
  report = json.loads((trained / "eval" / "report.json").read_text())
  assert report["sampling"]["generator_step"] == earlier.step
  assert report["sampling"]["resample"] == 1
  assert launch_in_process(*args, "--checkpoint=999") == 2
  assert "holds no checkpoint 999" in capsys.readouterr().err


def test_alternating_schedule_logs_rounds(tmp_path):
  flags = ("--schedule=alternating", "--select_generator=best_fit", "--keep_checkpoints=10")
  assert launch_in_process(f"--workdir={tmp_path}", *flags, "--figures") == 0
  rows = metrics.read_rows(str(tmp_path / "metrics.jsonl"))
  rounds = [r for r in rows if "round" in r]
  assert [r["round"] for r in rounds] == [1, 2]
  assert [r["step"] for r in rounds] == [0, 10]  # D before each round's 10 G steps
  for r in rounds:
    assert 0 <= r["d_train_accuracy"] <= 1 and 0 <= r["d_heldout_accuracy"] <= 1
  assert max(r["step"] for r in rows) == 20
  assert (tmp_path / "discriminator.png").is_file()
  # Each discriminator phase draws with the weight temperature fitted just before it; the
  # end of training fits once more for the final parameters.
  fit = json.loads((tmp_path / "sampling.json").read_text())
  assert fit["last_step"] == 20
  assert [fit["weight_temperature"], fit["window_std_ks"]] in fit["tried"]
  assert fit["window_std_ks"] == min(ks for _, ks in fit["tried"])
  assert all(r["weight_temperature"] > 0 for r in rounds)
  # The run samples with the generator of the best fit (ties: the earlier), and logs which
  # rounds' generators it kept on the way.
  candidates = [(r["window_std_ks"], r["step"]) for r in rounds]
  candidates.append((fit["last_window_std_ks"], 20))
  assert (fit["window_std_ks"], fit["step"]) == min(candidates)
  first, second = (r["window_std_ks"] for r in rounds)
  assert [r["kept"] for r in rounds] == [True, second < first]
  gen = api.load(str(tmp_path))
  assert (gen.step, gen.weight_temperature) == (fit["step"], fit["weight_temperature"])
  # An older checkpoint's training generator, on request; an id the run lacks is refused.
  ids = sorted(int(p.name) for p in (tmp_path / "checkpoints").iterdir() if p.name.isdigit())
  older = api.load(str(tmp_path), checkpoint=ids[0])
  latest = api.load(str(tmp_path), checkpoint=ids[-1])
  assert older.step < latest.step == 20
  assert not np.array_equal(jax.tree.leaves(older.params)[0], jax.tree.leaves(latest.params)[0])
  with pytest.raises(ConfigError, match=f"no checkpoint {ids[-1] + 1}"):
    api.load(str(tmp_path), checkpoint=ids[-1] + 1)
  # --mode=calibrate on the trained run refits that generator (with the end's random key).
  (tmp_path / "sampling.json").unlink()
  (tmp_path / "resampling.json").unlink()
  assert launch_in_process(f"--workdir={tmp_path}", "--mode=calibrate") == 0
  refit = json.loads((tmp_path / "sampling.json").read_text())
  assert refit["step"] == fit["step"]
  assert json.loads((tmp_path / "resampling.json").read_text())["step"] == fit["step"]
  if fit["step"] == 20:
    assert refit["window_std_ks"] == fit["last_window_std_ks"]


def test_best_judge_keeps_the_generator_the_feature_judge_separates_least(tmp_path):
  flags = ("--schedule=alternating", "--select_generator=best_judge", "--calibration_windows=16")
  assert launch_in_process(f"--workdir={tmp_path}", *flags) == 0
  rounds = [r for r in metrics.read_rows(str(tmp_path / "metrics.jsonl")) if "round" in r]
  fit = json.loads((tmp_path / "sampling.json").read_text())
  candidates = [(r["judge_score"], r["step"]) for r in rounds] + [(fit["last_judge_score"], 20)]
  assert all(0 <= score <= 0.5 for score, _ in candidates)
  assert (fit["judge_score"], fit["step"]) == min(candidates)
  assert api.load(str(tmp_path)).step == fit["step"]
  assert not list(tmp_path.glob("*.png"))  # smoke.flags: --nofigures


def test_average_samples_with_the_mean_of_the_generators_of_the_second_half(tmp_path, caplog):
  flags = ("--schedule=alternating", "--select_generator=average", "--average_every=5")
  flags += ("--checkpoint_every=5", "--keep_checkpoints=10")
  caplog.set_level("INFO")
  assert launch_in_process(f"--workdir={tmp_path}", *flags) == 0
  fit = json.loads((tmp_path / "sampling.json").read_text())
  # 2 rounds of 10 steps: the generators of steps 10, 15 and 20 are averaged.
  assert (fit["averaged"], fit["averaged_from"], fit["step"]) == (3, 10, 20)
  assert (
    fit["weight_temperature"] > 0 and "sampling with the mean of the 3 generators" in caplog.text
  )
  ckpt = checkpoint.Checkpointer(str(tmp_path / "checkpoints"), keep=10)
  ids = ckpt.ids_by_step()
  ckpt.close()
  trained = [api.load(str(tmp_path), checkpoint=ids[s]).params for s in (10, 15, 20)]
  mean = jax.tree.map(lambda *p: np.mean(p, axis=0), *trained)
  for got, want in zip(jax.tree.leaves(api.load(str(tmp_path)).params), jax.tree.leaves(mean)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
  "flag, culprit",
  [
    ("--lstm_units=0", "--lstm_units=0"),
    ("--mode=dance", "--mode=dance"),
    ("--channels=body_acc_q", "body_acc_q"),
    ("--data=/nonexistent/file.npz", "/nonexistent/file.npz"),
    ("--window=100000", "100000"),
    ("--no_such_flag=1", "no_such_flag"),
  ],
)
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, flag, culprit):
  workdir = tmp_path / "w"
  assert launch_in_process(f"--workdir={workdir}", flag) == 2
  err = capsys.readouterr().err
  lines = [l for l in err.splitlines() if l.startswith("error:")]
  assert len(lines) == 1 and culprit in lines[0], err[-2000:]
  assert "Traceback" not in err
  assert not workdir.exists()


def test_bad_flag_in_a_real_process_exits_2_without_traceback(tmp_path):
  result = launch(f"--workdir={tmp_path / 'w'}", "--lstm_units=0", timeout=120)
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert [l for l in result.stderr.splitlines() if l.startswith("error:")] == [
    "error: --lstm_units=0: must be positive"
  ]


@pytest.mark.xdist_group("launch_trained")
def test_resume_with_contradicting_flag_is_refused(trained, capsys):
  assert launch_in_process(f"--workdir={trained}", "--lstm_units=32") == 2
  err = capsys.readouterr().err
  assert "--lstm_units=32 contradicts" in err and "lstm_units=16" in err


@pytest.mark.heavy
@pytest.mark.xdist_group("launch_trained")
def test_evaluate_writes_report_with_baselines(trained):
  assert (
    launch_in_process(
      f"--workdir={trained}",
      "--mode=evaluate",
      "--baselines",
      "--num_samples=64",
      "--posthoc_steps=5",
      "--figures",
    )
    == 0
  )
  report = json.loads((trained / "eval" / "report.json").read_text())
  for key in (
    "discriminative_score",
    "predictive_score",
    "marginal_wasserstein",
    "acf_distance",
    "psd_distance",
    "correlation_difference",
    "dcr",
    "membership_auc",
    "counts",
  ):
    assert key in report, key
  assert report["window"] == 50 and report["counts"]["synthetic"] == 64
  assert set(report["regime"]) >= {"quiet_share_real", "quiet_share_synthetic", "window_std_ks"}
  assert report["discriminative_score"]["judge"] in ("lstm", "features")
  fitted = json.loads((trained / "sampling.json").read_text())
  assert report["sampling"] == {
    "temperature": 1.0,
    "weight_temperature": fitted["weight_temperature"],
    "burn_in": 100,
    "resample": 8,
    "generator_step": fitted["step"],
  }
  assert set(report["baselines"]) == {"real_holdout", "train_replay", "gaussian", "ar"}
  # The memoriser is flagged by the privacy metrics.
  assert report["baselines"]["train_replay"]["dcr"]["ratio"] < 0.05
  assert "| metric | model | real_holdout" in (trained / "eval" / "report.md").read_text()
  for png in ("pca.png", "tsne.png", "traces.png", "window_std.png"):
    assert (trained / "eval" / png).is_file()


@pytest.mark.xdist_group("launch_trained")
def test_samples_are_the_critics_pick_of_more_candidates(trained):
  gen = api.load(str(trained))
  record = json.loads((trained / "resampling.json").read_text())
  assert (record["step"], record["windows"], gen.critic.window) == (gen.step, 8, 50)
  # A critic that prefers loud windows: the kept series are the loudest candidates. The
  # weight 1e6 keeps the Gumbel noise (order 1) from swapping candidates whose log stds
  # differ by more than ~1e-5, whatever digits another CPU gives the samples.
  names = features.feature_names(50, gen.channels)  # Then the log-std bins.
  coef = 1e6 * (np.arange(len(gen.critic.coef)) == names.index("log_std[body_acc_x]"))
  loud = dataclasses.replace(gen.critic, coef=coef, mean=0 * coef, scale=1 + 0 * coef)
  gen = dataclasses.replace(gen, critic=loud)
  key = jax.random.key(3)
  kept = gen.sample(key, 4, 60, resample=3)
  candidates = np.asarray(gen.sample_fn(gen.params, jax.random.split(key)[0], 12, 60))
  loudest = candidates[np.argsort(-candidates[:, :50].std(axis=(1, 2)))[:4]]
  np.testing.assert_array_equal(np.sort(kept, axis=0), np.sort(loudest, axis=0))
  # No resampling for resample 1 or series shorter than the critic's window.
  plain = np.asarray(gen.sample_fn(gen.params, key, 4, 60))
  np.testing.assert_array_equal(gen.sample(key, 4, 60, resample=1), plain)
  short = np.asarray(gen.sample_fn(gen.params, key, 4, 49))
  np.testing.assert_array_equal(gen.sample(key, 4, 49), short)


@pytest.mark.xdist_group("launch_trained")
def test_evaluate_refuses_fewer_than_64_windows(trained, capsys):
  assert launch_in_process(f"--workdir={trained}", "--mode=evaluate", "--num_samples=3") == 2
  err = [l for l in capsys.readouterr().err.splitlines() if l.startswith("error:")]
  assert err == ["error: --num_samples=3: a discriminative score needs at least 64 windows per set"]


@pytest.mark.xdist_group("launch_trained")
def test_evaluate_rejects_synthetic_file_with_other_channels(trained, tmp_path, capsys):
  bad = tmp_path / "bad.npz"
  np.savez(bad, x=np.zeros((4, 50, 2), np.float32), channels=np.array(["a", "b"]))
  assert launch_in_process(f"--workdir={trained}", "--mode=evaluate", f"--synthetic={bad}") == 2
  err = capsys.readouterr().err
  assert "bad.npz" in err and "channels" in err


@pytest.mark.heavy
def test_multichannel_conditioned_full_covariance_end_to_end(tmp_path, capsys):
  flags = (
    f"--workdir={tmp_path}",
    "--channels=body_acc_x,body_acc_y,body_acc_z",
    "--condition_on=activity",
    "--covariance=full",
    "--train_steps=10",
    "--calibration_windows=0",  # A conditioned run's fit: tests/test_conditioning.py.
  )
  assert launch_in_process(*flags) == 0
  assert json.loads((tmp_path / "dataset.json").read_text())["num_labels"] == 13
  out = tmp_path / "walk_sit.npz"
  assert (
    launch_in_process(
      *flags,
      "--mode=sample",
      "--num_samples=2",
      "--label_schedule=WALKING:30,STAND_TO_SIT:10,SITTING:20",
      f"--output={out}",
    )
    == 0
  )
  with np.load(out, allow_pickle=False) as f:
    assert f["x"].shape == (2, 60, 3)
    assert list(f["channels"]) == ["body_acc_x", "body_acc_y", "body_acc_z"]
    np.testing.assert_array_equal(f["labels"][0, [0, 29, 30, 39, 40, 59]], [1, 1, 7, 7, 4, 4])
  capsys.readouterr()
  assert launch_in_process(*flags, "--mode=sample", "--label=RUNNING", f"--output={out}") == 2
  assert "unknown label 'RUNNING'" in capsys.readouterr().err


@pytest.mark.xdist_group("launch_trained")
def test_readme_python_example_runs_against_the_installed_package(trained, tmp_path):
  """The README's example, run from outside the repository (the package must be installed,
  as the README's set-up command does), on the smoke run instead of runs/quick."""
  readme = (REPO / "README.md").read_text()
  block = readme.split("## Using it from Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
  code = block.replace('"runs/quick"', repr(str(trained)))
  code += "\nassert x.shape == (8, 1000, 1) and batch.shape == (3, 4, 400, 1)\nprint('ok')\n"
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  result = subprocess.run(
    [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
  )
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip().endswith("ok")


@pytest.mark.heavy
def test_dp_run_reports_epsilon_and_stops_when_the_budget_is_spent(tmp_path, caplog):
  caplog.set_level(logging.INFO)
  flags = (
    f"--workdir={tmp_path}",
    "--dp",
    "--dp_target_epsilon=8",
    "--train_steps=20",
    "--dp_clip_norm=0.5",
  )
  assert launch_in_process(*flags) == 0
  rows = [r for r in metrics.read_rows(str(tmp_path / "metrics.jsonl")) if "epsilon" in r]
  eps = [r["epsilon"] for r in rows]
  assert [r["step"] for r in rows] == [10, 20] and 0 < eps[0] < eps[1] <= 8.0
  assert eps[1] > 7.9  # the noise was chosen to spend the target over the planned 20 steps
  # Asking for more steps on resume: the budget stops the run at the same place.
  assert launch_in_process(*flags[:-2], "--train_steps=40", "--dp_clip_norm=0.5") == 0
  assert "privacy budget is spent after 20 generator steps" in caplog.text
  assert not (tmp_path / "sampling.json").exists()  # No fit on the private data.
  out = tmp_path / "s.npz"
  assert launch_in_process(*flags, "--mode=sample", "--num_samples=2", f"--output={out}") == 0
  with np.load(out, allow_pickle=False) as f:
    assert abs(float(f["epsilon"]) - eps[1]) < 1e-6 and float(f["delta"]) == 1e-5


@pytest.mark.heavy
def test_adversarial_schedule_logs_critic_and_generator_losses(tmp_path):
  assert (
    launch_in_process(
      f"--workdir={tmp_path}", "--schedule=adversarial", "--train_steps=10", "--adv_window=30"
    )
    == 0
  )
  rows = metrics.read_rows(str(tmp_path / "metrics.jsonl"))
  rounds = [r for r in rows if "round" in r]
  assert [(r["round"], r["step"]) for r in rounds] == [(1, 10), (2, 20)]
  assert all(0 <= r["adv_d_accuracy"] <= 1 and r["adv_d_loss"] > 0 for r in rounds)
  adv = [r for r in rows if "adv_g_loss" in r]
  assert [r["step"] for r in adv] == [20, 30] and all(r["adv_g_loss"] > 0 for r in adv)
  assert not [r for r in rows if "adv_g_loss" in r and r["step"] <= 10]  # NLL pre-training


def test_dp_with_adversarial_is_refused(tmp_path, capsys):
  assert launch_in_process(f"--workdir={tmp_path / 'w'}", "--schedule=adversarial", "--dp") == 2
  assert "--dp with --schedule=adversarial is refused" in capsys.readouterr().err
  assert not (tmp_path / "w").exists()
