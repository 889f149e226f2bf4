"""The report of a Flee-folder run carries Flee's validation: metrics, figure, tables."""

from __future__ import annotations

import re
from pathlib import Path

from onward.flee.summary import store_flee_run, timed_run
from onward.report import report

TINY = Path(__file__).parent / "data" / "flee" / "tiny"


def test_flee_run_report_has_validation_sections(tmp_path):
    store = tmp_path / "s.duckdb"
    payload, run, wall = timed_run(TINY, 40, 3)
    run_id = store_flee_run(run, payload, store, wall)
    html = report(run_id, store, tmp_path / "r.html").read_text()
    titles = re.findall(r"<h2[^>]*>(.*?)</h2>", html)
    assert titles[:2] == ["Validation against the UNHCR camp series", "Camps over time"]
    assert html.count("data:image/png;base64,") == 1
    assert not re.search(r'(src|href)="https?://', html)
    # the metrics shown are the run's own
    assert f"{payload['ard']:.4g}" in html and f"{payload['ard_rescaled']:.4g}" in html
    for camp, r in payload["per_camp"].items():
        assert re.search(rf"<td>{re.escape(camp)}</td><td>{r['sim_final']:,}</td>"
                         rf"<td>{r['obs_final']:,}</td>", html), camp
