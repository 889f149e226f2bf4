"""docs/tutorial.ipynb runs top to bottom with the installed onward (so it never goes stale)."""

from __future__ import annotations

from pathlib import Path

import nbclient  # in the test extra: pip install ".[test]"
import nbformat

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "tutorial.ipynb"


def test_tutorial_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the tutorial has no code"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), \
        "commit docs/tutorial.ipynb without outputs (Kernel > Restart & Clear Output)"
    # nbformat 4.5 cells carry ids (a missing one warns now, and is to become an error)
    import json

    cells = json.loads(NOTEBOOK.read_text())["cells"]
    assert all(c.get("id") for c in cells) and len({c["id"] for c in cells}) == len(cells)


def test_tutorial_executes(tmp_path):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=240, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError with the failing cell on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 6  # article figure, profile, brokers, routes, comparison, bands
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "observed UK first claims 2000-2015: 1328" in text
    assert "figures embedded" in text
    assert not list(tmp_path.glob("*.duckdb"))  # the notebook writes only to its temp folder
    # ... and its last cell removes that folder (runs left 4.4 MB each in /tmp)
    work = next(line.split()[2] for line in text.splitlines() if line.startswith("working in"))
    assert f"removed {work} - exists: False" in text and not Path(work).exists()
