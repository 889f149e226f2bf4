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
    # the reader's warnings are in the report (they were on the terminal only)
    assert "Warnings from reading the folder" in titles
    assert payload["warnings"] and all(w.split(": ")[0] in html for w in payload["warnings"])
    # the metrics shown are the run's own
    assert f"{payload['ard']:.4g}" in html and f"{payload['ard_rescaled']:.4g}" in html
    for camp, r in payload["per_camp"].items():
        assert re.search(rf"<td>{re.escape(camp)}</td><td>{r['sim_final']:,}</td>"
                         rf"<td>{r['obs_final']:,}</td>", html), camp


def test_flee_report_and_summary_say_what_an_agent_is_and_show_every_error(tmp_path):
    """The terminal showed the rescaled per-camp error and the report did not; neither said
    that with hasten: 10 an agent stands for 10 persons; total_error_mean was only in JSON."""
    from cli_helper import cli

    mali = TINY.parent / "mali2012"
    store = tmp_path / "s.duckdb"
    payload, run, wall = timed_run(mali, 20, 1)
    run_id = store_flee_run(run, payload, store, wall)
    html = report(run_id, store, tmp_path / "r.html").read_text()
    assert "mean |sim - obs| rescaled" in html
    assert re.search(r"persons per agent[^<]*</th><td>10<", html)
    assert f"{payload['total_error_mean']:.4g}" in html
    proc = cli("run", str(mali), "--days", "20", "--no-report", "--store", str(store),
               cwd=tmp_path)
    assert "agents of 10 persons each (hasten)" in proc.stdout
    assert f"total error {payload['total_error_mean']:.3f}" in proc.stdout
