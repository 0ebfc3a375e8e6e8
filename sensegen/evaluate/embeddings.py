"""2-D views of real vs synthetic windows: PCA and t-SNE embeddings, example traces."""

import numpy as np
import sklearn.decomposition
import sklearn.manifold

from sensegen import plots
from sensegen.data.windows import subsample
from sensegen.plots import plt

METHODS = ("pca", "tsne")


def channel_means(x: np.ndarray) -> np.ndarray:
  """Per-window mean over channels (as in TimeGAN): `[N, L, D]` -> `[N, L]`."""
  return x.mean(axis=2)


def pca_2d(features: np.ndarray) -> np.ndarray:
  """Projection on the first two principal components: `[N, F]` -> `[N, 2]`.

  Each component's sign makes its largest loading positive (scikit-learn's convention),
  so the result does not depend on the SVD; a missing second component is 0.
  """
  k = min(2, *features.shape)
  out = np.zeros((len(features), 2))
  out[:, :k] = sklearn.decomposition.PCA(n_components=k, svd_solver="full").fit_transform(features)
  return out


def embed_2d(features: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
  """`[N, F]` -> `[N, 2]`: `pca_2d`, or scikit-learn's (Barnes-Hut) t-SNE from a PCA
  start with the perplexity capped at (N - 1) / 3 so that small sets keep a meaningful
  one. `seed` drives t-SNE's optimisation."""
  if method not in METHODS:
    raise ValueError(f"method: {method!r}, expected 'pca' or 'tsne'")
  if method == "pca":
    return pca_2d(features)
  perplexity = min(30.0, max((len(features) - 1) / 3, 1.0))
  return sklearn.manifold.TSNE(
    n_components=2, perplexity=perplexity, init="pca", random_state=seed
  ).fit_transform(features)


def plot_embedding(
  real: np.ndarray,
  synth: np.ndarray,
  path: str,
  method: str = "pca",
  seed: int = 0,
  max_points: int = 500,
) -> str:
  """Scatter of real and synthetic windows in a joint 2-D embedding.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    path: PNG to write.
    method: "pca" or "tsne", fitted on both sets' `channel_means`.
    seed: subsampling (and t-SNE) seed.
    max_points: windows per set at most.

  Returns:
    `path`.
  """
  rng = np.random.default_rng(seed)
  real = subsample(real, max_points, rng)
  synth = subsample(synth, max_points, rng)
  features = channel_means(np.concatenate([real, synth]))
  emb = embed_2d(features, method, seed)
  fig, ax = plt.subplots(figsize=(5, 5))
  ax.scatter(*emb[: len(real)].T, s=6, alpha=0.5, c="tab:red", label="real")
  ax.scatter(*emb[len(real) :].T, s=6, alpha=0.5, c="tab:blue", label="synthetic")
  ax.set_title(f"{'PCA' if method == 'pca' else 't-SNE'}: real vs synthetic")
  ax.legend()
  fig.tight_layout()
  plots.save_png(fig, path, dpi=120)
  return path


def plot_trace_grid(
  real: np.ndarray, synth: np.ndarray, path: str, channels, num_examples: int = 3, seed: int = 0
) -> str:
  """Grid of example traces: one row per channel, columns real | synthetic.

  Args:
    real: `[N, L, D]`.
    synth: `[M, L, D]`.
    path: PNG to write.
    channels: D channel names.
    num_examples: windows overlaid per panel (chosen with `seed`).
    seed: choice of windows.

  Returns:
    `path`.
  """
  rng = np.random.default_rng(seed)
  sets = (
    ("real", subsample(real, num_examples, rng)),
    ("synthetic", subsample(synth, num_examples, rng)),
  )
  d = real.shape[-1]
  fig, axes = plt.subplots(d, 2, figsize=(10, 2 * d), sharex=True, sharey="row", squeeze=False)
  for col, (title, windows) in enumerate(sets):
    axes[0, col].set_title(title)
    for c in range(d):
      axes[c, col].plot(windows[..., c].T, lw=0.8)
      axes[c, 0].set_ylabel(channels[c])
  for col in range(2):
    axes[-1, col].set_xlabel("step")
  fig.tight_layout()
  plots.save_png(fig, path, dpi=120)
  return path
