"""The embedded UCI HAPT data, the TFDS `har` builder and `load_har`."""

import filecmp
import lzma
import pathlib
import socket
import types

import numpy as np
import pytest

from sensegen.data import har
from sensegen.data import preprocess
from sensegen.data import uci_raw
from sensegen.errors import DataError

# The shared fixture runs once: every test of this module on one worker.
pytestmark = [pytest.mark.xdist_group("har"), pytest.mark.heavy]

SHARED_HAR = pathlib.Path(__file__).resolve().parents[2] / "shared/data/har"
TOTAL_SAMPLES = 1_122_772


@pytest.fixture(scope="session")
def built(tmp_path_factory):
  """The embedded data built once into a fresh data dir, with sockets disabled."""
  data_dir = tmp_path_factory.mktemp("har_tfds")
  attempts = []

  def no_network(*args, **kwargs):
    attempts.append(args)
    raise OSError("network access during the HAR build")

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(socket.socket, "connect", no_network)
    mp.setattr(socket, "getaddrinfo", no_network)
    ds = har.load_har("all", channels=har.CHANNELS, data_dir=data_dir)
  return types.SimpleNamespace(data_dir=data_dir, attempts=attempts, all=ds)


def _labels_txt():
  return np.loadtxt(uci_raw.embedded_raw_dir() / "labels.txt", dtype=np.int64)


def _experiments(split):
  """Experiment ids of `split` in load_har order, from labels.txt."""
  users = {exp: user for exp, user in _labels_txt()[:, :2]}
  return [exp for exp in sorted(users) if uci_raw.split_of(users[exp]) == split]


def test_build_is_offline_and_later_loads_reuse_the_process_cache(built, monkeypatch):
  assert built.attempts == []
  assert (built.data_dir / "har").is_dir()

  def no_reads(*args, **kwargs):
    raise AssertionError("load_har read the dataset again")

  monkeypatch.setattr(har, "prepare", no_reads)
  monkeypatch.setattr(har, "_read_split", no_reads)
  assert len(har.load_har("train", data_dir=built.data_dir).series) == 42


def test_split_sizes_and_sample_count(built):
  train = har.load_har("train", data_dir=built.data_dir)
  test = har.load_har("test", data_dir=built.data_dir)
  assert (len(train.series), len(test.series), len(built.all.series)) == (42, 19, 61)
  assert train.num_samples + test.num_samples == TOTAL_SAMPLES
  assert built.all.num_samples == TOTAL_SAMPLES
  assert all(s.dtype == np.float32 and s.shape[1] == 3 for s in train.series)
  assert all(
    l.dtype == np.int32 and l.shape == s.shape[:1] for s, l in zip(test.series, test.labels)
  )


def test_subject_split(built):
  test = har.load_har("test", data_dir=built.data_dir)
  train = har.load_har("train", data_dir=built.data_dir)
  assert set(test.subjects) == {2, 4, 9, 10, 12, 13, 18, 20, 24}
  assert len(set(train.subjects)) == 21 and not set(train.subjects) & set(test.subjects)
  assert built.all.subjects == train.subjects + test.subjects


def test_metadata(built):
  ds = har.load_har("test", channels=("body_gyro_z", "total_acc_x"), data_dir=built.data_dir)
  assert ds.channels == ("body_gyro_z", "total_acc_x")
  assert ds.units == ("rad/s", "g")
  assert ds.sample_rate_hz == 50.0
  assert ds.label_names[0] == "UNLABELLED" and len(ds.label_names) == 13
  assert ds.label_names[1:] == har.ACTIVITY_NAMES
  full = har.load_har("test", channels=har.CHANNELS, data_dir=built.data_dir)
  np.testing.assert_array_equal(ds.series[3], full.series[3][:, [11, 0]])


def test_activity_names_match_embedded_file():
  rows = (uci_raw.embedded_raw_dir() / "activity_labels.txt").read_text().split("\n")
  pairs = [row.split() for row in rows if row.strip()]
  assert [(int(i), n) for i, n in pairs] == list(enumerate(har.ACTIVITY_NAMES, 1))


def test_body_acc_mean_near_zero_and_gravity_near_1g(built):
  stacked = np.concatenate(built.all.series)
  body = stacked[:, 3:6].astype(np.float64)
  gravity = stacked[:, 6:9].astype(np.float64)
  assert np.all(np.abs(body.mean(axis=0)) < 0.01)
  assert abs(np.linalg.norm(gravity, axis=1).mean() - 1.0) < 0.05
  np.testing.assert_allclose(stacked[:, 0:3], body + gravity, atol=1e-5)


@pytest.mark.parametrize("split,index", [("train", 0), ("train", 17), ("test", 5)])
def test_labels_match_labels_txt(built, split, index):
  exp = _experiments(split)[index]
  ds = har.load_har(split, data_dir=built.data_dir)
  labels = ds.labels[index]
  expected = np.zeros_like(labels)
  for e, _, activity, start, end in _labels_txt():
    if e == exp:
      expected[start - 1 : end] = activity  # 1-based inclusive rows.
  np.testing.assert_array_equal(labels, expected)
  assert labels[0] == 0 and 0 < np.count_nonzero(labels) < len(labels)


def test_each_session_is_preprocessed_on_its_own(built):
  # Exactly preprocess.har_channels of that session's raw files alone.
  exp = _experiments("train")[1]
  user = dict(_labels_txt()[:, :2])[exp]
  raw = uci_raw.embedded_raw_dir()
  acc = uci_raw.read_table(raw / f"acc_exp{exp:02d}_user{user:02d}.txt.xz", 3)
  gyro = uci_raw.read_table(raw / f"gyro_exp{exp:02d}_user{user:02d}.txt.xz", 3)
  np.testing.assert_array_equal(built.all.series[1], preprocess.har_channels(acc, gyro))


def test_results_do_not_share_the_cache(built):
  a = har.load_har("train", data_dir=built.data_dir)
  a.series[0][:] = 99.0
  a.labels[0][:] = 99
  b = har.load_har("train", data_dir=built.data_dir)
  assert not np.any(b.series[0] == 99.0) and not np.any(b.labels[0] == 99)


def test_unknown_channel_and_split(built):
  with pytest.raises(DataError, match=r"'body_acc_w'.*body_gyro_z"):
    har.load_har(channels=("body_acc_x", "body_acc_w"), data_dir=built.data_dir)
  with pytest.raises(DataError, match="validation"):
    har.load_har("validation", data_dir=built.data_dir)


def test_other_raw_dir_conflicts_with_built_data_dir(built, tmp_path):
  with pytest.raises(DataError, match="already built from embedded"):
    har.load_har(data_dir=built.data_dir, raw_dir=tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
  monkeypatch.setenv("SENSEGEN_DATA_DIR", str(tmp_path))
  assert har.default_data_dir() == tmp_path
  monkeypatch.delenv("SENSEGEN_DATA_DIR")
  assert har.default_data_dir() == pathlib.Path.home() / ".cache/sensegen/tfds"


def _write_raw(folder, sessions=((1, 1, 60), (2, 2, 40)), labels="1 1 5 3 20\n"):
  folder.mkdir()
  for exp, user, n in sessions:
    rows = "\n".join("1.0 0.0 0.0" for _ in range(n)) + "\n"
    for kind in ("acc", "gyro"):
      (folder / f"{kind}_exp{exp:02d}_user{user:02d}.txt").write_text(rows)
  (folder / "labels.txt").write_text(labels)
  return folder


def test_read_raw_dir_reads_txt_and_xz(tmp_path):
  raw = _write_raw(tmp_path / "RawData")
  plain = raw / "gyro_exp02_user02.txt"
  with lzma.open(plain.with_suffix(".txt.xz"), "wb") as f:
    f.write(plain.read_bytes())
  plain.unlink()
  sessions = uci_raw.read_raw_dir(raw)
  assert [(s.experiment_id, s.user_id, len(s.acc)) for s in sessions] == [(1, 1, 60), (2, 2, 40)]
  assert np.count_nonzero(sessions[0].labels == 5) == 18
  assert not sessions[1].labels.any()


@pytest.mark.parametrize(
  "break_it,match",
  [
    (lambda raw: (raw / "labels.txt").unlink(), r"labels\.txt: file not found"),
    (lambda raw: (raw / "gyro_exp01_user01.txt").unlink(), "experiment 1 has no gyro"),
    (
      lambda raw: (raw / "acc_exp02_user02.txt").write_text("1 2 3\n4 5\n"),
      r"acc_exp02_user02\.txt row 2: 2 columns, expected 3",
    ),
    (
      lambda raw: (raw / "acc_exp02_user02.txt").write_text("1 2 3\n4 5 x\n"),
      r"acc_exp02_user02\.txt row 2: '4 5 x', expected 3 numbers",
    ),
    (
      lambda raw: (raw / "acc_exp02_user02.txt").write_text("1 2 3\n4 5 nan\n"),
      r"acc_exp02_user02\.txt row 2: non-finite",
    ),
    (
      lambda raw: (raw / "acc_exp02_user02.txt").write_text("1 2\n4 5\n"),
      r"acc_exp02_user02\.txt row 1: 2 columns",
    ),
    (
      lambda raw: (raw / "gyro_exp02_user02.txt").write_text("1 2 3\n"),
      r"gyro_exp02_user02\.txt: 1 rows, expected 40",
    ),
    (
      lambda raw: (raw / "labels.txt").write_text("1 1 5 3 20\n2 2 13 1 5\n"),
      r"labels\.txt row 2: activity 13",
    ),
    (
      lambda raw: (raw / "labels.txt").write_text("1 1 5 3 61\n"),
      r"labels\.txt row 1: rows 3\.\.61",
    ),
    (
      lambda raw: (raw / "labels.txt").write_text("1 1 5 3 20\n1 1 4 20 30\n"),
      r"labels\.txt row 2: rows 20\.\.30 overlap",
    ),
    (
      lambda raw: (raw / "labels.txt").write_text("3 3 5 3 20\n"),
      r"labels\.txt row 1: experiment 3 has no acc/gyro",
    ),
    (lambda raw: (raw / "labels.txt").write_text("1 2 5 3 20\n"), r"labels\.txt row 1: user 2"),
    (
      lambda raw: (raw / "labels.txt").write_text("1 1 5 3.5 20\n"),
      r"labels\.txt row 1: .*5 integers",
    ),
  ],
)
def test_read_raw_dir_errors(tmp_path, break_it, match):
  raw = _write_raw(tmp_path / "RawData")
  break_it(raw)
  with pytest.raises(DataError, match=match):
    uci_raw.read_raw_dir(raw)


def test_missing_raw_dir(tmp_path):
  with pytest.raises(DataError, match="nowhere: RawData folder not found"):
    uci_raw.read_raw_dir(tmp_path / "nowhere")
  with pytest.raises(DataError, match="nowhere: RawData folder not found"):
    har.load_har(data_dir=tmp_path / "tfds", raw_dir=tmp_path / "nowhere")


def test_embedded_copy_is_identical_to_shared():
  if not SHARED_HAR.is_dir():
    pytest.skip(f"{SHARED_HAR} not present")
  embedded = uci_raw.embedded_raw_dir()
  shared = sorted((SHARED_HAR / "RawData").iterdir()) + [SHARED_HAR / "activity_labels.txt"]
  assert len(shared) == 124
  for path in shared:
    assert filecmp.cmp(path, embedded / path.name, shallow=False), path.name
  assert (embedded / "NOTICE").is_file()
  assert sorted(p.name for p in embedded.iterdir()) == sorted([p.name for p in shared] + ["NOTICE"])
