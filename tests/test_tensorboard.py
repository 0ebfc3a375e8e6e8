"""TensorBoard logging: event files read back with an independent, CRC-checking reader."""

import dataclasses
import os
import struct

from PIL import Image
import pytest
from tensorboardX.proto import event_pb2
from tensorboardX.proto import plugin_hparams_pb2

from sensegen import config
from sensegen import tensorboard

ROWS = [
  {"step": 0, "train_nll": 2.5, "steps_per_sec": 10.0},
  {"step": 50, "train_nll": 1.5, "steps_per_sec": 12.0},
  {"step": 50, "eval_nll": 1.75, "baseline_eval_nll": 2.0},
  {"step": 100, "train_nll": 0.5, "steps_per_sec": 11.0},
  {
    "step": 100,
    "round": 1,
    "d_train_accuracy": 0.75,
    "d_heldout_accuracy": 0.5,
    "finite": True,
    "note": "text",
    "missing": None,
  },
]


def _crc32c(data: bytes) -> int:
  crc = 0xFFFFFFFF
  for byte in data:
    crc ^= byte
    for _ in range(8):
      crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
  return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
  crc = _crc32c(data)
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path: str) -> list:
  """Every record of a TFRecord file; fails on a bad length, CRC or trailing bytes."""
  with open(path, "rb") as f:
    blob = f.read()
  records, pos = [], 0
  while pos < len(blob):
    header, (header_crc,) = blob[pos : pos + 8], struct.unpack("<I", blob[pos + 8 : pos + 12])
    (length,) = struct.unpack("<Q", header)
    data = blob[pos + 12 : pos + 12 + length]
    (data_crc,) = struct.unpack("<I", blob[pos + 12 + length : pos + 16 + length])
    assert (header_crc, data_crc) == (_masked_crc(header), _masked_crc(data))
    records.append(data)
    pos += 16 + length
  return records


def _events(logdir) -> list:
  """The events of all files in `logdir` in file order; each file opens with its version."""
  events = []
  for path in tensorboard.event_files(str(logdir)):
    file_events = [event_pb2.Event.FromString(r) for r in _records(path)]
    assert file_events[0].file_version == "brain.Event:2"
    events += file_events[1:]
  return events


def _series(events) -> dict:
  """tag -> [(step, summary value)] in write order."""
  series = {}
  for event in events:
    for value in event.summary.value:
      series.setdefault(value.tag, []).append((event.step, value))
  return series


def _png(path, size=(40, 30)) -> str:
  Image.new("RGBA", size, (200, 30, 30, 255)).save(path)
  return str(path)


def test_crc32c_reference_vector():
  assert _crc32c(b"123456789") == 0xE3069283


def test_scalars_hparams_and_image_read_back(tmp_path):
  log = tensorboard.TensorBoardLog(str(tmp_path))
  for row in ROWS:
    log.scalars(row["step"], row)
  assert log.hparams(dataclasses.asdict(config.Config()))
  log.image("plots/nll", _png(tmp_path / "nll.png"), 100)
  log.close()

  series = _series(_events(tmp_path))
  scalars = {
    tag: [(step, v.simple_value) for step, v in values]
    for tag, values in series.items()
    if values[0][1].HasField("simple_value")
  }
  assert scalars == {
    "nll/train": [(0, 2.5), (50, 1.5), (100, 0.5)],
    "perf/steps_per_sec": [(0, 10.0), (50, 12.0), (100, 11.0)],
    "nll/eval": [(50, 1.75)],
    "nll/baseline_eval": [(50, 2.0)],
    "discriminator/round": [(100, 1.0)],
    "discriminator/train_accuracy": [(100, 0.75)],
    "discriminator/heldout_accuracy": [(100, 0.5)],
  }

  [(_, start)] = series[tensorboard.HPARAMS_TAG]
  hparams = plugin_hparams_pb2.HParamsPluginData.FromString(
    start.metadata.plugin_data.content
  ).session_start_info.hparams
  assert hparams["lstm_units"].number_value == 64
  assert hparams["covariance"].string_value == "diagonal"
  assert hparams["output_sigmoid"].bool_value is False
  [(_, experiment)] = series["_hparams_/experiment"]
  metric_tags = [
    m.name.tag
    for m in plugin_hparams_pb2.HParamsPluginData.FromString(
      experiment.metadata.plugin_data.content
    ).experiment.metric_infos
  ]
  assert metric_tags == ["nll/train", "nll/eval", "discriminator/heldout_accuracy"]
  assert len(series["_hparams_/session_end_info"]) == 1

  [(step, image)] = series["plots/nll"]
  assert (step, image.image.width, image.image.height) == (100, 40, 30)
  assert image.image.encoded_image_string == (tmp_path / "nll.png").read_bytes()


def test_resume_appends_without_duplicates_or_rewinds(tmp_path):
  log = tensorboard.TensorBoardLog(str(tmp_path))
  for row in ROWS:
    log.scalars(row["step"], row)
  log.hparams({"lr": 0.1})
  log.image("plots/nll", _png(tmp_path / "nll.png"), 100)
  log.close()

  resumed = tensorboard.TensorBoardLog(str(tmp_path))  # Same second: must not truncate.
  assert not resumed.hparams({"lr": 0.1})
  for step in (100, 50, 150, 200):  # A repeat and a rewind, then new steps.
    resumed.scalars(step, {"train_nll": step / 1000, "eval_nll": step / 100})
  resumed.image("plots/nll", _png(tmp_path / "nll.png"), 100)
  resumed.image("plots/nll", _png(tmp_path / "nll.png"), 200)
  resumed.close()

  assert len(tensorboard.event_files(str(tmp_path))) == 2
  series = _series(_events(tmp_path))
  for tag, values in series.items():
    steps = [step for step, _ in values]
    assert steps == sorted(set(steps)), tag
  assert [s for s, _ in series["nll/train"]] == [0, 50, 100, 150, 200]
  assert [s for s, _ in series["nll/eval"]] == [50, 100, 150, 200]
  assert [s for s, _ in series["plots/nll"]] == [100, 200]
  assert len(series[tensorboard.HPARAMS_TAG]) == 1


def test_replaying_metrics_after_a_crash_restores_the_lost_tail(tmp_path):
  rows = [{"step": s, "train_nll": 1.0 / (s + 1)} for s in range(10)]
  log = tensorboard.TensorBoardLog(str(tmp_path))
  for row in rows[:6]:
    log.scalars(row["step"], row)
  log.close()
  [path] = tensorboard.event_files(str(tmp_path))
  os.truncate(path, os.path.getsize(path) - 3)  # A kill tore the last record (step 5).

  resumed = tensorboard.TensorBoardLog(str(tmp_path))
  for row in rows:  # What the trainer replays from metrics.jsonl on open.
    resumed.scalars(row["step"], row)
  resumed.close()

  files = tensorboard.event_files(str(tmp_path))
  assert len(files) == 2 and _records(files[1])  # The new file is well formed.
  steps = [e.step for path in files for e in tensorboard.read_events(path) if e.summary.value]
  assert steps == list(range(10))


def test_tag_names_and_png_only(tmp_path):
  assert tensorboard.tag("eval_nll") == "nll/eval"
  assert tensorboard.tag("new_metric") == "new_metric"
  jpeg = tmp_path / "a.jpg"
  Image.new("RGB", (8, 8)).save(jpeg)
  log = tensorboard.TensorBoardLog(str(tmp_path))
  with pytest.raises(ValueError, match="PNG"):
    log.image("plots/a", str(jpeg), 0)
  log.close()
