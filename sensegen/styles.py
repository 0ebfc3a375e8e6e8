"""Per-series style ids (`--subject_style`) packed into the per-step labels a generator reads.

A conditioned generator reads one int label per step. With styles, each series also has
one style id for all its steps (1..S: a training subject; 0: any subject), packed into
the same int as `activity + num_labels * style`, so every sampler, critic and pipeline that
passes labels around carries the style unchanged and only the generator unpacks it. Why:
a walking window of one person keeps that person's gait for all its steps; a generator
that must infer the gait from its own past draws drifts between people's.
"""

import numpy as np

__all__ = ["chunk_styles", "pack", "session_styles", "unpack"]

# Folded into the seed of the style dropout draws, apart from the other chunk draws.
_STYLE_DROPOUT = 0x57E1E


def session_styles(subjects) -> tuple:
  """(style id `[num_sessions]` int32, number of styles S): each distinct subject id gets
  1..S in sorted order."""
  known = sorted(set(int(s) for s in subjects))
  ids = {s: i + 1 for i, s in enumerate(known)}
  return np.array([ids[int(s)] for s in subjects], np.int32), len(known)


def pack(labels, styles, num_labels: int):
  """labels `[N, T]` (ids < num_labels) with each row's style `styles` `[N]` packed in."""
  return labels + num_labels * styles[:, None]


def unpack(labels, num_labels: int) -> tuple:
  """Packed labels (any shape) -> (activity labels, style ids), both of that shape."""
  return labels % num_labels, labels // num_labels


def chunk_styles(style_of_session, sessions, seed: int, step: int, dropout: float):
  """The style of each stream `[B]` reading `sessions` `[B]` at this training step; a share
  `dropout` of them (drawn from (seed, step)) gets 0, so the generator also learns to
  generate without knowing the subject (held-out subjects are scored that way)."""
  styles = np.asarray(style_of_session)[sessions]
  dropped = np.random.default_rng([seed, step, _STYLE_DROPOUT]).random(len(sessions)) < dropout
  return np.where(dropped, 0, styles).astype(np.int32)
