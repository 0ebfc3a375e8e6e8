"""UCI HAPT smartphone recordings: the TFDS builder `har` and `load_har` (the raw files
are read by `uci_raw`).

The raw data (61 sessions of 30 users, waist-worn phone, 50 Hz accelerometer in
g and gyroscope in rad/s) ships inside the package under `har_raw/`, so nothing
is downloaded. The first `load_har` call preprocesses it (see `preprocess`)
into an array_record TFDS dataset in the data dir; later calls read that back
without TensorFlow through `as_data_source`.
"""

import contextlib
import fcntl
import functools
import os
import pathlib
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow_datasets as tfds

from sensegen.data import preprocess
from sensegen.data import uci_raw
from sensegen.data.dataset import SensorDataset
from sensegen.errors import DataError

PathLike = Union[str, os.PathLike]

SAMPLE_RATE_HZ = preprocess.SAMPLE_RATE_HZ
CHANNELS = preprocess.CHANNELS
UNITS = preprocess.UNITS
ACTIVITY_NAMES = uci_raw.ACTIVITY_NAMES
LABEL_NAMES = ("UNLABELLED",) + ACTIVITY_NAMES
SPLITS = ("train", "test")

HOMEPAGE = (
  "https://archive.ics.uci.edu/dataset/341/smartphone+based+"
  "recognition+of+human+activities+and+postural+transitions"
)
CITATION = """\
@article{reyesortiz2016transition,
  title={Transition-Aware Human Activity Recognition Using Smartphones},
  author={Reyes-Ortiz, Jorge-L. and Oneto, Luca and Sam{\\`a}, Albert and
          Parra, Xavier and Anguita, Davide},
  journal={Neurocomputing},
  volume={171},
  pages={754--767},
  year={2016}
}"""


def default_data_dir() -> pathlib.Path:
  """`$SENSEGEN_DATA_DIR`, else `~/.cache/sensegen/tfds`."""
  env = os.environ.get("SENSEGEN_DATA_DIR")
  return pathlib.Path(env) if env else pathlib.Path.home() / ".cache/sensegen/tfds"


class Har(tfds.core.GeneratorBasedBuilder):
  """HAPT sessions preprocessed to the 12 UCI HAR channels, plus the 6 raw ones; one example
  per session."""

  name = "har"
  VERSION = tfds.core.Version("1.2.0")
  RELEASE_NOTES = {
    "1.0.0": "61 HAPT sessions, 12 UCI HAR channels.",
    "1.1.0": "The raw accelerometer and gyroscope as 6 more channels.",
    "1.2.0": "Signals and labels stored as raw bytes (a build takes half the time).",
  }

  def __init__(
    self,
    *,
    raw_dir: Optional[PathLike] = None,
    source: Optional[str] = None,
    data_dir: Optional[PathLike] = None,
    **kwargs,
  ):
    """Builder reading `raw_dir` (None: the embedded copy).

    Args:
      raw_dir: HAPT RawData folder the dataset is prepared from.
      source: provenance recorded in the dataset metadata; defaults to
        "embedded" or the resolved `raw_dir`.
      data_dir: TFDS data dir; defaults to `default_data_dir()`.
      **kwargs: passed to `tfds.core.GeneratorBasedBuilder`.
    """
    self.raw_dir = None if raw_dir is None else pathlib.Path(raw_dir)
    self.source = source or ("embedded" if raw_dir is None else str(self.raw_dir.resolve()))
    super().__init__(
      data_dir=os.fspath(data_dir or default_data_dir()), file_format="array_record", **kwargs
    )

  def _info(self) -> tfds.core.DatasetInfo:
    # dataset_info_from_configs() only works for builders in dataset folders.
    return tfds.core.DatasetInfo(
      builder=self,
      description=(
        "UCI HAPT raw smartphone IMU sessions, median + 20 Hz "
        "Butterworth denoised, gravity split at 0.3 Hz, 50 Hz."
      ),
      features=tfds.features.FeaturesDict(
        {
          # Raw bytes: TFDS serialises a float list value by value (first build 18.6 s -> 11.6 s).
          "signals": tfds.features.Tensor(
            shape=(None, len(CHANNELS)), dtype=np.float32, encoding=tfds.features.Encoding.BYTES
          ),
          "labels": tfds.features.Tensor(
            shape=(None,), dtype=np.int32, encoding=tfds.features.Encoding.BYTES
          ),
          "user_id": tfds.features.Scalar(dtype=np.int32),
          "experiment_id": tfds.features.Scalar(dtype=np.int32),
        }
      ),
      homepage=HOMEPAGE,
      citation=CITATION,
      license="CC BY 4.0",
      # Keep examples in experiment order.
      disable_shuffling=True,
      metadata=tfds.core.MetadataDict(
        source=self.source, channels=list(CHANNELS), units=list(UNITS)
      ),
    )

  def _split_generators(self, dl_manager):
    del dl_manager  # The raw data is local: nothing to download.
    sessions = uci_raw.read_raw_dir(self.raw_dir)
    return {
      split: self._generate_examples([s for s in sessions if uci_raw.split_of(s.user_id) == split])
      for split in SPLITS
    }

  def _generate_examples(self, sessions: list[uci_raw.RawSession]):
    for s in sessions:
      try:
        signals = preprocess.har_channels(s.acc, s.gyro, SAMPLE_RATE_HZ)
      except DataError as e:
        raise DataError(f"experiment {s.experiment_id}: {e}") from None
      yield (
        s.experiment_id,
        {
          "signals": signals,
          "labels": s.labels,
          "user_id": s.user_id,
          "experiment_id": s.experiment_id,
        },
      )


@contextlib.contextmanager
def _build_lock(data_dir: PathLike):
  """An exclusive lock across processes, so that concurrent first uses build once."""
  os.makedirs(data_dir, exist_ok=True)
  with open(os.path.join(data_dir, ".har-build.lock"), "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(
  data_dir: Optional[PathLike] = None,
  raw_dir: Optional[PathLike] = None,
  source: Optional[str] = None,
) -> Har:
  """Builds the `har` dataset in `data_dir` unless it is there already.

  Args:
    data_dir: TFDS data dir; None: `default_data_dir()`.
    raw_dir: RawData folder; None: use whatever `data_dir` holds, else build
      from the embedded copy.
    source: provenance label (default: "embedded" or the resolved raw_dir).

  Returns:
    The prepared builder.
  """
  builder = Har(data_dir=data_dir, raw_dir=raw_dir, source=source)
  # Not builder.is_prepared(): that logs a warning when there is no dataset.
  built = lambda: (builder.data_path / "dataset_info.json").exists()
  if not built():
    uci_raw.raw_dir_path(raw_dir)  # Fail before TFDS announces a build.
    with _build_lock(data_dir or default_data_dir()):
      if built():  # Another process built it while this one waited: read it afresh.
        return Har(data_dir=data_dir, raw_dir=raw_dir, source=source)
      # No network here: never ask GCS for a prebuilt copy.
      builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False)
      )
    return builder
  # LazyMetadataDict reads the stored value on [] (but not on .get()).
  built_from = builder.info.metadata["source"]
  if (raw_dir is not None or source is not None) and built_from != builder.source:
    raise DataError(
      f"{builder.data_path}: already built from {built_from}, "
      f"not {builder.source}; pass another data_dir"
    )
  return builder


def _read_split(builder: Har, split: str) -> list[dict]:
  """The examples of `split`, ordered by experiment id, arrays read-only."""
  source = builder.as_data_source(split=split)
  examples = [source[i] for i in range(len(source))]
  for ex in examples:
    # Shared by every load_har result of this process.
    ex["signals"].setflags(write=False)
    ex["labels"].setflags(write=False)
  return sorted(examples, key=lambda ex: int(ex["experiment_id"]))


@functools.lru_cache(maxsize=4)
def _load_prepared(data_dir: str, raw_dir: Optional[str]) -> dict[str, list[dict]]:
  """Split -> examples; cached so repeated `load_har` calls are cheap."""
  builder = prepare(data_dir, raw_dir)
  return {split: _read_split(builder, split) for split in SPLITS}


def _resolve(path: Optional[PathLike]) -> Optional[str]:
  return None if path is None else str(pathlib.Path(path).expanduser().resolve())


def channel_indices(channels: Sequence[str]) -> list[int]:
  """Column of each name in `CHANNELS`; DataError for an unknown or repeated one."""
  if isinstance(channels, str):
    channels = (channels,)
  if not channels:
    raise DataError("no channels requested; valid: " + ", ".join(CHANNELS))
  for name in channels:
    if name not in CHANNELS:
      raise DataError(f"unknown HAR channel {name!r}; valid: " + ", ".join(CHANNELS))
  if len(set(channels)) != len(channels):
    raise DataError(f"repeated channel in {tuple(channels)}")
  return [CHANNELS.index(name) for name in channels]


def load_har(
  split: str = "train",
  channels: Sequence[str] = ("body_acc_x", "body_acc_y", "body_acc_z"),
  data_dir: Optional[PathLike] = None,
  raw_dir: Optional[PathLike] = None,
) -> SensorDataset:
  """Loads preprocessed UCI HAPT sessions, building the TFDS dataset on first use.

  Args:
    split: "train" (21 users, 42 sessions), "test" (users 2, 4, 9, 10, 12, 13,
      18, 20, 24; 19 sessions) or "all" (train then test).
    channels: names from `CHANNELS`, in the wanted column order.
    data_dir: TFDS data dir; None: `$SENSEGEN_DATA_DIR` or
      `~/.cache/sensegen/tfds`.
    raw_dir: HAPT RawData folder to build from; None: the embedded copy (or
      whatever `data_dir` already holds).

  Returns:
    A SensorDataset of float32 `[T_i, len(channels)]` series with per-sample
    int32 labels (0 = unlabelled, 1..12 = `ACTIVITY_NAMES`), sessions in
    experiment order within each split.
  """
  if split not in SPLITS + ("all",):
    raise DataError(f"unknown HAR split {split!r}; valid: train, test, all")
  columns = channel_indices(channels)
  by_split = _load_prepared(_resolve(data_dir or default_data_dir()), _resolve(raw_dir))
  examples = [ex for s in (SPLITS if split == "all" else (split,)) for ex in by_split[s]]
  return SensorDataset(
    series=[ex["signals"][:, columns] for ex in examples],
    labels=[ex["labels"].copy() for ex in examples],
    subjects=[int(ex["user_id"]) for ex in examples],
    channels=tuple(CHANNELS[c] for c in columns),
    units=tuple(UNITS[c] for c in columns),
    sample_rate_hz=SAMPLE_RATE_HZ,
    label_names=LABEL_NAMES,
  )
