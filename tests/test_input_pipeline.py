"""The run's data and, for HAR, the raw signals its generator models."""

import numpy as np
import pytest

from sensegen import input_pipeline
from sensegen.config import Config
from sensegen.errors import ConfigError


def _load(tmp_path, **flags):
  cfg = Config(workdir=str(tmp_path), **flags)
  return input_pipeline.load(cfg, min_length=401)


def test_har_channels_are_generated_from_their_raw_signals(tmp_path):
  rd = _load(tmp_path, channels="body_acc_x,gravity_acc_x")
  assert rd.model.chain.sources == ("raw_acc_x",)
  assert rd.model_train.channels == ("raw_acc_x",) and rd.channels[0] == "body_acc_x"
  # The same sessions in both views; the raw ones map to the run's through the chain.
  assert [len(s) for s in rd.model_train.series] == [len(s) for s in rd.train.series]
  raw = rd.model.normaliser.denormalise(rd.model_test.series[0][None, :3000])
  want = rd.normaliser.denormalise(rd.test.series[0][None, :3000])
  got = np.asarray(rd.model.chain(raw))
  # Away from the ends, where the session's own filters saw more context.
  np.testing.assert_allclose(got[0, 500:2500], want[0, 500:2500], atol=2e-3)


def test_conditioned_runs_cut_both_views_into_the_same_stretches(tmp_path):
  rd = _load(tmp_path, channels="body_acc_x", condition_on="activity")
  assert [len(s) for s in rd.model_train.series] == [len(s) for s in rd.train.series]
  for a, b in zip(rd.model_train.labels, rd.train.labels):
    np.testing.assert_array_equal(a, b)


def test_processed_space_and_files_have_no_model_space(tmp_path):
  assert _load(tmp_path, model_space="processed").model is None
  path = tmp_path / "x.npz"
  np.savez(path, x=np.random.default_rng(0).normal(size=(3, 5000, 2)).astype(np.float32))
  rd = _load(tmp_path, data=str(path))
  assert rd.model is None and rd.model_train is rd.train
  with pytest.raises(ConfigError, match="--model_space=raw needs HAR channels"):
    _load(tmp_path, data=str(path), model_space="raw")
