"""Builds the TFDS `har` dataset from a HAPT RawData folder or the UCI zip.

  python -m data_prep.build_har --raw_dir=PATH/RawData --data_dir=PATH
  python -m data_prep.build_har --archive="PATH/HAPT Data Set.zip" --data_dir=PATH

Without --raw_dir/--archive it builds from the copy embedded in sensegen.
`sensegen.data.load_har(data_dir=PATH)` then reads what was built. Errors are
printed as one line on stderr with exit code 2.
"""

import pathlib
import re
import shutil
import sys
import tempfile
import zipfile

from absl import app
from absl import flags
from absl import logging
import tensorflow_datasets as tfds

from sensegen.data import har
from sensegen.errors import DataError
from sensegen.errors import SenseGenError

_RAW_DIR = flags.DEFINE_string(
  "raw_dir",
  None,
  "HAPT RawData folder: acc_/gyro_expEE_userUU.txt[.xz] and "
  "labels.txt. Default: the copy embedded in sensegen.",
)
_ARCHIVE = flags.DEFINE_string(
  "archive", None, 'The UCI HAPT zip ("HAPT Data Set.zip"), instead of --raw_dir.'
)
_DATA_DIR = flags.DEFINE_string(
  "data_dir", None, "TFDS data dir. Default: $SENSEGEN_DATA_DIR or ~/.cache/sensegen/tfds."
)

# RawData members anywhere in the zip; macOS "._" resource forks do not match.
_RAW_MEMBER = re.compile(r"(?:.*/)?RawData/((?:acc|gyro)_exp\d+_user\d+\.txt(?:\.xz)?|labels\.txt)")


def _extract(zf: zipfile.ZipFile, name: str, out_dir: pathlib.Path) -> None:
  """Writes the RawData members of `zf` (or of its one nested zip) to `out_dir`."""
  wanted = [(m, match[1]) for m in zf.namelist() if (match := _RAW_MEMBER.fullmatch(m))]
  nested = [m for m in zf.namelist() if m.lower().endswith(".zip")]
  if not wanted and len(nested) == 1:
    # Newer UCI downloads wrap the dataset zip in another zip.
    with zf.open(nested[0]) as f, zipfile.ZipFile(f) as inner:
      return _extract(inner, f"{name}/{nested[0]}", out_dir)
  if not wanted:
    raise DataError(f"{name}: no RawData/acc_expEE_userUU.txt members")
  for member, filename in wanted:
    target = out_dir / filename
    if target.exists():
      raise DataError(f"{name}: more than one RawData/{filename}")
    with zf.open(member) as src, open(target, "wb") as dst:
      shutil.copyfileobj(src, dst)


def extract_raw_data(archive: pathlib.Path, out_dir: pathlib.Path) -> None:
  """Copies RawData/*.txt and labels.txt from the UCI HAPT zip into `out_dir`."""
  if not archive.is_file():
    raise DataError(f"{archive}: archive not found")
  try:
    with zipfile.ZipFile(archive) as zf:
      _extract(zf, str(archive), out_dir)
  except (zipfile.BadZipFile, OSError, EOFError) as e:
    raise DataError(f"{archive}: unreadable zip ({e})") from None


def summary(builder: har.Har) -> str:
  """Sessions and samples per split of the prepared dataset."""
  lines = [f"har {builder.version} in {builder.data_path} (from {builder.info.metadata['source']})"]
  for split in har.SPLITS:
    ds = har.load_har(split, channels=har.CHANNELS[:1], data_dir=builder.data_dir_root)
    lines.append(f"  {split}: {len(ds.series)} sessions, {ds.num_samples:,} samples per channel")
  return "\n".join(lines)


def build(raw_dir=None, archive=None, data_dir=None) -> har.Har:
  """Prepares `har` in `data_dir` from `raw_dir`, `archive` or the embedded copy."""
  if raw_dir and archive:
    raise DataError("give --raw_dir or --archive, not both")
  if not archive:
    return har.prepare(data_dir, raw_dir=raw_dir)
  archive = pathlib.Path(archive).expanduser().resolve()
  with tempfile.TemporaryDirectory() as tmp:
    extract_raw_data(archive, pathlib.Path(tmp))
    return har.prepare(data_dir, raw_dir=tmp, source=f"archive:{archive}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not flags.FLAGS["verbosity"].present:
    # TFDS logs every step at INFO; keep stderr for errors.
    logging.set_verbosity(logging.WARNING)
  tfds.disable_progress_bar()
  try:
    print(summary(build(_RAW_DIR.value, _ARCHIVE.value, _DATA_DIR.value)))
  except SenseGenError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)


if __name__ == "__main__":
  app.run(main)
