"""`load_file`: bring-your-own `.npz` / `.csv` recordings and their error messages."""

import io
import pickle
import zipfile

import numpy as np
import pytest

from sensegen.data import files
from sensegen.data import load_file
from sensegen.errors import DataError

CSV = """series_id,ax,label,ay
a,1.0,0,10
a,2.0,1,20
b,3.0,2,30
a,4.0,1,40
b,5.0,0,50
"""


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return path


def _npz(tmp_path, name="data.npz", **arrays):
  path = tmp_path / name
  np.savez(path, **arrays)
  return path


def test_csv_groups_series_and_labels(tmp_path):
  ds = load_file(_write(tmp_path, "rec.csv", CSV), sample_rate_hz=20.0)
  assert ds.channels == ("ax", "ay") and ds.units == ("", "")
  assert [s.tolist() for s in ds.series] == [[[1, 10], [2, 20], [4, 40]], [[3, 30], [5, 50]]]
  assert [l.tolist() for l in ds.labels] == [[0, 1, 1], [2, 0]]
  assert all(s.dtype == np.float32 for s in ds.series)
  assert all(l.dtype == np.int32 for l in ds.labels)
  assert ds.subjects == [-1, -1] and ds.sample_rate_hz == 20.0


def test_csv_without_series_id_or_label_and_channel_selection(tmp_path):
  path = _write(tmp_path, "rec.csv", "x,y,z\n1,2,3\n4,5,6\n")
  ds = load_file(path, channels=["z", "x"])
  assert ds.channels == ("z", "x") and ds.labels is None
  assert ds.series[0].tolist() == [[3, 1], [6, 4]]


def test_csv_label_names(tmp_path):
  path = _write(tmp_path, "rec.csv", "v,label\n1,walk\n2,UNLABELLED\n3,2\n")
  ds = load_file(path, label_names=("UNLABELLED", "walk", "run"))
  assert ds.labels[0].tolist() == [1, 0, 2]
  assert ds.label_names == ("UNLABELLED", "walk", "run")


def test_npz_three_d_with_metadata(tmp_path):
  x = np.arange(2 * 4 * 3, dtype=np.float64).reshape(2, 4, 3)
  path = _npz(
    tmp_path,
    x=x,
    labels=np.array([[0, 1, 1, 0], [2, 2, 2, 2]]),
    channels=np.array(["a", "b", "c"]),
    units=np.array(["g", "g", "rad/s"]),
  )
  ds = load_file(path, channels=("c", "a"))
  assert ds.channels == ("c", "a") and ds.units == ("rad/s", "g")
  np.testing.assert_array_equal(ds.series[1], x[1][:, [2, 0]])
  assert ds.labels[1].tolist() == [2, 2, 2, 2]


def test_npz_per_series_labels_broadcast(tmp_path):
  path = _npz(tmp_path, x=np.zeros((3, 5, 2)), labels=np.array([1, 0, 2]))
  ds = load_file(path)
  assert ds.channels == ("ch0", "ch1")
  assert [l.tolist() for l in ds.labels] == [[1] * 5, [0] * 5, [2] * 5]


def test_npz_subjects_one_per_series(tmp_path):
  path = _npz(tmp_path, x=np.zeros((3, 5, 1)), subjects=np.array([7, 2, 7]))
  assert load_file(path).subjects == [7, 2, 7]
  assert load_file(_npz(tmp_path, x=np.zeros((3, 5, 1)))).subjects == [-1, -1, -1]
  for bad, match in [
    (np.array([1, 2]), r"'subjects' has int64 \(2,\), expected 3 integer ids"),
    (np.array([1.0, 2.0, 3.0]), "'subjects' has float64"),
    (np.array([1, -2, 3]), "'subjects' holds -2, expected ids >= 0"),
  ]:
    with pytest.raises(DataError, match=match):
      load_file(_npz(tmp_path, x=np.zeros((3, 5, 1)), subjects=bad))


def test_npz_two_d(tmp_path):
  path = _npz(tmp_path, x=np.ones((6, 2), np.float32), labels=np.arange(6) % 2)
  ds = load_file(path)
  assert len(ds.series) == 1 and ds.series[0].shape == (6, 2)
  assert ds.labels[0].tolist() == [0, 1, 0, 1, 0, 1]


class _Exploit:
  """Unpickling this would create `marker`: proof that pickle ran."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (open, (str(self.marker), "w"))


def test_pickled_npz_is_refused_without_unpickling(tmp_path):
  marker = tmp_path / "pwned"
  x = np.empty(1, dtype=object)
  x[0] = _Exploit(marker)
  path = _npz(tmp_path, x=x)
  with pytest.raises(DataError, match="data.npz"):
    load_file(path)
  assert not marker.exists()
  raw = tmp_path / "raw.npz"
  raw.write_bytes(pickle.dumps({"x": np.zeros((2, 2))}))
  with pytest.raises(DataError, match="raw.npz"):
    load_file(raw)


def _bad_inputs(tmp_path):
  """(path, load_file kwargs, regex naming the culprit) per bad-input class."""
  (tmp_path / "folder.csv").mkdir()
  npy = tmp_path / "bare.npz"
  with open(npy, "wb") as f:
    np.save(f, np.zeros((3, 2)))
  x_nan = np.zeros((2, 4, 2))
  x_nan[1, 2, 1] = np.inf
  yield tmp_path / "missing.csv", {}, "missing.csv: file not found"
  yield tmp_path / "folder.csv", {}, "folder.csv: is a directory"
  yield _write(tmp_path, "empty.csv", ""), {}, "empty.csv: empty file"
  yield _write(tmp_path, "data.json", "{}"), {}, r"unknown extension '\.json'"
  yield (
    _write(tmp_path, "word.csv", "ax,ay\n1,2\n3,oops\n"),
    {},
    r"word.csv row 3 column 'ay': 'oops' is not a number",
  )
  yield (
    _write(tmp_path, "nan.csv", "ax,ay\n1,2\nnan,3\n"),
    {},
    r"nan.csv row 3 column 'ax': 'nan' is not a finite",
  )
  yield (_write(tmp_path, "inf.csv", "ax,ay\n1,-inf\n"), {}, r"inf.csv row 2 column 'ay'")
  yield (_write(tmp_path, "huge.csv", "ax\n1e39\n"), {}, r"huge.csv row 2 column 'ax'")
  yield (
    _write(tmp_path, "ragged.csv", "ax,ay\n1,2\n3,4,5\n"),
    {},
    r"ragged.csv row 3: 3 fields, expected 2",
  )
  yield (_write(tmp_path, "header.csv", "ax,ay\n"), {}, "header.csv: empty series")
  yield (_write(tmp_path, "dup.csv", "ax,ax\n1,2\n"), {}, "repeated")
  yield (_write(tmp_path, "onlyid.csv", "series_id,label\na,1\n"), {}, "no channel columns")
  yield (
    _write(tmp_path, "badlabel.csv", "ax,label\n1,jump\n"),
    {"label_names": ("UNLABELLED", "walk")},
    r"badlabel.csv row 2 column 'label': label 'jump'.*walk",
  )
  yield (
    _write(tmp_path, "neglabel.csv", "ax,label\n1,-1\n"),
    {},
    r"neglabel.csv row 2 column 'label': label -1",
  )
  yield (
    _write(tmp_path, "sel.csv", "ax,ay\n1,2\n"),
    {"channels": ["az"]},
    r"unknown channel 'az'; available: ax, ay",
  )
  yield (
    _write(tmp_path, "names.csv", "ax\n1\n"),
    {"label_names": ["walk"]},
    r"label_names\[0\] is 'walk'",
  )
  yield (_write(tmp_path, "rate.csv", "ax\n1\n"), {"sample_rate_hz": 0.0}, "sample_rate_hz=0.0")
  yield _npz(tmp_path, "nox.npz", y=np.zeros((2, 2))), {}, "unexpected arrays \\['y'\\]"
  yield _npz(tmp_path, "nox2.npz", labels=np.zeros(2)), {}, "no array 'x'"
  yield _npz(tmp_path, "rank.npz", x=np.zeros(5)), {}, r"rank.npz: 'x' has shape \(5,\)"
  yield _npz(tmp_path, "rank4.npz", x=np.zeros((1, 2, 3, 4))), {}, r"rank4.npz: 'x' has shape"
  yield (_npz(tmp_path, "inf.npz", x=x_nan), {}, r"inf.npz: series 1 step 2 channel 'ch1' is inf")
  yield (
    _npz(tmp_path, "lshape.npz", x=np.zeros((2, 4, 1)), labels=np.zeros((2, 3), int)),
    {},
    r"lshape.npz: 'labels' has shape \(2, 3\)",
  )
  yield (
    _npz(tmp_path, "lfloat.npz", x=np.zeros((4, 1)), labels=np.full(4, 0.5)),
    {},
    "lfloat.npz: 'labels' must hold integer ids",
  )
  yield _npz(tmp_path, "empty.npz", x=np.zeros((2, 0, 3))), {}, "empty.npz: series 0 has 0 steps"
  yield _npz(tmp_path, "nochan.npz", x=np.zeros((2, 3, 0))), {}, "no series or no channels"
  yield (
    _npz(tmp_path, "chans.npz", x=np.zeros((2, 2)), channels=np.array(["a"])),
    {},
    r"chans.npz: 'channels' must be 2 strings",
  )
  yield _npz(tmp_path, "strx.npz", x=np.array([["a"]])), {}, "strx.npz: 'x' has dtype <U1"
  yield npy, {}, "bare.npz: a bare .npy array"
  yield _write(tmp_path, "text.npz", "not a zip"), {}, "text.npz: unreadable .npz"


def test_bad_inputs_raise_one_line_data_error(tmp_path):
  cases = list(_bad_inputs(tmp_path))
  for path, kwargs, match in cases:
    with pytest.raises(DataError, match=match) as info:
      load_file(path, **kwargs)
    assert "\n" not in str(info.value), path
  assert len(cases) == 30


def _mutated_csv(rng):
  text = CSV
  for _ in range(rng.integers(1, 4)):
    i = int(rng.integers(0, len(text)))
    op = rng.integers(0, 5)
    if op == 0:  # Delete a span.
      text = text[:i] + text[i + int(rng.integers(1, 8)) :]
    elif op == 1:  # Insert junk.
      junk = str(rng.choice([",", "\n", "nan", "x", '"', "\x00", "1e999", "-", " "]))
      text = text[:i] + junk + text[i:]
    elif op == 2:  # Truncate.
      text = text[:i]
    elif op == 3:  # Flip a byte.
      text = text[:i] + chr(int(rng.integers(0, 256))) + text[i + 1 :]
    else:  # Duplicate a line.
      lines = text.split("\n")
      lines.insert(int(rng.integers(0, len(lines))), str(rng.choice(lines)))
      text = "\n".join(lines)
  return text.encode("utf-8", "surrogatepass")


def _mutated_npz(rng):
  shape = tuple(int(n) for n in rng.integers(0, 4, size=rng.integers(0, 5)))
  dtype = rng.choice(["float32", "int16", "complex64", "U2", "bool", "float64"])
  arrays = {"x": np.zeros(shape, dtype)}
  if dtype == "float64" and arrays["x"].size:
    arrays["x"].flat[int(rng.integers(0, arrays["x"].size))] = rng.choice([np.nan, np.inf, 1e300])
  if rng.random() < 0.5:
    arrays["labels"] = rng.integers(-1, 3, size=rng.integers(0, 4, size=rng.integers(0, 3)))
  if rng.random() < 0.3:
    arrays["channels"] = np.array(["a", "b", "c"][: int(rng.integers(0, 4))])
  if rng.random() < 0.2:
    arrays[str(rng.choice(["X", "label", "meta"]))] = np.zeros(2)
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  data = buf.getvalue()
  if rng.random() < 0.3:  # Corrupt or truncate the archive itself.
    i = int(rng.integers(0, len(data)))
    flipped = data[:i] + bytes([int(rng.integers(0, 256))]) + data[i + 1 :]
    data = flipped if rng.random() < 0.5 else data[:i]
  return data


def test_fuzz_only_data_errors_come_out(tmp_path):
  rng = np.random.default_rng(1234)
  outcomes = {"ok": 0, "DataError": 0}
  for i in range(100):
    suffix = ".csv" if i % 2 else ".npz"
    path = tmp_path / f"fuzz{i}{suffix}"
    path.write_bytes(_mutated_csv(rng) if suffix == ".csv" else _mutated_npz(rng))
    try:
      ds = load_file(path)
    except DataError as e:
      assert "\n" not in str(e)
      outcomes["DataError"] += 1
      continue
    assert all(s.dtype == np.float32 and len(s) and np.isfinite(s).all() for s in ds.series)
    outcomes["ok"] += 1
  assert outcomes["DataError"] > 50


def test_zip_member_that_is_not_npy(tmp_path):
  path = tmp_path / "odd.npz"
  with zipfile.ZipFile(path, "w") as zf:
    zf.writestr("x", b"raw bytes")
  with pytest.raises(DataError, match="member 'x' is not a .npy array"):
    load_file(path)


def test_label_column_name_constants():
  assert (files.SERIES_ID_COLUMN, files.LABEL_COLUMN) == ("series_id", "label")
