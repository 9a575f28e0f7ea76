"""Every notebook in notebooks/ runs top to bottom, headless, without a cell error.

Notebooks are committed without outputs (outputs hold timings and model numbers that change
on every run); this test is what keeps them working. ``custom_pipeline.ipynb`` runs the
real local CPU model (llama.cpp + SmolLM2-135M); here it probes 1 task instead of its
default 5 (``GOOSE_NOTEBOOK_PROBE_TASKS``) so the test stays quick on a shared machine.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def _local_engine_missing() -> str | None:
    """Why the local CPU engine cannot run here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install -e '.[local]')"
    from goose.engines.local_model import LocalModelNotFound, default_gguf_path

    try:
        default_gguf_path()
    except LocalModelNotFound as error:
        return str(error)
    return None


def test_there_are_notebooks() -> None:
    names = [path.name for path in NOTEBOOKS]
    assert "quickstart.ipynb" in names and "custom_pipeline.ipynb" in names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("nbformat", "nbclient", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install nbclient nbformat ipykernel)")
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    if any('backend="local"' in cell.source for cell in notebook.cells if cell.cell_type == "code"):
        missing = _local_engine_missing()
        if missing:
            pytest.skip(f"{path.name} runs the local CPU engine: {missing}")
    # the kernel inherits this environment: goose importable from the checkout, few probe tasks
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("GOOSE_NOTEBOOK_PROBE_TASKS", "1")
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_S, startup_timeout=120, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors, errors
