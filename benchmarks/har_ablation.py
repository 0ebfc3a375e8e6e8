"""Quality, not speed: the fidelity ablation on HAR body_acc_x (README's ablation table).

  python benchmarks/har_ablation.py --rows all --seeds 0 1 2 --root runs/ablation

Each row trains the launcher's generator with the row's training flags (rows that differ
only in how they sample share one training run), then evaluates 256 windows of 400 steps
with `--mode=evaluate` and the row's sampling flags. Every run is an ordinary launcher
run directory under `--root`, so rerunning resumes and `metrics.jsonl` / `eval/report.json`
can be read afterwards. Prints one JSON line per (row, seed) and one summary line per row
(mean and std over seeds); `--table FILE...` turns such output, of one or several
invocations, into the README's markdown table. Rows at the ablation budget (8,000
generator steps, ~4 CPU minutes each on 2 cores) isolate one method each; `main` is
`launch/har_quick.flags`.
"""

import argparse
import collections
import json
import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small generator trained for the ablation budget; rows add or override flags.
_BASE = (
  "--data=har",
  "--channels=body_acc_x",
  "--lstm_layers=2",
  "--lstm_units=64",
  "--dense_units=64",
  "--mixtures=8",
  "--batch_size=32",
  "--bptt_steps=50",
  "--schedule=nll",
  "--train_steps=8000",
  "--window=400",
  "--log_every=500",
  "--eval_every=8000",
  "--eval_windows=128",
  "--checkpoint_every=2000",
  "--calibration_windows=0",  # Rows sample at weight temperature 1 or their own value.
)
_PAPER_TRAINING = ("--optimizer=rmsprop", "--lr_decay=1.0", "--learning_rate=0.002")
_ADAM = ("--optimizer=adam", "--lr_decay=0.1", "--learning_rate=0.003")
_AT_ONE = "--weight_temperature=1"  # Rows measured before the fitted weight temperature.
_ABSOLUTE = "--noresidual_mean"  # Rows measured before the residual mean became the default.
_NO_RESAMPLE = "--resample=0"  # Rows measured before critic resampling became the default.
# name: (training flags, sampling flags of the evaluation)
ROWS = {
  "processed_rmsprop_zero_start": (
    _BASE + _PAPER_TRAINING + ("--model_space=processed", _ABSOLUTE),
    ("--burn_in=0", _AT_ONE, _NO_RESAMPLE),
  ),
  "processed_adam_zero_start": (
    _BASE + _ADAM + ("--model_space=processed", _ABSOLUTE),
    ("--burn_in=0", _AT_ONE, _NO_RESAMPLE),
  ),
  "processed_adam_burn_in": (
    _BASE + _ADAM + ("--model_space=processed", _ABSOLUTE),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "processed_adam_burn_in_weight_temperature_0.7": (
    _BASE + _ADAM + ("--model_space=processed", _ABSOLUTE),
    ("--burn_in=1000", "--weight_temperature=0.7", _NO_RESAMPLE),
  ),
  "processed_adam_random_resets": (
    _BASE + _ADAM + ("--model_space=processed", "--reset_prob=0.05", _ABSOLUTE),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "processed_adam_random_resets_zero_start": (
    _BASE + _ADAM + ("--model_space=processed", "--reset_prob=0.05", _ABSOLUTE),
    ("--burn_in=0", _AT_ONE, _NO_RESAMPLE),
  ),
  "processed_adam_scheduled_sampling": (
    _BASE + _ADAM + ("--model_space=processed", "--scheduled_sampling=0.25", _ABSOLUTE),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "raw_adam_burn_in": (
    _BASE + _ADAM + ("--model_space=raw", _ABSOLUTE),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "raw_adam_burn_in_residual_mean": (
    _BASE + _ADAM + ("--model_space=raw",),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "main": (
    ("--flagfile=launch/har_quick.flags", _ABSOLUTE),
    ("--burn_in=1000", _AT_ONE, _NO_RESAMPLE),
  ),
  "main_fitted_weight_temperature": (
    ("--flagfile=launch/har_quick.flags", _ABSOLUTE),
    ("--burn_in=1000", _NO_RESAMPLE),
  ),
  "raw_adam_burn_in_residual_mean_resample": (
    _BASE + _ADAM + ("--model_space=raw",),
    ("--burn_in=1000", _AT_ONE, "--resample=8"),
  ),
  **{
    f"raw_adam_burn_in_residual_mean_input_noise_{std}{suffix}": (
      _BASE + _ADAM + ("--model_space=raw", f"--input_noise={std}"),
      ("--burn_in=1000", _AT_ONE, resample),
    )
    for std in ("0.01", "0.03")
    for suffix, resample in (("", _NO_RESAMPLE), ("_resample", "--resample=8"))
  },
}


def _launch(*flags) -> None:
  cmd = [sys.executable, "-m", "sensegen.launch", *flags]
  print("$", " ".join(cmd[1:]), file=sys.stderr, flush=True)
  subprocess.run(cmd, cwd=REPO, check=True, stdout=sys.stderr)  # stdout: JSON lines only.


def evaluate(workdir: str, seed: int, *sample_flags) -> None:
  """`--mode=evaluate` of the ablation: 256 windows, evaluation seed = `seed`."""
  _launch(
    f"--workdir={workdir}", "--mode=evaluate", "--num_samples=256", f"--seed={seed}", *sample_flags
  )


def result(name: str, seed: int, workdir: str) -> dict:
  """The row's JSON line from the run's metrics and its latest `eval/report.json`."""
  with open(os.path.join(workdir, "eval", "report.json")) as f:
    report = json.load(f)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    rows = [json.loads(line) for line in f]
  last_eval = [r for r in rows if "eval_nll" in r][-1]
  rounds = [r for r in rows if "d_heldout_accuracy" in r]
  return {
    "bench": "har_ablation",
    "row": name,
    "seed": seed,
    "workdir": workdir,
    "discriminative_score": report["discriminative_score"]["mean"],
    "judge": report["discriminative_score"].get("judge"),
    "quiet_share_real": report["regime"]["quiet_share_real"],
    "quiet_share_synthetic": report["regime"]["quiet_share_synthetic"],
    "window_std_ks": report["regime"]["window_std_ks"],
    "eval_nll": last_eval["eval_nll"],
    "dcr_ratio": report["dcr"]["ratio"],
    "membership_auc": report["membership_auc"],
    "last_round_d_heldout_accuracy": rounds[-1]["d_heldout_accuracy"] if rounds else None,
  }


def run_row(name: str, seed: int, root: str) -> dict:
  train_flags, sample_flags = ROWS[name]
  train_id = next(n for n, (t, _) in ROWS.items() if t == train_flags)  # Shared trainings.
  workdir = os.path.abspath(os.path.join(root, f"{train_id}_seed{seed}"))
  _launch(*train_flags, f"--workdir={workdir}", f"--seed={seed}")
  evaluate(workdir, seed, *sample_flags)
  return result(name, seed, workdir)


def summary(name: str, results: list) -> dict:
  """Mean and std over seeds of every number of one row's results."""
  out = {"bench": "har_ablation_summary", "row": name, "seeds": [r["seed"] for r in results]}
  for key, value in results[0].items():
    if isinstance(value, float):
      vals = [r[key] for r in results]
      out[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals))}
  return out


_TABLE = (
  ("discriminative_score", "discriminative score", "{:.3f}"),
  ("quiet_share_synthetic", "quiet share synthetic", "{:.3f}"),
  ("quiet_share_real", "quiet share real", "{:.3f}"),
  ("window_std_ks", "window-std KS", "{:.3f}"),
  ("eval_nll", "held-out NLL", "{:.3f}"),
  ("dcr_ratio", "DCR ratio", "{:.2f}"),
  ("membership_auc", "membership AUC", "{:.3f}"),
)


def table(paths: list) -> str:
  """A markdown table (mean +- std over seeds per row) of the per-run JSON lines in
  `paths` (this script's output, possibly of several invocations); the last line of a
  (row, seed) wins."""
  runs = {}
  for path in paths:
    with open(path) as f:
      for line in f:
        r = json.loads(line)
        if r.get("bench") == "har_ablation":
          runs[(r["row"], r["seed"])] = r
  by_row = collections.defaultdict(list)
  for (row, _), r in sorted(runs.items()):
    by_row[row].append(r)
  lines = [
    "| row | seeds | " + " | ".join(title for _, title, _ in _TABLE) + " |",
    "|---" * (len(_TABLE) + 2) + "|",
  ]
  # The script's rows in their order, then rows of other scripts (`start_states.py`).
  for name in [n for n in ROWS if n in by_row] + [n for n in by_row if n not in ROWS]:
    s = summary(name, by_row[name])
    cells = [f"{fmt.format(s[k]['mean'])} +- {fmt.format(s[k]['std'])}" for k, _, fmt in _TABLE]
    lines.append(f"| `{name}` | {len(s['seeds'])} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def main():
  p = argparse.ArgumentParser(description=__doc__)
  p.add_argument("--rows", nargs="+", default=["all"], help=f"'all' or some of {list(ROWS)}")
  p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
  p.add_argument("--root", default="runs/ablation")
  p.add_argument(
    "--table", nargs="+", metavar="JSONL", help="print the markdown table of earlier output"
  )
  args = p.parse_args()
  if args.table:
    print(table(args.table))
    return
  names = list(ROWS) if args.rows == ["all"] else args.rows
  for name in names:
    results = [run_row(name, seed, args.root) for seed in args.seeds]
    for r in results:
      print(json.dumps(r), flush=True)
    print(json.dumps(summary(name, results)), flush=True)


if __name__ == "__main__":
  main()
