"""HTML reports: self-contained (figures embedded, nothing external), with provenance."""

from __future__ import annotations

import base64
import json
import re

import pandas as pd
import pytest
from cli_helper import cli

import onward
from onward.report import Section, build_html, report, write_run_report
from onward.report.html import figure, paragraph, table
from onward.report.run import regenerate_network
from onward.scenario import load_scenario, scenario_hash

EXTERNAL = re.compile(r"""(?:src|href|action|data)\s*=\s*["']?\s*(?:https?:)?//"""
                      r"""|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)
IMG = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    store = tmp / "s.duckdb"
    run_id, res = onward.run("toy", seed=3, store=store)
    return tmp, store, run_id, res


def check_self_contained(html: str, n_images: int) -> None:
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    images = IMG.findall(html)
    assert len(images) == n_images
    for data in images:
        assert base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n"


def test_sections_render_in_order_and_escape():
    import matplotlib.pyplot as plt
    import pandas as pd

    fig, ax = plt.subplots()
    ax.plot([1, 2], [3, 4])
    html = build_html("T <1>", [
        Section("First", paragraph("a <script>x</script> b")),
        Section("Second one", figure(fig, "cap")),
        Section("Third", table(pd.DataFrame({"a": [1.5, None], "b": ["x", "y"]}))),
    ])
    assert html.index('id="first"') < html.index('id="second-one"') < html.index('id="third"')
    assert '<a href="#second-one">' in html
    assert "<script>" not in html and "&lt;script&gt;" in html and "T &lt;1&gt;" in html
    check_self_contained(html, 1)


def test_run_report_is_self_contained_with_provenance(toy_run):
    tmp, store, run_id, res = toy_run
    path = write_run_report(run_id, store, tmp / "r.html", result=res)
    html = path.read_text()
    # toy has no UK: applications, stocks, profile, brokers, routes, network
    check_self_contained(html, 6)
    sc = load_scenario("toy")
    assert scenario_hash(sc) in html
    assert f"<tr><th>seed</th><td>{res.compiled.seed}</td></tr>" in html
    assert run_id in html and "numpy" in html and "name: toy" in html
    assert "PROVENANCE" in html or "Provenance" in html
    for title in ("Stocks by state", "Who moves on", "Brokers", "Routes", "Social network",
                  "Scenario", "Run provenance", "Data provenance"):
        assert f">{title}" in html, title


def test_report_from_the_store_rebuilds_the_network(toy_run):
    """`onward report RUN` drew another sample of the network than the run's own report,
    without who moved on; it now reruns the run (same scenario, seed and parameters) and
    draws the same figure."""
    tmp, store, run_id, res = toy_run

    adj, broker, moved = regenerate_network(load_scenario("toy"), res.compiled.seed)
    assert (adj != res.network).nnz == 0
    assert (broker == res.agents.broker).all() and (moved == (res.agents.moves > 0)).all()
    html = report(run_id, store, tmp / "from_store.html").read_text()
    check_self_contained(html, 6)
    own = write_run_report(run_id, store, tmp / "own.html", result=res).read_text()

    def network_image(page: str) -> str:
        return IMG.findall(page[page.index('id="network"'):])[0]

    assert network_image(html) == network_image(own)
    assert "blue: households that moved on" in html


def test_experiment_report(toy_run):
    from onward.experiments.ensemble import ensemble

    tmp, store, _, _ = toy_run
    ens = ensemble("toy", n=2, seed=5, store=store, workers=1)
    path = report(ens.experiment_id, store, tmp / "ens.html")
    html = path.read_text()
    check_self_contained(html, 1)
    assert ens.experiment_id in html and "Job seeds" in html
    # a job's run id reports its whole experiment
    from onward.store import Store

    job = Store(store).list_runs().query("kind == 'ensemble-job'").run_id.iloc[0]
    assert ens.experiment_id in report(job, store, tmp / "job.html").read_text()


def test_compare_report_shows_every_scenario_and_an_interrupted_one_says_so(tmp_path):
    """A compare's report showed the baseline's YAML only (the alternative, the policy
    being judged, only as a hash); an interrupted experiment's report read as finished."""
    import pytest

    from onward.experiments.ensemble import compare, ensemble
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    base = load_text("extends: toy\nname: toy-short\n", "base.yaml")
    alt = load_text("extends: toy\nname: toy-nochecks\nevents:\n"
                    "  - {id: crp-checks-2010, remove: true}\n", "alt.yaml")
    res = compare(base, [alt], n=2, workers=1, store=store)
    html = report(res.experiment_id, store, tmp_path / "cmp.html").read_text()
    assert "show the scenario YAML of toy-short" in html
    assert "show the scenario YAML of toy-nochecks" in html
    assert "the effects below are over 2000-2020" in html
    # a compare of some destinations draws their panels only (it drew all of them)
    from onward import viz

    drawn = []
    real = viz.compare_scenarios

    def spy(values, output, **kw):
        drawn.append(kw.get("destinations"))
        return real(values, output, **kw)

    one = compare(base, [alt], n=2, workers=1, store=store, destinations=["CRP"])
    import onward.report.experiment as exp_mod

    exp_mod.viz.compare_scenarios = spy
    try:
        report(one.experiment_id, store, tmp_path / "one.html")
    finally:
        exp_mod.viz.compare_scenarios = real
    assert drawn == [["CRP"]]

    def stop(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensemble(alt, n=3, workers=1, store=store, progress=stop)
    runs = onward.store.Store(store).list_runs()
    job = runs[runs.kind == "ensemble-job"].run_id.iloc[0]
    html = report(job, store, tmp_path / "part.html").read_text()
    assert "1 of 3: INCOMPLETE (interrupted)" in html


def test_a_comparison_stopped_before_its_effects_still_has_a_report(tmp_path):
    """The first comparison in a store, stopped after its jobs but before its effects were
    stored, made `onward report` fail with DuckDB's "Catalog Error: Table with name
    compare_effects does not exist!"; the other kinds say that nothing is stored yet. Its
    report now draws the scenarios from the stored jobs and says the effects are missing."""
    from cli_helper import SHORT

    from onward.experiments.ensemble import compare
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    base = load_text(SHORT, "base.yaml")
    alt = load_text(SHORT.replace("events:\n", "events:\n  - {id: crp-checks-2003, date: "
                                  "2003-01, op: scale, value: 0.5,\n     target: "
                                  "destinations.CRP.recognition_rate}\n")
                    + "name: toy-checks\n", "alt.yaml")

    def stop(done: int, total: int) -> None:
        if done == total:  # every job stored, the effects not yet
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(base, [alt], n=2, workers=1, store=store, progress=stop)
    runs = onward.store.Store(store).list_runs()
    assert set(runs.kind) == {"compare-job"}
    exp = json.loads(runs.extra.iloc[0])["experiment_id"]
    html = report(exp, store, tmp_path / "cmp.html").read_text()
    assert "No effects are stored for this experiment yet (interrupted?)" in html
    assert "applications: each scenario&#x27;s median and 90% band over paired replicates " \
           "(common random numbers)." in html


def test_compare_report_names_the_scenario_of_each_effect(tmp_path):
    """The compare report's effects table had a column "alternative" that held the
    alternative's median (the scenario's name was overwritten): with two alternatives one
    could not tell their rows apart. Each alternative now has its own table, titled
    'ALT vs BASELINE', and the summary names the baseline."""
    import re

    from onward.experiments.ensemble import compare
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    base = load_text("extends: toy\nname: toy-base\n", "base.yaml")
    alts = [load_text("extends: toy\nname: toy-nochecks\nevents:\n"
                      "  - {id: crp-checks-2010, remove: true}\n", "a.yaml"),
            load_text("extends: toy\nname: toy-shut\nevents:\n  - {date: 2005, target: "
                      "destinations.CRP.open, value: 0, label: shut, source: test}\n",
                      "b.yaml")]
    res = compare(base, alts, n=2, workers=1, store=store,
                  outputs=["applications", "departures"])
    html = report(res.experiment_id, store, tmp_path / "cmp.html").read_text()
    # abroad counts every destination together: a comparison asked for CRP alone drew an
    # "ALL" panel beside it
    crp = compare(base, alts[:1], n=1, workers=1, store=store,
                  outputs=["applications", "abroad"], destinations=["CRP"])
    crp_html = report(crp.experiment_id, store, tmp_path / "crp.html").read_text()
    assert "abroad: not drawn; it counts every destination together" in crp_html
    assert "abroad: each scenario's median" not in crp_html
    text = re.sub(r"<[^>]+>", " ", html)
    assert re.search(r"baseline\s+toy-base", text), "the summary names the baseline"
    for alt in ("toy-nochecks", "toy-shut"):
        assert f"{alt} vs toy-base: effects" in text, alt
        caption = text.index(f"{alt} vs toy-base: effects")
        rows = res.effects[(res.effects.alternative == alt)
                           & (res.effects.output == "applications")
                           & (res.effects.destination == "CRP")]
        median = f"{rows.alternative_median.item():.0f}"
        # the alternative's median is in its own table (after its caption)
        following = text[caption:caption + 3000]
        assert re.search(rf"\b{median}\b", following), (alt, median)
    # no table has a column of names under "alternative" that holds numbers instead
    assert "toy-nochecks  applications" not in text
    # what each alternative changes, in words (it offered each scenario's whole YAML only)
    words = " ".join(text.split())
    assert "toy-nochecks changes against toy-base" in words
    assert "event crp-checks-2010 removed" in words
    assert re.search(r"toy-shut changes against toy-base: event #\d+ added \(2005: "
                     r"destinations\.CRP\.open = 0\)", words), words[:2000]


def test_cli_run_writes_a_report_and_report_command(tmp_path):
    proc = cli("run", "toy", "--json", cwd=tmp_path)
    payload = json.loads(proc.stdout)  # stdout stays pure JSON; the path is in it
    assert payload["run_id"] == "run-0001" and payload["report"] == "reports/run-0001.html"
    check_self_contained((tmp_path / "reports" / "run-0001.html").read_text(), 6)
    from typer.testing import CliRunner

    from onward.interfaces.cli import app

    out = tmp_path / "out" / "r1.html"
    got = CliRunner().invoke(app, ["report", "latest", "--out", str(out), "--store",
                                   str(tmp_path / "onward.duckdb")])
    assert got.exit_code == 0, got.output
    assert "r1.html" in got.output and out.exists()


def test_other_kinds_of_run_add_their_sections(tmp_path):
    import pandas as pd

    from onward.report import register_sections
    from onward.report.run import SECTION_BUILDERS, run_provenance
    from onward.store import Store

    def flee_sections(tables, meta, scenario, network):
        return [Section("Validation", table(tables["validation"])),
                Section("Run provenance", run_provenance(meta))]

    st = Store(tmp_path / "s.duckdb")
    rid = st.write_run({"kind": "flee-test", "scenario": "camps", "seed": 11,
                        "scenario_hash": "abc123"},
                       {"validation": pd.DataFrame({"camp": ["A"], "error": [0.25]})})
    register_sections("flee-test", flee_sections)
    try:
        html = report(rid, st, tmp_path / "f.html").read_text()
    finally:
        SECTION_BUILDERS.pop("flee-test")
    assert ">Validation</h2>" in html and "<td>0.25</td>" in html and "abc123" in html
    check_self_contained(html, 0)


def test_a_scenario_with_its_own_counts_draws_them(toy_run):
    """Figures drew no observed point after 2015 (the packaged data's last year), so a case
    with its own counts (toy's run to 2020) showed them only in tables, under a legend that
    named UNHCR."""
    from onward import viz

    tmp, store, run_id, res = toy_run
    sc = load_scenario("toy")
    assert viz.last_observed_year(sc) == 2020 and viz.observed_label(sc).startswith("synthetic")
    assert viz.last_observed_year(load_scenario("nk-onward")) == 2015
    fig = viz.applications_by_destination(res.applications, viz.observed_claims(sc),
                                          last_observed=viz.last_observed_year(sc))
    years = [x for ax in fig.axes for line in ax.get_lines() if line.get_gid() == "observed"
             for x in line.get_xdata()]
    assert max(years) == 2020
    html = report(run_id, store, tmp / "own.html").read_text()
    assert "observed first claims (synthetic" in html and "UK applications" not in html
    # its data provenance starts with its own counts' source; no citation of another case
    prov = html[html.index('id="data-provenance"'):]
    assert "This scenario brings its own observed counts" in prov and "synthetic" in prov
    assert "the selection effect." in html and "selection effect (for North Koreans" not in html


def test_a_runs_changed_parameters_are_said_in_the_summary_and_tabulated():
    """A run with a posterior's parameters read like a plain run: the Summary did not say
    so, and the 16 values were one line of raw JSON (0.6671146077283002); seconds and
    times were unrounded (1.8726710969999658, 11:36:21.219246)."""
    from onward.report.run import run_provenance, run_sections

    sc = load_scenario("toy")
    meta = {"run_id": "run-0009", "scenario": "toy", "seed": 1, "scenario_hash": "ab",
            "posterior": "fit1", "engine_seconds": 1.8726710969999658,
            "created_at": "2026-11-27 11:36:21.219246",
            "overrides": {"destinations.CRP.detection": 0.6671146077283002,
                          "parameters.aspiration.intercept": -7.123456}}
    summary = run_sections({}, meta, sc)[0]
    assert summary.title == "Summary"
    assert re.search(r"the mean of calibration (&#x27;|')fit1(&#x27;|') \(2 values",
                     summary.body), summary.body
    prov = run_provenance(meta)
    assert "<td>destinations.CRP.detection</td><td>0.6671</td>" in prov
    assert "-7.123" in prov and "0.6671146077283002" not in prov
    assert "1.87<" in prov and "11:36:21<" in prov and ".219246" not in prov


def test_claim_totals_set_like_against_like():
    """The totals summed simulated claims over every year but observed ones over the years
    with a data row: BEL's held-out ratio read 10.34 (393 simulated in 2013-15 against 38
    observed in 2013 alone) where like against like gives 1.95. Both now sum the same
    cells; a masked count makes the observed total and the ratio a range."""
    from onward.analysis.runs import claim_totals
    from onward.report.run import totals

    nan = float("nan")
    summary = pd.DataFrame({
        "year": [2013, 2014, 2015, 2013, 2014, 2015],
        "destination": ["BEL"] * 3 + ["USA"] * 3,
        "simulated": [74, 160, 159, 10, 20, 20],
        "observed": [38, nan, nan, 5, 3, nan],
        "lower": [38, nan, nan, 1, 3, nan],
    })
    t = claim_totals(summary, [2013, 2014, 2015]).set_index("destination")
    assert t.loc["BEL", "simulated"] == 74 and t.loc["BEL", "observed"] == 38
    assert t.loc["BEL", "ratio"] == pytest.approx(74 / 38)
    assert t.loc["BEL", "simulated_all_years"] == 393
    assert t.loc["USA", "simulated"] == 30 and t.loc["USA", "observed_lower"] == 4
    assert t.loc["USA", "ratio"] == pytest.approx(30 / 8)
    assert t.loc["USA", "ratio_lower_observed"] == pytest.approx(30 / 4)
    # the report's table, from a run's applications and the observed cells
    apps = summary.rename(columns={"simulated": "persons"})[["year", "destination",
                                                             "persons"]]
    obs = summary.dropna(subset=["observed"])[["year", "destination", "observed", "lower"]]
    shown = totals(apps, obs, [2013, 2014, 2015]).set_index("destination")
    assert shown.loc["BEL", "ratio"] == "1.95"
    assert shown.loc["USA", "observed"] == "4-8" and shown.loc["USA", "ratio"] == "3.75-7.50"
    assert shown.loc["BEL", "simulated (every year)"] == 393
    # a scenario's own masked count [1, 5] has the point value 3: its total is 1-5, not 1-3
    from onward.analysis.runs import claim_total_text

    own = pd.DataFrame({"year": [2013], "destination": ["DEU"], "simulated": [4],
                        "observed": [3.0], "lower": [1.0], "upper": [5.0]})
    row = claim_totals(own, [2013]).iloc[0]
    assert claim_total_text(row) == ("1-5", "0.80-4.00")


def test_the_reports_tables_show_a_cell_of_mixed_rows_as_its_interval():
    """A UNHCR cell whose only row mixes new claims with appeals is [0, 5] with point
    value 0 (Germany 2006): the yearly table read "/ 0" and the totals left its 5 out,
    where `onward run` counts it. Both now show the interval; a masked 5 still reads 5."""
    from onward.report.run import totals, yearly_wide

    apps = pd.DataFrame({"year": [2006, 2006, 2007], "destination": ["DEU", "AUS", "DEU"],
                         "persons": [3, 4, 2]})
    obs = pd.DataFrame({"year": [2006, 2006, 2007], "destination": ["DEU", "AUS", "DEU"],
                        "observed": [0, 5, 10], "lower": [0, 1, 10],
                        "upper": [5, 5, 10], "masked": [True, True, False]})
    wide = yearly_wide(apps, obs).set_index("year")
    assert wide.loc[2006, "DEU"] == "3 / 0-5" and wide.loc[2006, "AUS"] == "4 / 5"
    assert wide.loc[2007, "DEU"] == "2 / 10"
    shown = totals(apps, obs, [2006, 2007]).set_index("destination")
    assert shown.loc["DEU", "observed"] == "10-15" and shown.loc["AUS", "observed"] == "1-5"


def test_the_article_figure_is_drawn_for_the_packaged_population_only(tmp_path):
    """A new case with a GBR destination (inline inflow, no counts of its own) got a
    figure titled "North Koreans' asylum applications in the UK, 2000-2015 and after" in
    its report. The article's figure belongs to scenarios of the packaged population."""
    from onward import viz

    nk = load_scenario("nk-onward")
    inline = nk.population.inflow.model_copy(update={"source": "inline"})
    other = nk.model_copy(update={"population": nk.population.model_copy(
        update={"inflow": inline})})
    assert viz.has_article_figure(nk)
    assert not viz.has_article_figure(other)
    assert not viz.has_article_figure(load_scenario("toy"))  # no GBR


def test_the_table_of_first_claims_marks_the_held_out_years(toy_run):
    """The report's 'Table: first claims by year' did not mark the held-out years, where
    `onward run` marks them with *."""
    tmp, store, run_id, res = toy_run
    html = write_run_report(run_id, store, tmp / "held.html", result=res).read_text()
    part = html[html.index('id="table-applications"'):]
    part = part[:part.index("</table>")]
    assert "* held-out year (never used for fitting)" in part
    # toy: calibration 2000-2014, held out 2015-2020
    assert "<td>2014</td>" in part and "<td>2015*</td>" in part and "<td>2020*</td>" in part


def test_a_report_names_commands_as_the_interface_that_made_it(toy_run):
    """A report written from Python told its reader to run `onward ensemble` and named
    `onward compare --output broker_share`; it names the Python calls there, and the
    commands when the command line writes it."""
    from onward.options import command_line

    tmp, store, run_id, res = toy_run
    py = write_run_report(run_id, store, tmp / "py.html", result=res).read_text()
    assert "onward.ensemble(SCENARIO)" in py and "`onward ensemble" not in py
    assert "onward.compare(BASE, [ALT], outputs=&#x27;broker_share&#x27;)" in py
    with command_line():
        cli = write_run_report(run_id, store, tmp / "cli.html", result=res).read_text()
    assert "`onward ensemble SCENARIO`" in cli and "onward.ensemble(" not in cli
    assert "`onward compare BASE ALT --output broker_share`" in cli


def test_a_report_into_an_existing_folder_is_named_by_its_id(tmp_path):
    """report(run_id, out='figs') with figs an existing folder raised IsADirectoryError."""
    import onward
    from onward.report import report

    db = tmp_path / "s.duckdb"
    run_id, _ = onward.run("toy", seed=1, store=db)
    figs = tmp_path / "figs"
    figs.mkdir()
    assert report(run_id, db, figs) == figs / f"s-{run_id}.html"
    assert (figs / f"s-{run_id}.html").read_text().startswith("<!")
    ens = onward.ensemble("toy", n=1, workers=1, store=db)
    assert report(ens.experiment_id, db, str(figs)) == figs / f"s-{ens.experiment_id}.html"


def test_an_experiments_table_reads_a_missing_table_as_empty_and_a_busy_store_as_busy(
        tmp_path):
    """The report's and the dashboard's readers: a table nothing has stored yet is no rows
    (the experiment is then said to be missing them); a store another process holds is
    not (it read as "no indices are stored", where the fix is to wait for that process)."""
    import subprocess
    import sys

    from onward.report.experiment import experiment_table
    from onward.store import Store, StoreBusyError

    path = tmp_path / "s.duckdb"
    Store(path).write_run({"kind": "run"}, {"t": pd.DataFrame({"x": [1]})})
    assert experiment_table(Store(path), "sensitivity_indices", "sensitivity-abc").empty
    hold = ("import sys, time, duckdb\ncon = duckdb.connect(sys.argv[1])\n"
            "print('locked', flush=True)\ntime.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", hold, str(path)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError):
            experiment_table(Store(path, timeout=0.3), "sensitivity_indices",
                             "sensitivity-abc")
        # an experiment's summary is not stored a second time beside the first (the busy
        # store read as "none stored yet", so the old summary was never replaced)
        from onward.experiments.ensemble import _store_summary

        with pytest.raises(StoreBusyError):
            _store_summary(Store(path, timeout=0.3), "ensemble", "ensemble-abc",
                           "ensemble_bands", pd.DataFrame({"year": [2000]}), {})
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


def test_a_calibration_generations_run_id_is_not_reported_as_an_empty_run(tmp_path):
    """`onward report run-0001` (or `latest`) where that run is a calibration's generation
    wrote a "run" report with a summary and provenance and nothing else; the calibration's
    name was told where its figures come from. Its generation's id is told the same."""
    from test_arguments import fake_calibration

    from onward.store import UnknownRunError

    db = tmp_path / "s.duckdb"
    fake_calibration(db, name="fit")
    for target in ("run-0001", "latest", 1):
        with pytest.raises(UnknownRunError, match="'run-0001' is a generation of calibration "
                           "'fit', not a run: its figures come with "):
            report(target, db, out=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_an_experiment_with_a_posterior_holds_out_only_the_years_it_did_not_fit(tmp_path):
    """After `calibrate toy --calibration-years 2000-2016` (which fits 2015-2016), the report
    of `ensemble toy --posterior cy` shaded 2015-2020 as held out, "not fitted", from the
    toy's own split; `run --posterior cy` already took the calibration's. The experiment
    takes it too: 2017-2020 are held out."""
    from onward.report.experiment import read_experiment

    store = tmp_path / "s.duckdb"
    cli("calibrate", "toy", "--name", "cy", "--budget", "8", "--population", "4",
        "--calibration-years", "2000-2016", "--workers", "1", "-q", "--store", str(store),
        cwd=tmp_path)
    res = onward.ensemble("toy", n=2, posterior="cy", workers=1, store=store)
    assert read_experiment(res.experiment_id, store).held_out == [2017, 2018, 2019, 2020]
    plain = onward.ensemble("toy", n=2, workers=1, store=store)
    assert read_experiment(plain.experiment_id, store).held_out == list(range(2015, 2021))
