"""`python -m data_prep.build_har` on a tiny fake RawData folder and UCI-style zip."""

import io
import lzma
import pathlib
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from data_prep import build_har
from sensegen.data import har
from sensegen.errors import DataError

REPO = pathlib.Path(__file__).resolve().parents[1]
# Two sessions: user 1 is a train user, user 2 a test user.
SESSIONS = ((1, 1, 300), (2, 2, 200))
LABELS = "1 1 1 20 150\n1 1 4 151 280\n2 2 6 10 190\n"


def _signal_text(exp, kind, n):
  rng = np.random.default_rng(10 * exp + (kind == "gyro"))
  base = [1.0, 0.0, 0.0] if kind == "acc" else [0.0, 0.0, 0.0]
  rows = base + rng.normal(0, 0.1, (n, 3))
  return "".join(" ".join(f"{v:.6f}" for v in row) + "\n" for row in rows)


def _fake_files():
  """RawData file name -> contents (the 2nd session's acc as .txt.xz)."""
  out = {"labels.txt": LABELS.encode()}
  for exp, user, n in SESSIONS:
    for kind in ("acc", "gyro"):
      name = f"{kind}_exp{exp:02d}_user{user:02d}.txt"
      data = _signal_text(exp, kind, n).encode()
      if (exp, kind) == (2, "acc"):
        name, data = name + ".xz", lzma.compress(data)
      out[name] = data
  return out


@pytest.fixture
def raw_dir(tmp_path):
  folder = tmp_path / "RawData"
  folder.mkdir()
  for name, data in _fake_files().items():
    (folder / name).write_bytes(data)
  return folder


def _uci_zip(path, nested=False):
  """A zip laid out like "HAPT Data Set.zip" (optionally wrapped in another)."""
  buf = io.BytesIO()
  with zipfile.ZipFile(buf, "w") as zf:
    for name, data in _fake_files().items():
      zf.writestr(f"RawData/{name}", data)
      zf.writestr(f"__MACOSX/RawData/._{name}", b"\x00\x05junk")
    zf.writestr("activity_labels.txt", "1 WALKING\n")
    zf.writestr("README.txt", "HAPT")
  if not nested:
    path.write_bytes(buf.getvalue())
    return path
  with zipfile.ZipFile(path, "w") as outer:
    outer.writestr("HAPT Data Set.zip", buf.getvalue())
  return path


def _run(*flags):
  return subprocess.run(
    [sys.executable, "-m", "data_prep.build_har", *flags],
    cwd=REPO,
    capture_output=True,
    text=True,
    timeout=120,
  )


def test_cli_builds_from_raw_dir(raw_dir, tmp_path):
  result = _run(f"--raw_dir={raw_dir}", f"--data_dir={tmp_path / 'tfds'}")
  assert result.returncode == 0, result.stderr
  assert "train: 1 sessions, 300 samples" in result.stdout
  assert "test: 1 sessions, 200 samples" in result.stdout
  ds = har.load_har("all", channels=har.CHANNELS, data_dir=tmp_path / "tfds")
  assert ds.subjects == [1, 2] and [len(s) for s in ds.series] == [300, 200]
  assert np.count_nonzero(ds.labels[0] == 4) == 130
  assert np.count_nonzero(ds.labels[1] == 6) == 181


def test_cli_builds_from_uci_zip_same_as_folder(raw_dir, tmp_path):
  archive = _uci_zip(tmp_path / "HAPT Data Set.zip")
  result = _run(f"--archive={archive}", f"--data_dir={tmp_path / 'from_zip'}")
  assert result.returncode == 0, result.stderr
  assert "archive:" in result.stdout and "test: 1 sessions" in result.stdout
  build_har.build(raw_dir=raw_dir, data_dir=tmp_path / "from_dir")
  zipped = har.load_har("all", channels=har.CHANNELS, data_dir=tmp_path / "from_zip")
  folder = har.load_har("all", channels=har.CHANNELS, data_dir=tmp_path / "from_dir")
  for a, b in zip(zipped.series + zipped.labels, folder.series + folder.labels):
    np.testing.assert_array_equal(a, b)


def test_extract_nested_zip(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  build_har.extract_raw_data(_uci_zip(tmp_path / "outer.zip", nested=True), out)
  assert sorted(p.name for p in out.iterdir()) == sorted(_fake_files())


def test_cli_missing_path_is_one_line_exit_2(tmp_path):
  missing = tmp_path / "no_such_thing"
  result = _run(f"--raw_dir={missing}", f"--data_dir={tmp_path / 'tfds'}")
  assert result.returncode == 2
  assert result.stderr.splitlines() == [f"error: {missing}: RawData folder not found"]
  assert not (tmp_path / "tfds" / "har").exists()


def test_cli_bad_file_is_one_line_exit_2(raw_dir, tmp_path):
  (raw_dir / "gyro_exp01_user01.txt").write_text("0 0 0\n0 zero 0\n")
  result = _run(f"--raw_dir={raw_dir}", f"--data_dir={tmp_path / 'tfds'}")
  assert result.returncode == 2
  assert result.stderr.splitlines() == [
    f"error: {raw_dir / 'gyro_exp01_user01.txt'} row 2: '0 zero 0', expected 3 numbers"
  ]


def test_build_rejects_both_sources_and_bad_zip(raw_dir, tmp_path):
  with pytest.raises(DataError, match="not both"):
    build_har.build(raw_dir=raw_dir, archive=tmp_path / "a.zip")
  with pytest.raises(DataError, match="a.zip: archive not found"):
    build_har.build(archive=tmp_path / "a.zip")
  bad = tmp_path / "bad.zip"
  bad.write_text("not a zip")
  with pytest.raises(DataError, match="bad.zip: unreadable zip"):
    build_har.build(archive=bad, data_dir=tmp_path / "tfds")
  empty = tmp_path / "empty.zip"
  zipfile.ZipFile(empty, "w").close()
  with pytest.raises(DataError, match="empty.zip: no RawData"):
    build_har.build(archive=empty, data_dir=tmp_path / "tfds")
