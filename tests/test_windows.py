import numpy as np
import pytest

from sensegen.data import windows
from sensegen.errors import DataError


def _series():
  rng = np.random.default_rng(0)
  return [rng.normal(3.0, 2.0, size=(n, 2)).astype(np.float32) for n in (50, 120, 80)]


def test_normaliser_round_trip_and_train_only_statistics():
  train = _series()
  norm = windows.Normaliser.fit(train)
  pooled = np.concatenate(train)
  np.testing.assert_allclose(norm.mean, pooled.mean(0), rtol=1e-5)
  np.testing.assert_allclose(norm.std, pooled.std(0), rtol=1e-5)
  z = norm.normalise(train[1])
  np.testing.assert_allclose(
    np.concatenate([norm.normalise(s) for s in train]).mean(0), 0, atol=1e-5
  )
  np.testing.assert_allclose(norm.denormalise(z), train[1], rtol=1e-5, atol=1e-5)
  again = windows.Normaliser.from_dict(norm.to_dict())
  np.testing.assert_array_equal(again.mean, norm.mean)


def test_normaliser_constant_channel_keeps_unit_scale():
  norm = windows.Normaliser.fit([np.ones((10, 1), np.float32)])
  assert norm.std[0] == 1.0


def test_random_windows_are_real_slices():
  series = _series()
  rng = np.random.default_rng(1)
  w = windows.random_windows(series, 40, 60, rng)
  assert w.shape == (40, 60, 2)
  for win in w:
    # Each window must occur verbatim in a series of at least 60 steps.
    assert any(
      np.any([np.array_equal(s[o : o + 60], win) for o in range(len(s) - 59)])
      for s in series
      if len(s) >= 60
    )


def test_random_windows_with_labels_align():
  series = [np.arange(100, dtype=np.float32)[:, None]]
  labels = [np.arange(100, dtype=np.int32)]
  w, l = windows.random_windows(series, 5, 10, np.random.default_rng(2), labels=labels)
  np.testing.assert_array_equal(w[..., 0], l)


def test_label_runs_are_the_long_enough_stretches_of_one_label():
  x = np.arange(12, dtype=np.float32)[:, None]
  labels = np.array([1, 1, 1, 2, 2, 1, 1, 1, 1, 0, 1, 1])
  stretches = windows.label_runs([x, x[:4]], [labels, labels[:4]], 1, 3)
  # Stretches of 3 and 4 steps in the first series; the second's 3 ones count too.
  assert [s[:, 0].tolist() for s in stretches] == [[0, 1, 2], [5, 6, 7, 8], [0, 1, 2]]
  assert windows.label_runs([x], [labels], 2, 3) == []


def test_windows_too_long_is_a_data_error():
  with pytest.raises(DataError, match="no series has 500 steps"):
    windows.random_windows(_series(), 3, 500, np.random.default_rng(0))


def test_tiled_windows_count():
  w = windows.tiled_windows(_series(), 40)
  assert w.shape == (1 + 3 + 2, 40, 2)


def test_streams_are_contiguous_and_reset_at_session_end():
  series = [
    np.arange(i * 1000, i * 1000 + n, dtype=np.float32)[:, None] for i, n in enumerate((35, 47))
  ]
  streams = windows.init_streams(series, batch=3, bptt_steps=10, seed=0)
  prev_last = None
  for step in range(12):
    batch, streams = windows.next_chunk(series, streams, 10, step, seed=0)
    assert batch["inputs"].shape == (3, 10, 1) and batch["targets"].shape == (3, 10, 1)
    np.testing.assert_array_equal(batch["inputs"][:, 1:], batch["targets"][:, :-1])
    # Values are consecutive integers inside one session.
    np.testing.assert_array_equal(np.diff(batch["inputs"][..., 0], axis=1), 1)
    if prev_last is not None:
      continued = ~batch["reset"]
      np.testing.assert_array_equal(batch["inputs"][continued, 0, 0], prev_last[continued])
      assert np.all(batch["inputs"][batch["reset"], 0, 0] % 1000 == 0)
    prev_last = batch["targets"][:, -1, 0]
  assert streams.to_dict() == windows.Streams.from_dict(streams.to_dict()).to_dict()


def test_streams_deterministic_given_seed_and_step():
  series = _series()
  a, sa = windows.next_chunk(series, windows.init_streams(series, 4, 30, 7), 30, 3, 7)
  b, sb = windows.next_chunk(series, windows.init_streams(series, 4, 30, 7), 30, 3, 7)
  np.testing.assert_array_equal(a["inputs"], b["inputs"])
  np.testing.assert_array_equal(sa.offset, sb.offset)


def test_stream_labels_follow_inputs():
  series = [np.arange(200, dtype=np.float32)[:, None]]
  labels = [np.arange(200, dtype=np.int32)]
  streams = windows.init_streams(series, 2, 20, 0)
  batch, _ = windows.next_chunk(series, streams, 20, 0, 0, labels=labels)
  np.testing.assert_array_equal(batch["labels"], batch["inputs"][..., 0])


def test_random_resets_flag_streams_where_they_stand():
  series = [np.arange(100000, dtype=np.float32)[:, None]]
  streams = windows.init_streams(series, 64, 10, seed=1)
  flagged = []
  for step in range(50):
    batch, new = windows.next_chunk(series, streams, 10, step, seed=1, reset_prob=0.2)
    # Streams not at the session's end stay put: a random reset zeroes the state where
    # the stream stands.
    inside = streams.offset + 11 <= len(series[0])
    np.testing.assert_array_equal(batch["inputs"][inside, 0, 0], streams.offset[inside])
    flagged.append(batch["reset"][inside])
    streams = new
  assert np.mean(np.concatenate(flagged)) == pytest.approx(0.2, abs=0.03)
  again, _ = windows.next_chunk(series, streams, 10, 7, seed=1, reset_prob=0.2)
  same, _ = windows.next_chunk(series, streams, 10, 7, seed=1, reset_prob=0.2)
  np.testing.assert_array_equal(again["reset"], same["reset"])
  none, _ = windows.next_chunk(series, streams, 10, 7, seed=1)
  assert not none["reset"].any()


def test_input_noise_perturbs_the_inputs_only_and_is_the_same_for_any_rows():
  series = [np.cumsum(np.ones((5000, 2), np.float32), axis=0)]
  streams = windows.init_streams(series, 16, 40, seed=3)
  clean, _ = windows.next_chunk(series, streams, 40, 5, seed=3)
  noisy, _ = windows.next_chunk(series, streams, 40, 5, seed=3, input_noise=0.2)
  np.testing.assert_array_equal(noisy["targets"], clean["targets"])
  noise = noisy["inputs"] - clean["inputs"]
  assert noise.std() == pytest.approx(0.2, rel=0.05) and abs(noise.mean()) < 0.01
  part, _ = windows.next_chunk(series, streams, 40, 5, seed=3, input_noise=0.2, rows=slice(4, 8))
  np.testing.assert_array_equal(part["inputs"], noisy["inputs"][4:8])
  later, _ = windows.next_chunk(series, streams, 40, 6, seed=3, input_noise=0.2)
  assert not np.allclose(later["inputs"] - clean["inputs"], noise)


def test_quantisation_step_is_the_recording_resolution():
  rng = np.random.default_rng(0)
  lattice = np.round(rng.normal(size=3000) / 0.05) * 0.05
  series = [np.c_[part, np.full(len(part), 1.5)] for part in (lattice[:1000], lattice[1000:])]
  np.testing.assert_allclose(windows.quantisation_step(series), [0.05, 0.0], rtol=1e-4)
  continuous = [rng.uniform(0, 1, size=(4000, 1))]  # Gaps of about 1 / 4000.
  assert windows.quantisation_step(continuous)[0] < 1e-3


def test_dequantize_moves_inputs_and_targets_within_their_step():
  # A walk on a lattice of 0.1 that repeats itself every other step.
  steps = np.repeat(np.arange(2500), 2)[:, None] * np.array([[0.1, 0.2]], np.float32)
  series = [steps.astype(np.float32)]
  q = np.array([0.1, 0.2], np.float32)
  streams = windows.init_streams(series, 16, 40, seed=3)
  clean, _ = windows.next_chunk(series, streams, 40, 5, seed=3)
  moved, _ = windows.next_chunk(series, streams, 40, 5, seed=3, dequantize=q)
  for name in ("inputs", "targets"):
    shift = moved[name] - clean[name]
    assert (np.abs(shift) <= q / 2 + 1e-5).all()
    # Uniform within the step: std q / sqrt(12).
    np.testing.assert_allclose(shift.reshape(-1, 2).std(0), q / np.sqrt(12), rtol=0.05)
  # One draw per value read: a target is the next step's input, and no value repeats.
  np.testing.assert_array_equal(moved["targets"][:, :-1], moved["inputs"][:, 1:])
  assert (clean["targets"] == clean["inputs"]).any() and not (
    moved["targets"] == moved["inputs"]
  ).any()
  part, _ = windows.next_chunk(series, streams, 40, 5, seed=3, dequantize=q, rows=slice(4, 8))
  np.testing.assert_array_equal(part["targets"], moved["targets"][4:8])
  later, _ = windows.next_chunk(series, streams, 40, 6, seed=3, dequantize=q)
  assert not np.allclose(later["inputs"] - clean["inputs"], moved["inputs"] - clean["inputs"])
