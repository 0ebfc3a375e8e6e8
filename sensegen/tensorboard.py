"""TensorBoard event files of a run: training curves, figures and hyper-parameters.

Written with tensorboardX (protobuf and numpy only, no TensorFlow). View them with
`tensorboard --logdir DIR` (the `tensorboard` package is installed separately).

Scalar tags (a `metrics.jsonl` key not listed keeps its own name as its tag):

  train_nll -> nll/train               eval_nll -> nll/eval
  baseline_eval_nll -> nll/baseline_eval
  steps_per_sec -> perf/steps_per_sec  round -> discriminator/round
  d_train_accuracy -> discriminator/train_accuracy
  d_heldout_accuracy -> discriminator/heldout_accuracy

Resume: each open appends a new event file to the directory and TensorBoard merges
all of a directory's files into one run. On open the existing files are read, and
afterwards a tag only takes steps past the last one already on disk for it, so a
resumed run never duplicates or rewinds a curve, and the hyper-parameters are
recorded once per directory. Events still buffered when a run is killed are lost;
replaying `metrics.jsonl` through `scalars` after reopening writes back exactly
those (the steps already on disk are skipped).
"""

import glob
import io
import numbers
import os
import struct
from typing import Any, Iterable, Iterator, Mapping

from google.protobuf import message
from PIL import Image
import tensorboardX
from tensorboardX import summary as tbx_summary
from tensorboardX.proto import event_pb2
from tensorboardX.proto import summary_pb2

TAGS = {
  "train_nll": "nll/train",
  "eval_nll": "nll/eval",
  "baseline_eval_nll": "nll/baseline_eval",
  "steps_per_sec": "perf/steps_per_sec",
  "round": "discriminator/round",
  "d_train_accuracy": "discriminator/train_accuracy",
  "d_heldout_accuracy": "discriminator/heldout_accuracy",
}
# Keys whose curves the HParams dashboard shows (their last value) for the run.
HPARAM_METRICS = ("train_nll", "eval_nll", "d_heldout_accuracy")
HPARAMS_TAG = "_hparams_/session_start_info"


def tag(key: str) -> str:
  """The TensorBoard tag of a `metrics.jsonl` key."""
  return TAGS.get(key, key)


class TensorBoardLog:
  """Appends scalars, PNG figures and hyper-parameters to the event files in `logdir`.

  Calls only queue events: a background thread writes them and flushes every
  `flush_secs` seconds, on `flush()` and on `close()`.
  """

  def __init__(self, logdir: str, flush_secs: int = 30):
    files = event_files(logdir)
    self._last_step = last_steps(files)
    # tensorboardX names a file by the second and opens it with "wb": the suffix
    # keeps a reopen within the same second from truncating the previous file.
    self._writer = tensorboardX.FileWriter(
      logdir, flush_secs=flush_secs, filename_suffix=f".{len(files)}"
    )

  def _claim(self, name: str, step: int) -> bool:
    """Whether `step` is past the last one written for tag `name`; if so, takes it."""
    if step <= self._last_step.get(name, -1):
      return False
    self._last_step[name] = step
    return True

  def scalars(self, step: int, row: Mapping[str, Any]) -> None:
    """Adds every number in `row` except `step` itself (bools, None, strings skipped)."""
    values = [
      summary_pb2.Summary.Value(tag=tag(k), simple_value=float(v))
      for k, v in row.items()
      if k != "step" and _is_number(v) and self._claim(tag(k), step)
    ]
    if values:
      self._writer.add_summary(summary_pb2.Summary(value=values), step)

  def image(self, name: str, png_path: str, step: int) -> None:
    """Adds the PNG file `png_path` as image `name` at `step`, bytes unchanged."""
    summary = _png_summary(name, png_path)
    if self._claim(name, step):
      self._writer.add_summary(summary, step)

  def hparams(self, config: Mapping[str, Any], metrics: Iterable[str] = HPARAM_METRICS) -> bool:
    """Records `config` as the run's hyper-parameters unless the directory has them.

    `metrics` are `metrics.jsonl` keys; the HParams dashboard shows the last value of
    their curves. Returns whether the record was written.
    """
    if HPARAMS_TAG in self._last_step:
      return False
    hparams = {
      k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in config.items()
    }
    summaries = tbx_summary.hparams(hparams, dict.fromkeys(tag(k) for k in metrics))
    # One event for the three summaries: a crash leaves all of them or none.
    values = [value for s in summaries for value in s.value]
    self._writer.add_summary(summary_pb2.Summary(value=values), 0)
    self._last_step[HPARAMS_TAG] = 0
    return True

  def flush(self) -> None:
    self._writer.flush()

  def close(self) -> None:
    self._writer.close()


def _is_number(value) -> bool:
  return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _png_summary(name: str, path: str) -> summary_pb2.Summary:
  with open(path, "rb") as f:
    data = f.read()
  with Image.open(io.BytesIO(data)) as im:  # Reads the header only; no decode.
    if im.format != "PNG":
      raise ValueError(f"{path}: expected a PNG image, got {im.format}")
    image = summary_pb2.Summary.Image(
      height=im.height, width=im.width, colorspace=len(im.getbands()), encoded_image_string=data
    )
  return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=name, image=image)])


def event_files(logdir: str) -> list:
  """The event files directly in `logdir`, in name (creation time) order."""
  return sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*")))


def last_steps(files: Iterable[str]) -> dict:
  """The largest step of each tag in the event files."""
  steps = {}
  for path in files:
    for event in read_events(path):
      for value in event.summary.value:
        steps[value.tag] = max(steps.get(value.tag, event.step), event.step)
  return steps


def read_events(path: str) -> Iterator[event_pb2.Event]:
  """The events of a TFRecord event file, up to a record torn by a crash.

  Each record is: data length (uint64 LE), its masked CRC-32C, data, the data's
  masked CRC-32C. CRCs are not checked: the files are this module's own.
  """
  with open(path, "rb") as f:
    while len(header := f.read(12)) == 12:
      (length,) = struct.unpack("<Q", header[:8])
      data = f.read(length + 4)
      if len(data) < length + 4:
        return
      try:
        yield event_pb2.Event.FromString(data[:length])
      except message.DecodeError:
        return  # Garbage after a power loss; nothing later is trustworthy.
