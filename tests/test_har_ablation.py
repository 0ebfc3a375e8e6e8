"""The ablation script's table: mean +- std over seeds of the per-run JSON lines."""

import importlib.util
import json
import os

import numpy as np

_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks", "har_ablation.py")


def _module():
  spec = importlib.util.spec_from_file_location("har_ablation", _PATH)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _line(row: str, seed: int, score: float) -> str:
  numbers = dict.fromkeys(
    ("quiet_share_real", "quiet_share_synthetic", "window_std_ks", "eval_nll", "dcr_ratio"), 0.5
  )
  return json.dumps(
    {
      "bench": "har_ablation",
      "row": row,
      "seed": seed,
      "discriminative_score": score,
      "membership_auc": 0.5,
      **numbers,
    }
  )


def test_table_pools_seeds_of_several_files_and_keeps_the_row_order(tmp_path):
  ablation = _module()
  rows = list(ablation.ROWS)
  first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
  first.write_text(_line(rows[1], 0, 0.1) + "\n" + _line(rows[1], 1, 0.9) + "\n")
  # A rerun of (row, seed 1) replaces the earlier line.
  second.write_text(_line(rows[1], 1, 0.3) + "\n" + _line(rows[0], 0, 0.2) + "\n")
  lines = ablation.table([str(first), str(second)]).splitlines()
  assert len(lines) == 4
  assert lines[2].startswith(f"| `{rows[0]}` | 1 | 0.200 +- 0.000 |")
  scores = [0.1, 0.3]
  expected = f"| `{rows[1]}` | 2 | {np.mean(scores):.3f} +- {np.std(scores):.3f} |"
  assert lines[3].startswith(expected)
