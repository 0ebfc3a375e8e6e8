import json

from sensegen import metrics


def test_append_skip_duplicates_across_resume(tmp_path):
  path = str(tmp_path / "m.jsonl")
  log = metrics.MetricsLog(path)
  assert log.write({"step": 1, "train_nll": 1.0})
  assert log.write({"step": 2, "train_nll": 0.5})
  resumed = metrics.MetricsLog(path)
  assert not resumed.write({"step": 2, "train_nll": 0.7})  # recomputed after a crash
  assert not resumed.write({"step": 1, "train_nll": 0.9})
  assert resumed.write({"step": 2, "round": 1, "d_train_accuracy": 0.6})
  assert resumed.write({"step": 3, "train_nll": 0.4})
  rows = metrics.read_rows(path)
  assert [r["step"] for r in rows] == [1, 2, 2, 3]
  assert rows[1]["train_nll"] == 0.5


def test_torn_last_line_is_dropped(tmp_path):
  path = tmp_path / "m.jsonl"
  path.write_text(json.dumps({"step": 1, "a": 1}) + "\n" + '{"step": 2, "a"')
  log = metrics.MetricsLog(str(path))
  log.write({"step": 2, "a": 2})
  assert [json.loads(l)["step"] for l in path.read_text().splitlines()] == [1, 2]


def test_nan_written_as_null(tmp_path):
  path = str(tmp_path / "m.jsonl")
  metrics.MetricsLog(path).write({"step": 1, "train_nll": float("nan")})
  assert metrics.read_rows(path)[0]["train_nll"] is None
