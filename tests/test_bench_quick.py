"""The benchmark harness in quick mode: Flee, Mesa and onward agree with the exact chain.

Runs ``python benchmarks/run.py --quick --json`` (10k agents x 100 steps), which builds
the Flee/Mesa virtualenv on first use (PyPI must be reachable). Checks the JSON, never the
timings: speed targets are the benchmark's own PASS/FAIL lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"framework", "agents", "steps", "cores", "agent_steps_per_s", "bytes_per_agent",
          "max_share_error", "extrapolated"}


@pytest.mark.slow
def test_quick_benchmark_json():
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                        "--json"], capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads(r.stdout)  # stdout holds the JSON object and nothing else
    assert set(rep) >= {"results", "ratios"}
    frameworks = {row["framework"] for row in rep["results"]}
    assert frameworks >= {"flee", "mesa", "onward", "onward-numpy"}
    for row in rep["results"]:
        assert FIELDS <= set(row), row
        assert "error" not in row, row
        assert row["agents"] == 10_000 and row["steps"] == 100
        assert row["max_share_error"] < 0.01, row
        assert row["agent_steps_per_s"] > 0
        # 10k int32 locations are 40 KB: the allocator may serve them from pages the
        # process already holds, so a zero peak increase is a true measurement here
        assert row["bytes_per_agent"] >= 0
        assert row["extrapolated"] is False
    assert {row["cores"] for row in rep["results"] if row["framework"] == "onward"} == {1, 2}
    assert rep["ratios"]["onward_vs_flee_10000"] > 0
    assert rep["verdicts"]["share_errors_below_0.01"]
    assert len(rep["load_start"]) == 3
