"""PNG figures of a run, from arrays and metrics rows (matplotlib, no display)."""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

from sensegen import fileio


def save_png(fig, path: str, dpi: int = 100) -> None:
  """Writes `fig` as a PNG atomically (temporary file + rename) and closes it."""
  with fileio.atomic_open(path, "wb") as f:
    fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight")
  plt.close(fig)


def nll_curves(rows: list, path: str) -> None:
  """Train and held-out NLL per step against training step (the paper's Fig. 3)."""
  fig, ax = plt.subplots(figsize=(7, 4))
  for key, label in (
    ("train_nll", "train"),
    ("eval_nll", "held-out"),
    ("baseline_eval_nll", "per-channel Gaussian (held-out)"),
  ):
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    if pts:
      ax.plot(*zip(*pts), label=label, marker="." if key != "train_nll" else None)
  ax.set_xlabel("generator step")
  ax.set_ylabel("NLL (nats / step)")
  ax.legend()
  ax.grid(alpha=0.3)
  save_png(fig, path)


def traces(real, generated, path: str, channels, sample_rate_hz: float, units=()) -> None:
  """4 real vs 4 generated series side by side (the paper's Fig. 2); arrays `[N, L, D]`."""
  n = min(4, len(real), len(generated))
  fig, axes = plt.subplots(n, 2, figsize=(10, 1.8 * n), sharey=True, squeeze=False)
  for col, (title, xs) in enumerate((("real", real), ("generated", generated))):
    for row in range(n):
      ax = axes[row, col]
      t = [i / sample_rate_hz for i in range(xs.shape[1])]
      for d, name in enumerate(channels):
        ax.plot(t, xs[row, :, d], lw=0.8, label=name)
      if row == 0:
        ax.set_title(title)
  axes[-1, 0].set_xlabel("s")
  axes[-1, 1].set_xlabel("s")
  unit = f" ({units[0]})" if units else ""
  axes[0, 0].set_ylabel(f"value{unit}")
  axes[0, 1].legend(fontsize=7, loc="upper right")
  save_png(fig, path)


def discriminator_accuracy(rows: list, path: str) -> None:
  """D's training and held-out accuracy per round (the paper's Fig. 4)."""
  pts = [r for r in rows if "d_heldout_accuracy" in r]
  fig, ax = plt.subplots(figsize=(7, 4))
  if pts:
    rounds = [r["round"] for r in pts]
    ax.plot(rounds, [r["d_train_accuracy"] for r in pts], marker="o", label="train windows")
    ax.plot(
      rounds,
      [r["d_heldout_accuracy"] for r in pts],
      marker="o",
      label="held-out users + fresh samples",
    )
  ax.axhline(0.5, color="gray", ls="--", lw=1)
  ax.set_ylim(0, 1.05)
  ax.set_xlabel("round")
  ax.set_ylabel("discriminator accuracy")
  ax.legend()
  ax.grid(alpha=0.3)
  save_png(fig, path)


def window_std(real_std, synthetic_std, path: str, quiet_std: float) -> None:
  """Histograms of the per-window std `[N]` of real and synthetic windows (log axis),
  with the quiet threshold marked: the report's `regime` block as a figure."""
  values = np.concatenate([real_std, synthetic_std])
  low = max(float(values.min()), 1e-4)
  bins = np.geomspace(low, max(float(values.max()), 2 * low), 40)
  fig, ax = plt.subplots(figsize=(7, 4))
  ax.hist(real_std, bins=bins, alpha=0.5, label=f"real ({len(real_std)})")
  ax.hist(synthetic_std, bins=bins, alpha=0.5, label=f"synthetic ({len(synthetic_std)})")
  ax.axvline(quiet_std, color="gray", ls="--", lw=1, label="quiet threshold")
  ax.set_xscale("log")
  ax.set_xlabel("per-window std (normalised)")
  ax.set_ylabel("windows")
  ax.legend()
  save_png(fig, path)
