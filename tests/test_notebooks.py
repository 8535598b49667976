"""Every notebook runs top to bottom (the notebooks are part of the product)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    # Stored without outputs: the repository keeps teaching text and code only.
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name}: a cell is stored with outputs"
            assert cell.execution_count is None, f"{path.name}: a cell is stored with an execution count"
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("TOOLKIT_NOTEBOOK_OUT", str(tmp_path))
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
