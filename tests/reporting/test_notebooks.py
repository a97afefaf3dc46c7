"""The notebooks run top to bottom (nbclient, this interpreter's ipykernel), so they never rot.

Each builds its own small demo sweeps (`designspace.demo_sweeps`: sampler + a seconds-long training on bundled
Fashion-MNIST) when no sweep directories are given, and runs from a folder outside the clone.
"""

from __future__ import annotations

import os
import re
import sys

import pytest

from designspace.cli.notebooks import (
    NOTEBOOK_DIR as NOTEBOOKS,  # as installed: what `designspace.notebooks` writes
)

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")



TEST_MODELS = 8
"""Demo models per space in the test at most: the edf notebook's own 24 per space took 330 s of a 16-minute
suite; 8 still fill every cell (empty complexity bins merge)."""


def cap_demo_models(nb, most: int) -> None:
    """Lower the parameters cell's `DEMO_MODELS = n` to at most `most`, as papermill would set a parameter."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("# Parameters"))
    match = re.search(r"^DEMO_MODELS = (\d+)", cell.source, flags=re.M)
    assert match, "the notebook's parameters cell sets no DEMO_MODELS"
    cell.source = cell.source.replace(match.group(0), f"DEMO_MODELS = {min(most, int(match.group(1)))}")


@pytest.mark.slow
@pytest.mark.parametrize("name, figures", [("edf_comparison.ipynb", 3), ("width_rule.ipynb", 2)])
def test_notebook_executes(name, figures, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the demo sweeps go to a temporary folder
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    cap_demo_models(nb, TEST_MODELS)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # outside the clone
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    pngs = sum("image/png" in o.get("data", {}) for o in outputs)
    assert pngs >= figures
    assert not list(tmp_path.glob("designspace_demo_*"))  # the demo sweeps are gone with the kernel
