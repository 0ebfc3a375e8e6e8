"""The one typed configuration of a run; the only place defaults live.

`launch.py` turns every field into an absl flag of the same name (help text from
the field's metadata) and builds a frozen `Config` from the parsed flags.
Paper values live in `launch/har.flags`; the defaults here are a small CPU model.
"""

import dataclasses
import json
import math
from typing import Optional

from sensegen.errors import ConfigError

__all__ = [
  "CONDITIONS",
  "COVARIANCES",
  "Config",
  "DEFAULT_BURN_IN",
  "DEFAULT_LSTM_IMPL",
  "LSTM_IMPLS",
  "MODEL_SPACES",
  "MODES",
  "OPTIMIZERS",
  "SCHEDULES",
  "SELECTIONS",
  "effective_lstm_impl",
  "plain_generator_steps",
  "validate",
]


def _f(default, help_text: str, **extra):
  return dataclasses.field(default=default, metadata={"help": help_text, **extra})


MODES = ("train", "sample", "evaluate", "calibrate")
OPTIMIZERS = ("adam", "rmsprop")
MODEL_SPACES = ("auto", "raw", "processed")
# Generated steps discarded before a returned window: with them a sample is a window at a
# random position of a session rather than its first steps (see `sampling.sample`).
DEFAULT_BURN_IN = 1000
SCHEDULES = ("nll", "alternating", "adversarial")
COVARIANCES = ("diagonal", "full")
LSTM_IMPLS = ("scan", "fused", "bf16")
# The LSTM implementation of a new run that does not name one; a resumed run keeps its own.
DEFAULT_LSTM_IMPL = "fused"
CONDITIONS = ("", "activity")
# Which of a run's generators its sampling, evaluation and `load` use (see
# `train.selection`).
SELECTIONS = ("best_fit", "best_judge", "average", "last")


@dataclasses.dataclass(frozen=True)
class Config:
  """Every setting of a run. Fields marked `run=True` define the trained model and
  data: a resumed run must repeat them exactly."""

  # What to do, where.
  workdir: str = _f("", "Run directory (checkpoints, metrics, plots, reports). Rerunning resumes.")
  mode: str = _f(
    "train",
    "train | sample | evaluate | calibrate (fit a trained run's weight temperature and "
    "resampling critic).",
  )
  # Data.
  data: str = _f("har", "'har' (embedded UCI HAR/HAPT) or a path to a .npz/.csv file.", run=True)
  eval_data: str = _f(
    "", "Held-out .npz/.csv for --data=PATH (default: last 10% of its series).", run=True
  )
  channels: str = _f(
    "", "Comma-separated channel names (har default: body_acc_x; a file: all).", run=True
  )
  # Generator.
  lstm_layers: int = _f(3, "Stacked LSTM layers of the generator.", run=True)
  lstm_units: int = _f(64, "Units per generator LSTM layer (paper: 256).", run=True)
  dense_units: int = _f(64, "Units of the sigmoid dense layer (paper: 128).", run=True)
  mixtures: int = _f(24, "Gaussian mixture components of the MDN.", run=True)
  covariance: str = _f(
    "diagonal",
    "MDN components: diagonal | full (correlated channels via a Cholesky factor).",
    run=True,
  )
  residual_mean: bool = _f(
    True,
    "MDN means as offsets from the current input: the generator predicts each step's change "
    "(--noresidual_mean: absolute means, as in the paper and in runs saved before the flag).",
    run=True,
  )
  lstm_impl: str = _f(
    "",
    "LSTM implementation: scan (autodiff) | fused (custom VJP, same numbers, faster) | bf16 "
    "(bf16 matmul inputs; faster only with bf16 hardware). Unset: the run's own when "
    f"resuming, else {DEFAULT_LSTM_IMPL}.",
    run=True,
  )
  condition_on: str = _f(
    "",
    "'activity': condition the generator on the per-step activity label "
    "(trains on the labelled stretches of the sessions).",
    run=True,
  )
  subject_style: bool = _f(
    False,
    "With --condition_on: also feed the generator a style id per series, the training "
    "subject (`sensegen.styles`); each sample draws one training subject's style at random.",
    run=True,
  )
  style_dropout: float = _f(
    0.2,
    "With --subject_style: share of training chunks read with style 0 ('any subject'), "
    "the style held-out subjects are scored with.",
    run=True,
  )
  model_space: str = _f(
    "auto",
    "What the generator models: raw (the unfiltered sensor signal; samples pass through "
    "UCI HAR's median, 20 Hz and gravity filters, as the data did; HAR channels only) | "
    "processed (the channels themselves) | auto (raw for HAR channels, else processed).",
    run=True,
  )
  output_sigmoid: bool = _f(
    False,
    "Paper's sigmoid on the MDN layer (cannot fit normalised data; off by default).",
    run=True,
  )
  # NLL training.
  batch_size: int = _f(32, "Parallel truncated-BPTT streams per generator step.", run=True)
  bptt_steps: int = _f(100, "Time steps per truncated-BPTT chunk.", run=True)
  train_steps: int = _f(1000, "Generator steps of the 'nll' schedule.")
  optimizer: str = _f(
    "adam",
    "Generator optimizer after global-norm clipping: adam | rmsprop (the paper's).",
    run=True,
  )
  learning_rate: float = _f(3e-3, "Generator learning rate.", run=True)
  lr_decay: float = _f(
    0.1,
    "Generator learning rate at the last planned step / at the first (exponential decay; "
    "1 = constant).",
    run=True,
  )
  rmsprop_decay: float = _f(0.95, "RMSProp decay of the squared-gradient average.", run=True)
  clip_norm: float = _f(1.0, "Global-norm gradient clipping.", run=True)
  seed: int = _f(0, "Seed of parameters, data order and sampling.", run=True)
  reset_prob: float = _f(
    0.0,
    "Probability that a stream's carried LSTM state is zeroed before a chunk, so that the "
    "zero state also means 'anywhere in a session'.",
    run=True,
  )
  input_noise: float = _f(
    0.0,
    "Std of Gaussian noise added to every generator input (normalised model space) in "
    "training, held-out NLL and sampling; targets stay clean, so the generator learns to "
    "correct its own draws instead of drifting with them (0: off).",
    run=True,
  )
  dequantize: bool = _f(
    False,
    "Add uniform noise of one quantisation step (per channel, the median gap between the "
    "training series' distinct values) to the generator's training series, inputs and "
    "targets alike, so that its mixture cannot gain unbounded likelihood from exactly "
    "repeated values.",
    run=True,
  )
  scheduled_sampling: float = _f(
    0.0,
    "Probability that a teacher-forced input is replaced by the model's own one-step draw "
    "(parallel scheduled sampling; 0: off).",
    run=True,
  )
  # Cadence.
  log_every: int = _f(50, "Steps between metrics.jsonl rows / progress lines.")
  eval_every: int = _f(250, "Steps between held-out NLL evaluations.")
  eval_windows: int = _f(64, "Held-out windows scored by each NLL evaluation.", run=True)
  checkpoint_every: int = _f(250, "Steps between checkpoints.")
  keep_checkpoints: int = _f(3, "Checkpoints kept (older ones are deleted).")
  max_bad_steps: int = _f(10, "Consecutive non-finite steps tolerated before stopping.")
  stop_at: int = _f(
    0,
    "Stop training once the generator has taken this many steps, with a resumable checkpoint "
    "and before the end-of-training fits (0: train to the end); the same command without it "
    "continues as if never stopped. For keeping one of several seeds partway "
    "(benchmarks/rank_runs.py).",
  )
  figures: bool = _f(
    True,
    "Write the PNG figures: at the end of training (NLL curves, discriminator accuracy, "
    "traces; also to TensorBoard) and of --mode=evaluate (PCA, t-SNE, window std, traces). "
    "--nofigures saves their seconds in sweeps and tests.",
  )
  # Discriminator and the alternating schedule (paper's Algorithm 1).
  schedule: str = _f(
    "nll",
    "nll | alternating (Algorithm 1) | adversarial (NLL pre-training for "
    "--train_steps, then --rounds of critic and NLL + adversarial steps).",
    run=True,
  )
  rounds: int = _f(10, "Rounds of the alternating and adversarial schedules.")
  d_epochs: int = _f(
    200,
    "Discriminator epochs per round of the alternating schedule (an epoch "
    "= one pass over the round's 2*d_batch windows in minibatches of "
    "d_minibatch).",
    run=True,
  )
  g_steps_per_round: int = _f(
    100,
    "Generator steps per round (each one truncated-BPTT step) of "
    "the alternating and adversarial schedules.",
    run=True,
  )
  window: int = _f(
    400, "Window length of the discriminator and of evaluation (paper: 400).", run=True
  )
  d_batch: int = _f(64, "Real (and as many generated) windows per round: the paper's m.", run=True)
  d_minibatch: int = _f(64, "Discriminator minibatch size within an epoch.", run=True)
  d_lstm_units: int = _f(64, "Discriminator LSTM units (paper: 64).", run=True)
  d_dense_units: int = _f(16, "Discriminator sigmoid dense units (paper: 16).", run=True)
  d_learning_rate: float = _f(1e-3, "Discriminator RMSProp learning rate.", run=True)
  # Differential privacy of the generator (DP-SGD).
  dp: bool = _f(
    False,
    "Train the generator with DP-SGD: per-example clipping and Gaussian noise; "
    "the LSTM state is reset every chunk so an example is one window.",
    run=True,
  )
  dp_clip_norm: float = _f(1.0, "DP: L2 bound of each example's gradient.", run=True)
  dp_noise_multiplier: float = _f(
    1.0, "DP: noise std / dp_clip_norm (ignored when --dp_target_epsilon is set).", run=True
  )
  dp_delta: float = _f(1e-5, "DP: the delta of the reported (epsilon, delta).", run=True)
  dp_target_epsilon: float = _f(
    0.0,
    "DP: pick the noise for the planned steps to spend this "
    "epsilon, and stop when it is spent (0: no target).",
    run=True,
  )
  # The adversarial schedule (gradients from a critic through a relaxed sampler).
  adversarial_weight: float = _f(
    0.1, "Weight of the non-saturating GAN loss added to the NLL.", run=True
  )
  gumbel_temperature: float = _f(
    0.5, "Temperature of the straight-through Gumbel-softmax choice of mixture component.", run=True
  )
  critic_steps: int = _f(
    200,
    "Critic steps per round of the adversarial schedule, each on "
    "d_minibatch fresh real and generated windows.",
    run=True,
  )
  adv_window: int = _f(100, "Steps of the generated windows the critic scores.", run=True)
  critic_lr_ratio: float = _f(1.0, "Critic learning rate / --learning_rate.", run=True)
  gradient_penalty: float = _f(1.0, "R1 gradient penalty weight of the critic (0: off).", run=True)
  # Sampling.
  num_samples: int = _f(
    256, "Series to generate (--mode=sample); windows per set (--mode=evaluate)."
  )
  sample_length: int = _f(400, "Steps per generated series.")
  temperature: float = _f(
    1.0,
    "Sampling temperature (> 0; 1 = the model's distribution): divides the mixture logits "
    "and multiplies sigma (Graves 2013).",
  )
  weight_temperature: float = _f(
    0.0,
    "Temperature of the mixture weights alone (< 1 sharpens them; sigma untouched); "
    "0: the value fitted when the run was trained (1 for runs without one).",
  )
  calibration_windows: int = _f(
    256,
    "Generated and training windows of the weight-temperature fit at each discriminator "
    "phase and at the end of training, when --weight_temperature=0 (0: no fit; not with --dp).",
    run=True,
  )
  resample: int = _f(
    8,
    "Candidates drawn per returned series; the run's critic of window statistics keeps "
    "those most like training windows, at random in proportion to the density ratio it "
    "estimates (`resampling`; a conditioned run's critic of each window's activity). 0 or "
    "1: off. Not with --dp.",
  )
  resample_windows: int = _f(
    512,
    "Training and generated windows the resampling critic (each activity's, for a "
    "conditioned run) is fitted on at the end of training and by --mode=calibrate (0: no "
    "critic).",
  )
  select_generator: str = _f(
    "average",
    "The generator a run samples with: average (the mean of its params every --average_every "
    "steps from --average_from of training on, fitted again at the end), or among those "
    "fitted at the discriminator phases and at the end: best_judge (lowest feature-judge "
    "score of its fitted windows against training windows), best_fit (lowest window-std KS "
    "of its fit against training windows) or last. Without a fit, best_* keep the last.",
    run=True,
  )
  average_from: float = _f(
    0.5,
    "With --select_generator=average: the fraction of the run's generator steps from which "
    "its generators are averaged.",
    run=True,
  )
  average_every: int = _f(
    2000,
    "With --select_generator=average: generator steps between the generators averaged (and "
    "the last one).",
    run=True,
  )
  burn_in: int = _f(
    DEFAULT_BURN_IN,
    "Generated steps discarded before each returned series, so that it starts anywhere in a "
    "session rather than at its start (0: start from the zero state).",
  )
  label: str = _f("", "Activity (name or id) of every step of the samples (conditioned runs).")
  label_schedule: str = _f(
    "",
    "Per-step activities, e.g. "
    "WALKING:500,STAND_TO_SIT:150,SITTING:500; its total is the sample "
    "length.",
  )
  output: str = _f(
    "", "Samples file for --mode=sample: .npz or .csv (default WORKDIR/samples.npz)."
  )
  # Multi-process data parallelism (jax.distributed): one process per host or per GPU.
  coordinator_address: str = _f(
    "",
    "host:port of process 0, set in every process of one training job (unset: one process, "
    "all local devices; 'auto': JAX finds the cluster, e.g. SLURM).",
  )
  num_processes: int = _f(1, "Processes of a multi-process job.")
  process_id: int = _f(0, "This process's index in a multi-process job.")
  cpu_devices: int = _f(
    0,
    "Single-process training on a CPU host: split the cores into this many JAX devices and "
    "the generator's batch over them (data parallel; 1.2-1.4x faster train steps measured "
    "on 2 cores). 0 = as many as there are cores available that divide --batch_size into "
    "shares of at least 16 rows, for NLL steps (not --dp, --scheduled_sampling or the "
    "adversarial schedule); 1 = one device, as runs trained before 2026-11-29 (session 13).",
  )
  checkpoint: int = _f(
    0,
    "--mode=sample / evaluate: the generator that was training at this checkpoint (an id "
    "under WORKDIR/checkpoints) instead of the one the run kept (0); drawn with the run's "
    "fitted weight temperature unless --weight_temperature says otherwise, and without "
    "resampling (the run's critic belongs to the kept generator).",
  )
  # Evaluation.
  synthetic: str = _f("", "Evaluate this .npz of samples instead of sampling the run's model.")
  baselines: bool = _f(False, "Add baseline rows (holdout, replay, Gaussian, AR) to the report.")
  posthoc_steps: int = _f(
    300, "Training steps of the evaluation's post-hoc classifier and forecasters."
  )

  def to_json(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

  @property
  def channel_list(self) -> Optional[tuple]:
    names = tuple(c.strip() for c in self.channels.split(",") if c.strip())
    return names or None


def effective_lstm_impl(cfg: Config) -> str:
  """The LSTM implementation `cfg` builds its generator with (unset: the default)."""
  return cfg.lstm_impl or DEFAULT_LSTM_IMPL


def plain_generator_steps(cfg: Config) -> bool:
  """Whether the generator trains by plain NLL steps, the ones that split over CPU devices
  (`--cpu_devices`): not DP-SGD, scheduled sampling or the adversarial schedule's."""
  return not (cfg.dp or cfg.scheduled_sampling or cfg.schedule == "adversarial")


def run_fields() -> tuple:
  """Names of the fields a resumed run must repeat."""
  return tuple(f.name for f in dataclasses.fields(Config) if f.metadata.get("run"))


_POSITIVE = (
  "lstm_layers",
  "lstm_units",
  "dense_units",
  "mixtures",
  "batch_size",
  "bptt_steps",
  "log_every",
  "eval_every",
  "eval_windows",
  "checkpoint_every",
  "average_every",
  "keep_checkpoints",
  "max_bad_steps",
  "rounds",
  "window",
  "d_batch",
  "d_minibatch",
  "d_lstm_units",
  "d_dense_units",
  "num_samples",
  "posthoc_steps",
  "adv_window",
  "gumbel_temperature",
  "critic_lr_ratio",
  "sample_length",
  "learning_rate",
  "d_learning_rate",
  "clip_norm",
  "temperature",
)
_NON_NEGATIVE = (
  "checkpoint",
  "stop_at",
  "cpu_devices",
  "weight_temperature",
  "calibration_windows",
  "resample",
  "resample_windows",
  "burn_in",
  "train_steps",
  "d_epochs",
  "g_steps_per_round",
  "critic_steps",
  "adversarial_weight",
  "gradient_penalty",
)


def validate(cfg: Config) -> Config:
  """Raises ConfigError naming the first bad flag."""
  if cfg.mode not in MODES:
    raise ConfigError(f"--mode={cfg.mode}: expected one of {', '.join(MODES)}")
  if cfg.schedule not in SCHEDULES:
    raise ConfigError(f"--schedule={cfg.schedule}: expected one of {', '.join(SCHEDULES)}")
  for name, allowed in (
    ("optimizer", OPTIMIZERS),
    ("model_space", MODEL_SPACES),
    ("covariance", COVARIANCES),
    ("lstm_impl", ("", *LSTM_IMPLS)),
    ("condition_on", CONDITIONS),
    ("select_generator", SELECTIONS),
  ):
    if getattr(cfg, name) not in allowed:
      raise ConfigError(
        f"--{name}={getattr(cfg, name)}: expected one of {', '.join(a or repr(a) for a in allowed)}"
      )
  if cfg.label and cfg.label_schedule:
    raise ConfigError("--label and --label_schedule exclude each other")
  for name in _POSITIVE:
    if not getattr(cfg, name) > 0:
      raise ConfigError(f"--{name}={getattr(cfg, name)}: must be positive")
  for name in _NON_NEGATIVE:
    if getattr(cfg, name) < 0:
      raise ConfigError(f"--{name}={getattr(cfg, name)}: must not be negative")
  if cfg.dp and not 0.0 < cfg.dp_delta < 1.0:
    raise ConfigError(f"--dp_delta={cfg.dp_delta}: must be in (0, 1)")
  for name in ("dp_clip_norm",) if cfg.dp else ():
    if not getattr(cfg, name) > 0:
      raise ConfigError(f"--{name}={getattr(cfg, name)}: must be positive")
  for name in ("dp_noise_multiplier", "dp_target_epsilon"):
    if getattr(cfg, name) < 0:
      raise ConfigError(f"--{name}={getattr(cfg, name)}: must not be negative")
  if not 0.0 <= cfg.average_from <= 1.0:
    raise ConfigError(f"--average_from={cfg.average_from}: must be in [0, 1]")
  if cfg.cpu_devices > 1 and not plain_generator_steps(cfg):
    raise ConfigError(
      f"--cpu_devices={cfg.cpu_devices}: only plain NLL steps split the batch over CPU devices "
      "(not --dp, --scheduled_sampling or --schedule=adversarial)"
    )
  if cfg.subject_style and not cfg.condition_on:
    raise ConfigError("--subject_style needs --condition_on")
  if cfg.subject_style and cfg.schedule == "adversarial":
    raise ConfigError("--subject_style does not support --schedule=adversarial")
  for name in ("reset_prob", "scheduled_sampling", "style_dropout"):
    if not 0.0 <= getattr(cfg, name) < 1.0:
      raise ConfigError(f"--{name}={getattr(cfg, name)}: must be in [0, 1)")
  if not math.isfinite(cfg.input_noise) or cfg.input_noise < 0:
    raise ConfigError(f"--input_noise={cfg.input_noise}: must be a finite std >= 0")
  if not 0.0 < cfg.lr_decay <= 1.0:
    raise ConfigError(f"--lr_decay={cfg.lr_decay}: must be in (0, 1]")
  if not 0.0 < cfg.rmsprop_decay < 1.0:
    raise ConfigError(f"--rmsprop_decay={cfg.rmsprop_decay}: must be in (0, 1)")
  if not cfg.workdir:
    raise ConfigError("--workdir is required")
  return cfg
