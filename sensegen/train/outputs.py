"""What a training run writes besides checkpoints: metrics.jsonl, TensorBoard, progress
lines and PNG figures."""

import dataclasses
import logging
import os

import jax

from sensegen import plots
from sensegen import tensorboard
from sensegen.config import Config
from sensegen.metrics import MetricsLog
from sensegen.metrics import read_rows


class RunLog:
  """The run's metrics rows, mirrored to TensorBoard, and its figures."""

  def __init__(self, cfg: Config):
    self.workdir = cfg.workdir
    self.primary = jax.process_index() == 0  # The one writer of a multi-process job.
    if not self.primary:
      return
    self.metrics = MetricsLog(os.path.join(cfg.workdir, "metrics.jsonl"))
    self.tb = tensorboard.TensorBoardLog(os.path.join(cfg.workdir, "tensorboard"))
    # Events still buffered when a run was killed are written again; steps on disk are skipped.
    for row in read_rows(self.metrics.path):
      self.tb.scalars(row["step"], row)
    self.tb.hparams(dataclasses.asdict(cfg))

  def write(self, row: dict) -> None:
    """To metrics.jsonl and TensorBoard, unless a run before a crash already wrote it."""
    if self.primary and self.metrics.write(row):
      self.tb.scalars(row["step"], row)

  @staticmethod
  def progress(step: int, total: int, row: dict, sec_per_step: float) -> None:
    eta = max(total - step, 0) * sec_per_step
    logging.info(
      "step %d/%d  train_nll %.4f  %.2f steps/s  ETA %dm%02ds",
      step,
      total,
      row.get("train_nll", float("nan")),
      row["steps_per_sec"],
      eta // 60,
      eta % 60,
    )

  def figures(self, schedule, real, fake, run_data) -> None:
    """NLL curves, the schedule's figures and real vs generated traces (`[4, L, D]` in
    physical units), also as TensorBoard images."""
    rows = read_rows(self.metrics.path)
    path = lambda name: os.path.join(self.workdir, f"{name}.png")
    plots.nll_curves(rows, path("nll"))
    names = ("nll", *schedule.figures(rows, self.workdir), "traces")
    plots.traces(
      real,
      fake,
      path("traces"),
      run_data.channels,
      run_data.train.sample_rate_hz,
      run_data.train.units,
    )
    step = max(r["step"] for r in rows) if rows else 0
    for name in names:
      self.tb.image(f"plots/{name}", path(name), step)

  def close(self) -> None:
    if self.primary:
      self.tb.close()
