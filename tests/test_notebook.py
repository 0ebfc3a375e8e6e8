"""The quickstart notebook runs top to bottom (with fewer training steps)."""

import pytest
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

pytestmark = pytest.mark.heavy

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
  nb = nbformat.read(NOTEBOOK, as_version=4)
  assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "strip outputs"
  monkeypatch.setenv("SENSEGEN_NOTEBOOK_STEPS", "30")
  monkeypatch.setenv("SENSEGEN_NOTEBOOK_FIT_WINDOWS", "0")  # no fit: tested elsewhere
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv(
    "PYTHONPATH", str(NOTEBOOK.parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", "")
  )
  NotebookClient(
    nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
  ).execute()
  text = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
  assert "augmented batch: (8, 200, 1)" in text
  assert "vmapped over 3 keys: (3, 2, 100, 1)" in text
  assert "marginal Wasserstein-1" in text
