"""Every lab notebook runs top to bottom against the reference solutions (quick profile)."""

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "labs").glob("[0-9][0-9]_*.ipynb"))
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def _read(path):
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_clean_and_opens_with_badge_and_setup(path):
    nb = _read(path)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, f"{path.name} is stored with outputs: clear them"
            assert cell.execution_count is None, f"{path.name} has execution counts"
    assert COLAB_BADGE in nb.cells[0].source, f"{path.name}: first cell needs the Colab badge"
    assert f"labs/{path.name}" in nb.cells[0].source, f"{path.name}: badge links elsewhere"
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert "google.colab" in setup.source, f"{path.name}: first code cell must set up Colab"
    assert "pip install" in setup.source and "tensorflow" not in setup.source.lower(), (
        f"{path.name}: the Colab setup must not reinstall TensorFlow")


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_top_to_bottom_against_solutions(path, tmp_path):
    nb = _read(path)
    env = {**os.environ, "SEQLAB_IMPL": "solutions", "SEQLAB_PROFILE": "quick"}
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    old = dict(os.environ)
    os.environ.update(env)  # the kernel inherits the test process environment
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    print(f"{path.name}: {time.perf_counter() - start:.0f} s")
