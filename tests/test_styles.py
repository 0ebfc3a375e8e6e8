"""Per-series styles (`--subject_style`): ids, packing, training draws, the generator's use."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sensegen import models
from sensegen import sampling
from sensegen import styles
from sensegen.train import loop


def test_session_styles_number_distinct_subjects_in_sorted_order():
  ids, count = styles.session_styles([7, 3, 7, 12, 3])
  np.testing.assert_array_equal(ids, [2, 1, 2, 3, 1])
  assert count == 3


def test_pack_and_unpack_round_trip():
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 7, size=(5, 9))
  drawn = rng.integers(0, 22, size=5)
  activity, style = styles.unpack(styles.pack(labels, drawn, 7), 7)
  np.testing.assert_array_equal(activity, labels)
  np.testing.assert_array_equal(style, np.broadcast_to(drawn[:, None], labels.shape))


def test_chunk_styles_drop_a_share_to_any_subject_reproducibly():
  of_session = np.arange(1, 11)
  sessions = np.random.default_rng(1).integers(0, 10, size=4000)
  kept = styles.chunk_styles(of_session, sessions, seed=3, step=5, dropout=0.0)
  np.testing.assert_array_equal(kept, of_session[sessions])
  dropped = styles.chunk_styles(of_session, sessions, seed=3, step=5, dropout=0.3)
  np.testing.assert_array_equal(dropped, styles.chunk_styles(of_session, sessions, 3, 5, 0.3))
  assert not np.array_equal(dropped, styles.chunk_styles(of_session, sessions, 3, 6, 0.3))
  zero = dropped == 0
  np.testing.assert_array_equal(dropped[~zero], of_session[sessions][~zero])
  assert 0.27 < zero.mean() < 0.33  # Binomial(4000, 0.3): std 0.007.


def _styled_generator(num_styles=4):
  gen = models.Generator(
    channels=2,
    lstm_layers=1,
    lstm_units=8,
    dense_units=8,
    mixtures=2,
    num_labels=3,
    num_styles=num_styles,
  )
  x = jnp.zeros((1, 2, 2), jnp.float32)
  params = gen.init(jax.random.key(0), gen.zero_state(1), x, jnp.zeros((1, 2), jnp.int32))
  return gen, params


def test_the_generator_reads_the_style_beside_the_label():
  gen, params = _styled_generator()
  x = jax.random.normal(jax.random.key(1), (1, 5, 2))
  activity = jnp.full((1, 5), 2, jnp.int32)
  mean = lambda style: gen.apply(
    params, gen.zero_state(1), x, styles.pack(activity, jnp.array([style]), 3)
  )[1][1]
  assert not np.allclose(mean(1), mean(2))
  # The label still counts: the same style under another activity is another mixture.
  other = gen.apply(params, gen.zero_state(1), x, styles.pack(activity - 1, jnp.array([1]), 3))
  assert not np.allclose(other[1][1], mean(1))


def test_samplers_draw_one_training_style_per_row():
  gen, _ = _styled_generator(num_styles=4)
  labels = jnp.asarray(np.random.default_rng(2).integers(1, 3, size=(64, 10)), jnp.int32)
  key = jax.random.key(3)
  new_key, packed = sampling.with_styles(gen, key, labels)
  activity, style = styles.unpack(np.asarray(packed), 3)
  np.testing.assert_array_equal(activity, labels)
  assert np.all(style == style[:, :1])  # One style for the whole row.
  assert set(style[:, 0]) == {1, 2, 3, 4}  # Training subjects only: never "any subject".
  assert not np.array_equal(jax.random.key_data(new_key), jax.random.key_data(key))


def test_a_generator_without_styles_samples_as_before():
  gen = models.Generator(channels=2, lstm_layers=1, lstm_units=8, dense_units=8, mixtures=2)
  labels = jnp.zeros((4, 6), jnp.int32)
  key = jax.random.key(4)
  same_key, same = sampling.with_styles(gen, key, labels)
  assert same is labels and same_key is key


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_the_trainer_packs_each_streams_subject_into_its_labels(dropout):
  of_session = np.array([3, 1, 2], np.int32)
  fake = types.SimpleNamespace(
    run_data=types.SimpleNamespace(session_styles=of_session, num_labels=5),
    cfg=types.SimpleNamespace(seed=0, style_dropout=dropout, batch_size=4),
  )
  sessions = np.array([0, 2, 1, 0])
  batch = {"labels": np.full((4, 6), 2, np.int32)}
  loop.Trainer._add_styles(fake, batch, sessions, step=9)
  activity, style = styles.unpack(batch["labels"], 5)
  np.testing.assert_array_equal(activity, 2)
  expected = styles.chunk_styles(of_session, sessions, 0, 9, dropout)
  np.testing.assert_array_equal(style, np.broadcast_to(expected[:, None], (4, 6)))
  if not dropout:
    np.testing.assert_array_equal(style[:, 0], [3, 2, 1, 3])
