"""From sessions to model inputs: the normaliser, random windows and truncated-BPTT streams.

Everything is numpy on the host with explicit seeds, so the data order is a pure
function of (seed, step) and a resumed run sees exactly the batches it would have.
"""

import dataclasses

import numpy as np

from sensegen.errors import DataError


@dataclasses.dataclass(frozen=True)
class Normaliser:
  """Per-channel standardisation fitted on the train split; invertible.

  Attributes:
    mean: `[D]`.
    std: `[D]`.
  """

  mean: np.ndarray
  std: np.ndarray

  @classmethod
  def fit(cls, series) -> "Normaliser":
    """Fits on a list of `[T_i, D]` arrays (all steps pooled, in float64)."""
    x = np.concatenate([np.asarray(s, np.float64) for s in series])
    std = x.std(axis=0)
    # A constant channel keeps unit scale instead of dividing by zero.
    std = np.where(std > 0, std, 1.0)
    return cls(x.mean(axis=0).astype(np.float32), std.astype(np.float32))

  def normalise(self, x):
    return ((x - self.mean) / self.std).astype(np.float32)

  def denormalise(self, x):
    """Inverse of `normalise`; works on numpy and jax arrays `[..., D]`."""
    return x * self.std + self.mean

  def to_dict(self) -> dict:
    return {"mean": self.mean.tolist(), "std": self.std.tolist()}

  @classmethod
  def from_dict(cls, d: dict) -> "Normaliser":
    return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def check_windows(x, name: str, min_windows: int = 1, min_length: int = 2) -> np.ndarray:
  """Returns `x` as float32 windows `[N, L, D]`, or raises DataError naming `name`."""
  x = np.asarray(x)
  if x.dtype == object or not (
    np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
  ):
    raise DataError(f"{name}: dtype {x.dtype}, expected float windows")
  if x.ndim != 3:
    raise DataError(f"{name}: rank {x.ndim}, expected windows [N, L, D]")
  n, length, channels = x.shape
  if n < min_windows:
    raise DataError(f"{name}: {n} windows, at least {min_windows} needed")
  if length < min_length:
    raise DataError(f"{name}: windows of {length} steps, at least {min_length} needed")
  if channels < 1:
    raise DataError(f"{name}: 0 channels")
  if np.isnan(x).any():
    raise DataError(f"{name}: contains NaN")
  if not np.isfinite(x).all():
    raise DataError(f"{name}: contains inf")
  return x.astype(np.float32, copy=False)


def subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
  """At most `n` windows of `x` `[N, ...]` without replacement, in a seeded order."""
  if len(x) <= n:
    return x
  return x[np.sort(rng.choice(len(x), n, replace=False))]


def runs(mask: np.ndarray, min_length: int = 1) -> list:
  """(start, stop) of every maximal run of True in `mask` `[T]` at least `min_length` long."""
  edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
  return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b - a >= min_length]


def label_runs(series, labels, label: int, min_length: int) -> list:
  """The stretches `[T_j, D]` of `series` (`[T_i, D]` each, per-step `labels` `[T_i]`) that
  carry `label` for at least `min_length` consecutive steps."""
  return [x[a:b] for x, lab in zip(series, labels) for a, b in runs(lab == label, min_length)]


def _long_enough(series, length: int, name: str):
  idx = [i for i, s in enumerate(series) if len(s) >= length]
  if not idx:
    longest = max((len(s) for s in series), default=0)
    raise DataError(f"{name}: no series has {length} steps (longest has {longest})")
  return idx


def random_windows(
  series, num: int, length: int, rng: np.random.Generator, labels=None, name: str = "data"
):
  """`num` windows `[num, length, D]` at uniformly random positions.

  Sessions are drawn in proportion to how many windows they hold, so every
  admissible position is equally likely. With `labels`, also returns `[num, length]`.
  """
  idx = _long_enough(series, length, name)
  starts = np.array([len(series[i]) - length + 1 for i in idx], np.float64)
  which = rng.choice(len(idx), size=num, p=starts / starts.sum())
  offsets = (rng.random(num) * starts[which]).astype(np.int64)
  take = lambda arrs: np.stack([arrs[idx[w]][o : o + length] for w, o in zip(which, offsets)])
  if labels is None:
    return take(series)
  return take(series), take(labels)


def tiled_windows(series, length: int, stride: int = 0, name: str = "data"):
  """Every window of `length` steps at `stride` (default: non-overlapping), `[N, length, D]`."""
  stride = stride or length
  idx = _long_enough(series, length, name)
  return np.stack(
    [series[i][o : o + length] for i in idx for o in range(0, len(series[i]) - length + 1, stride)]
  )


@dataclasses.dataclass(frozen=True)
class Streams:
  """Positions of B contiguous streams over the sessions (host state of truncated BPTT).

  Attributes:
    session: `[B]` session index of each stream.
    offset: `[B]` index of the next input step within that session.
  """

  session: np.ndarray
  offset: np.ndarray

  def to_dict(self) -> dict:
    return {"session": self.session.tolist(), "offset": self.offset.tolist()}

  @classmethod
  def from_dict(cls, d: dict) -> "Streams":
    return cls(np.asarray(d["session"], np.int64), np.asarray(d["offset"], np.int64))


def _pick_sessions(series, count: int, chunk: int, rng) -> np.ndarray:
  idx = _long_enough(series, chunk, "train data")
  weights = np.array([len(series[i]) for i in idx], np.float64)
  return np.asarray(idx, np.int64)[rng.choice(len(idx), size=count, p=weights / weights.sum())]


def init_streams(series, batch: int, bptt_steps: int, seed: int) -> Streams:
  """B streams at random positions of random sessions (weighted by length)."""
  rng = np.random.default_rng([seed, 0x5EED])
  session = _pick_sessions(series, batch, bptt_steps + 1, rng)
  room = np.array([len(series[s]) - bptt_steps for s in session])
  return Streams(session, (rng.random(batch) * room).astype(np.int64))


# Folded into the seeds of the random resets and the input noise, apart from the
# per-stream session draws.
_RANDOM_RESET = 0x2E5E7
_INPUT_NOISE = 0x1A015E
_DEQUANTIZE = 0xDE0


def quantisation_step(series) -> np.ndarray:
  """Per channel of `series` (`[T_i, D]` each), the median gap between its distinct values
  -> `[D]`: the resolution the values were recorded at (UCI HAR's raw accelerometer: about
  0.0035 in normalised units, 11-13% of its steps repeat the last value exactly), or about
  range / T for unquantised data; 0 for a constant channel."""
  x = np.concatenate([np.asarray(s) for s in series])
  gaps = [np.diff(np.unique(x[:, c])) for c in range(x.shape[-1])]
  return np.array([np.median(g) if len(g) else 0.0 for g in gaps], np.float32)


def next_chunk(
  series,
  streams: Streams,
  bptt_steps: int,
  step: int,
  seed: int,
  labels=None,
  reset_prob: float = 0.0,
  rows: slice = slice(None),
  input_noise: float = 0.0,
  dequantize=None,
):
  """The next `bptt_steps` inputs and targets of every stream, read for the streams
  `rows` only (a process's share of a multi-process batch).

  A stream without `bptt_steps + 1` steps left in its session moves to the start of
  a new session (chosen from (seed, step, stream)) and is flagged for a state reset.
  Any other stream is also flagged, where it stands, with probability `reset_prob`
  (drawn from (seed, step)), so that the zero state is seen at random positions.
  With `input_noise`, the inputs (not the targets) carry Gaussian noise of that std,
  drawn from (seed, step) for all B streams, so a row's noise does not depend on `rows`.
  With `dequantize` (`[D]` quantisation steps, `quantisation_step`), every value read, input
  or target, first moves by uniform noise within its step, drawn the same way.

  Returns:
    (batch, new streams of all B) where batch has `inputs` `[R, k, D]`, `targets`
    `[R, k, D]`, `reset` `[R]` bool and, with `labels`, `labels` `[R, k]` (the inputs'
    labels), for the R streams of `rows`.
  """
  session, offset = streams.session.copy(), streams.offset.copy()
  reset = offset + bptt_steps + 1 > np.array([len(series[s]) for s in session])
  for b in np.flatnonzero(reset):
    rng = np.random.default_rng([seed, step, int(b)])
    session[b] = _pick_sessions(series, 1, bptt_steps + 1, rng)[0]
    offset[b] = 0
  if reset_prob:
    reset = reset | (
      np.random.default_rng([seed, step, _RANDOM_RESET]).random(len(reset)) < reset_prob
    )
  read = list(zip(session[rows], offset[rows]))
  chunks = np.stack([series[s][o : o + bptt_steps + 1] for s, o in read])
  if dequantize is not None:
    uniform = np.random.default_rng([seed, step, _DEQUANTIZE]).random(
      (len(session), bptt_steps + 1, chunks.shape[-1])
    )
    chunks = (chunks + (uniform[rows] - 0.5) * dequantize).astype(chunks.dtype)
  inputs = chunks[:, :-1]
  if input_noise:
    noise = np.random.default_rng([seed, step, _INPUT_NOISE]).standard_normal(
      (len(session), bptt_steps, inputs.shape[-1])
    )
    inputs = (inputs + input_noise * noise[rows]).astype(inputs.dtype)
  batch = {"inputs": inputs, "targets": chunks[:, 1:], "reset": reset[rows]}
  if labels is not None:
    batch["labels"] = np.stack([labels[s][o : o + bptt_steps] for s, o in read]).astype(np.int32)
  return batch, Streams(session, offset + bptt_steps)
