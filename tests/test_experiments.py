"""Experiments: determinism across workers, resume, CLI JSON, CRN, sensitivity, destinations,
and a real (loopback) Dask cluster. Small sizes on a shortened toy scenario."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helper import SHORT, cli

import onward
from onward.api import simulate
from onward.engine.recorder import DEST_PROFILE_ATTRS
from onward.experiments.destinations import WHO, destinations, plot_destinations
from onward.experiments.ensemble import compare, ensemble
from onward.experiments.runner import Job
from onward.experiments.sensitivity import MECHANISMS, mechanism_of, sensitivity, years_label
from onward.scenario import load_scenario, load_text
from onward.scenario.parameters import DESTINATION_PARAMETERS, GLOBAL_PARAMETERS
from onward.store import Store

# one more free parameter, so that the 'capability' group appears in the sensitivity tests
SA = SHORT + (
    "destinations:\n"
    "  CRP:\n"
    "    travel_cost: {value: 4, prior: [1, 10], free: true, source: test}\n"
)


@pytest.fixture(scope="module")
def short():
    return load_text(SHORT, "short.yaml")


def _runs(store: Path, kind: str) -> int:
    runs = Store(store).list_runs()
    return int((runs.kind == kind).sum()) if len(runs) else 0


# --- ensemble: workers, resume ---------------------------------------------------------------


def test_ensemble_same_for_any_workers_and_after_resume(short, tmp_path):
    one = ensemble(short, n=4, seed=5, workers=1, store=tmp_path / "one.duckdb")
    two = ensemble(short, n=4, seed=5, workers=2, store=tmp_path / "two.duckdb")
    pd.testing.assert_frame_equal(one.values, two.values)
    pd.testing.assert_frame_equal(one.bands, two.bands)
    assert one.experiment_id == two.experiment_id
    assert one.values.replicate.nunique() == 4

    # interrupt after two jobs are stored, as Ctrl-C would
    store = tmp_path / "resume.duckdb"

    def stop(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ensemble(short, n=4, seed=5, workers=2, store=store, progress=stop)
    assert _runs(store, "ensemble-job") == 2
    seen: list[tuple[int, int]] = []
    again = ensemble(short, n=4, seed=5, workers=2, store=store,
                     progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (2, 4), "the two stored jobs are not run again"
    assert _runs(store, "ensemble-job") == 4
    pd.testing.assert_frame_equal(again.values, one.values)
    pd.testing.assert_frame_equal(again.bands, one.bands)
    # a third call finds everything done and runs nothing
    ensemble(short, n=4, seed=5, workers=2, store=store)
    assert _runs(store, "ensemble-job") == 4
    assert _runs(store, "ensemble") == 1


def test_until_extends_beyond_the_horizon(short, tmp_path):
    res = ensemble(short, n=2, seed=1, workers=1, until=2008, store=tmp_path / "s.duckdb")
    years = set(res.bands.year)
    assert {2007, 2008} <= years and max(years) == 2008


# --- the CLI --------------------------------------------------------------------------------


def test_ensemble_json_is_deterministic_and_only_json(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    outs = []
    for sub, workers in (("a", "1"), ("b", "2")):
        (tmp_path / sub / "short.yaml").write_text(SHORT)
        proc = cli("ensemble", "short.yaml", "-n", "3", "--seed", "2", "--workers", workers,
                   "--json", cwd=tmp_path / sub)
        outs.append(proc.stdout)
        # the id `onward report` takes, on stderr (stdout is the JSON only)
        assert re.search(r"experiment ensemble-[0-9a-f]+ stored \(onward report ", proc.stderr)
    assert outs[0] == outs[1]
    payload = json.loads(outs[0])  # the whole of stdout is one JSON document
    assert set(payload) == {"applications"}
    rows = payload["applications"]
    assert rows and all(set(r) == {"year", "destination", "median", "q05", "q25", "q75",
                                   "q95"} for r in rows)
    assert {r["destination"] for r in rows} == {"CRP", "DLT", "ELB"}
    assert {r["year"] for r in rows} == set(range(2000, 2007))


def test_sensitivity_json_cli(tmp_path):
    (tmp_path / "sa.yaml").write_text(SA)
    proc = cli("sensitivity", "sa.yaml", "--method", "morris", "-n", "2", "--destination",
               "CRP", "--workers", "2", "--json", cwd=tmp_path)
    payload = json.loads(proc.stdout)
    assert set(payload) == {"method", "output", "destination", "years", "indices", "answer"}
    assert re.search(r"experiment sensitivity-[0-9a-f]+ stored", proc.stderr)
    assert payload["method"] == "morris" and payload["destination"] == "CRP"
    assert payload["years"] == list(range(2000, 2005))
    assert {r["group"] for r in payload["indices"]} == {"push", "pull", "information",
                                                        "policy", "capability", "other"}
    assert all(set(r) == {"group", "mu_star", "mu_star_conf", "sigma", "mu_star_low",
                          "mu_star_high"} for r in payload["indices"])
    assert all(0 <= r["mu_star_low"] <= r["mu_star"] <= r["mu_star_high"]
               for r in payload["indices"])
    assert payload["answer"] in {"push", "pull", "information", "policy"}
    stored = Store(tmp_path / "onward.duckdb").query(
        'select method, "group", "index", value from sensitivity_indices')
    assert set(stored["index"]) == {"mu_star", "sigma"} and len(stored) == 12


# --- compare: common random numbers ---------------------------------------------------------


def test_compare_identical_alternative_has_zero_effect(short, tmp_path):
    alt = load_text(SHORT + "name: toy-same\n", "same.yaml")
    res = compare(short, [alt], n=3, seed=4, workers=2, store=tmp_path / "s.duckdb")
    v = res.values.set_index(["label", "replicate", "output", "year", "destination"]).value
    base, other = v.loc[short.name], v.loc["toy-same"]
    assert len(base) and base.index.equals(other.index)
    assert (other - base).abs().max() == 0
    assert (res.effects.diff_median == 0).all()
    assert (res.effects.diff_q05 == 0).all() and (res.effects.diff_q95 == 0).all()
    assert (res.yearly["median"] == 0).all()


@pytest.mark.parametrize("alt_text, kwargs, message", [
    ("end: 2005-12", {}, "runs 2000-01..2005-12 but"),
    ("end: 2006-12", {"years": [1990, 1991]}, "outside the horizon 2000-2006"),
    ("end: 2006-12", {"destinations": ["XYZ"]}, "XYZ is not a destination"),
])
def test_compare_refuses_what_would_mislead_before_running(short, tmp_path, alt_text,
                                                             kwargs, message):
    """Scenarios with different horizons (their totals were set against each other),
    years outside the horizon (a KeyError traceback) and an unknown destination (nothing
    printed) are refused before any run, naming the fix."""
    text = SHORT.replace("end: 2006-12", alt_text) + "name: toy-other\n"
    alt = load_text(text, "other.yaml")
    db = tmp_path / "s.duckdb"
    with pytest.raises(ValueError, match=message):
        compare(short, [alt], n=2, workers=1, store=db, **kwargs)
    assert _runs(db, "compare-job") == 0


def test_compare_counts_a_destination_only_the_alternative_has(short, tmp_path):
    """A destination the alternative adds is compared against 0 in the baseline (it used to
    vanish from the effects, leaving only the declines elsewhere)."""
    import yaml

    crp = yaml.safe_load(load_text(SHORT, "s.yaml").model_dump_json())["destinations"]["CRP"]
    alt = load_text(SHORT + "name: toy-fre\n" + yaml.safe_dump({
        "countries": {"FRE": {"name": "Freland", "role": "destination"}},
        "destinations": {"FRE": {**crp, "name": "Freland"}}}), "fre.yaml")
    res = compare(short, [alt], n=2, workers=1, store=tmp_path / "s.duckdb",
                  destinations=["FRE", "CRP"])
    eff = res.effects.set_index("destination")
    assert set(eff.index) == {"FRE", "CRP"}
    assert eff.loc["FRE", "baseline_median"] == 0 and eff.loc["FRE", "alternative_median"] > 0
    assert eff.loc["CRP", "diff_median"] < 0
    assert set(res.yearly.destination) == {"FRE", "CRP"}


def test_experiment_runs_record_versions_and_seconds(short, tmp_path):
    """Every run of an experiment records its package versions, as `onward run` does
    (they were NULL for jobs and summaries), and a job its engine and wall seconds."""
    db = tmp_path / "s.duckdb"
    ensemble(short, n=2, workers=2, store=db)
    runs = Store(db).list_runs()
    assert set(runs.kind) == {"ensemble-job", "ensemble"}
    assert runs.versions.map(lambda v: json.loads(v)["onward"] if isinstance(v, str)
                             else v["onward"]).notna().all()
    jobs = runs[runs.kind == "ensemble-job"]
    assert (jobs.engine_seconds > 0).all() and (jobs.wall_seconds >= jobs.engine_seconds).all()


def test_compare_over_other_years_replaces_its_stored_summary(short, tmp_path):
    """A second compare of the same runs over other years printed its effects and said
    "stored", but the store kept the first summary; it now holds the latest one first, and
    the first one's other period beside it (the runs are reused, not run again)."""
    alt = load_text(SHORT + "name: toy-same\n", "same.yaml")
    db = tmp_path / "s.duckdb"
    first = compare(short, [alt], n=2, workers=1, store=db, years=[2000, 2003])
    again = compare(short, [alt], n=2, workers=1, store=db, years=[2004, 2006],
                    destinations=["CRP"])
    assert first.experiment_id == again.experiment_id
    stored = Store(db).query("select * from compare_effects")
    assert list(dict.fromkeys(stored.period)) == ["2004,2006", "2000,2003"]
    assert set(stored[stored.period == "2004,2006"].destination) == {"CRP"}
    runs = Store(db).list_runs()
    assert (runs.kind == "compare-job").sum() == 4 and (runs.kind == "compare").sum() == 1


def test_outputs_combine_over_years_by_their_kind():
    """A compare or a sensitivity analysis summed every output over the years: a year-end
    stock (abroad) added up to a multiple of itself and yearly shares to a number above 1.
    Flows add up, stocks are read at the period's end, shares are averaged."""
    from onward.experiments.runner import OUTPUT_KIND, over_years

    assert OUTPUT_KIND["abroad"] == "stock" and OUTPUT_KIND["broker_share"] == "share"
    v = pd.DataFrame({"output": ["applications"] * 3 + ["abroad"] * 3 + ["broker_share"] * 3,
                      "year": [2000, 2001, 2002] * 3, "destination": "X",
                      "value": [10.0, 20.0, 30.0, 100.0, 150.0, 400.0, 0.2, np.nan, 0.6]})
    got = over_years(v, ["output", "destination"]).set_index("output").value
    assert got["applications"] == 60 and got["abroad"] == 400
    assert got["broker_share"] == pytest.approx(0.4)


def test_a_posterior_draw_sets_only_what_each_scenario_has():
    """With --posterior, a variant that removes a calibrated event (or lacks a calibrated
    destination) ran the baseline's jobs and then failed: "not an event lead". Each
    scenario now gets the draw's parameters it has; the rest are recorded as left out."""
    from onward.experiments.ensemble import for_scenario

    draw = {"events.gbr-designation-2010.lead_months": 6.0,
            "destinations.GBR.detection": 0.4, "parameters.decision.base_hazard": 0.05}
    flagship = load_text("extends: nk-onward\n", "nk.yaml")
    keep, left = for_scenario(draw, flagship)
    assert keep == draw and left == []
    variant = load_text("extends: nk-onward\nname: no-uk-checks\nevents:\n"
                        "  - {id: gbr-designation-2010, remove: true}\n", "v.yaml")
    keep, left = for_scenario(draw, variant)
    assert left == ["events.gbr-designation-2010.lead_months"]
    assert keep == {k: v for k, v in draw.items() if k not in left}
    keep, left = for_scenario(draw, load_text(SHORT, "short.yaml"))
    assert keep == {"parameters.decision.base_hazard": 0.05} and len(left) == 2


# --- sensitivity ----------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [1, 0, -2])
def test_morris_levels_below_two_are_refused(short, tmp_path, levels):
    """--levels 1 ended in SALib's ZeroDivisionError traceback; 0 and -2 in SALib
    messages that named no option."""
    with pytest.raises(ValueError, match=f"^levels={levels}: a Morris grid needs at least 2"):
        sensitivity(short, method="morris", n=2, levels=levels, workers=1,
                    store=tmp_path / "s.duckdb")


def test_mechanism_of_covers_every_parameter():
    for path in GLOBAL_PARAMETERS:
        assert mechanism_of(f"parameters.{path}") in MECHANISMS
        assert mechanism_of(f"parameters.{path}") == mechanism_of(path)
    for name in DESTINATION_PARAMETERS:
        assert mechanism_of(f"destinations.XYZ.{name}") in MECHANISMS
    assert mechanism_of("parameters.integration.glass_ceiling") == "push"
    assert mechanism_of("parameters.resettlement.support_months") == "push"
    assert mechanism_of("parameters.aspiration.w_frustration") == "push"
    assert mechanism_of("parameters.aspiration.w_recognition") == "pull"
    assert mechanism_of("destinations.GBR.welfare") == "pull"
    assert mechanism_of("parameters.network.diaspora_share") == "information"
    assert mechanism_of("parameters.brokers.contacts") == "information"
    assert mechanism_of("parameters.capability.information_decay") == "information"
    assert mechanism_of("destinations.GBR.recognition_rate") == "policy"
    assert mechanism_of("destinations.GBR.checks_prior_nationality") == "policy"
    assert mechanism_of("destinations.GBR.travel_cost") == "capability"
    assert mechanism_of("parameters.aspiration.intercept") == "other"
    assert mechanism_of("parameters.newgroup.newthing") == "other"


@pytest.mark.parametrize("method,n,cols", [
    ("sobol", 4, ["S1", "S1_conf", "ST", "ST_conf"]),
    ("morris", 3, ["mu_star", "mu_star_conf"]),
])
def test_sensitivity_groups_finite_and_worker_independent(tmp_path, method, n, cols):
    sc = load_text(SA, "sa.yaml")
    groups = {"push", "pull", "information", "policy", "capability", "other"}
    a = sensitivity(sc, method=method, n=n, seed=3, destination="CRP", workers=1,
                    store=tmp_path / "a.duckdb")
    b = sensitivity(sc, method=method, n=n, seed=3, destination="CRP", workers=2,
                    store=tmp_path / "b.duckdb")
    g = len(groups)
    assert len(a.y) == (n * (g + 2) if method == "sobol" else n * (g + 1))
    assert set(a.indices.group) == groups
    assert np.isfinite(a.indices[cols].to_numpy()).all(), a.indices
    assert np.ptp(a.y) > 0
    pd.testing.assert_frame_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.answer == b.answer and a.answer in {"push", "pull", "information", "policy"}
    assert a.answer in a.sentence
    key = "ST" if method == "sobol" else "mu_star"
    assert a.indices[key].is_monotonic_decreasing
    stored = Store(tmp_path / "a.duckdb").read_table("sensitivity_indices")
    assert list(stored.columns) == ["run_id", "experiment_id", "method", "output",
                                    "destination", "years", "group", "index", "value", "conf"]
    assert set(stored.years) == {years_label(a.years)}  # analyses of other periods apart
    assert set(stored.group) == groups
    # another destination reuses the experiment's simulations and adds its own indices
    jobs = len(a.y)
    c = sensitivity(sc, method=method, n=n, seed=3, destination="DLT", workers=1,
                    store=tmp_path / "a.duckdb")
    assert c.experiment_id == a.experiment_id
    assert _runs(tmp_path / "a.duckdb", "sensitivity-job") == jobs
    assert _runs(tmp_path / "a.duckdb", "sensitivity") == 2
    stored = Store(tmp_path / "a.duckdb").read_table("sensitivity_indices")
    assert set(stored.destination) == {"CRP", "DLT"}
    # the report shows each analysis's answer and indices (it showed none, and the spread
    # of the parameter design as if it were replicates' bands)
    import html as html_lib

    from onward.report import report

    page = html_lib.unescape(report(a.experiment_id, tmp_path / "a.duckdb",
                                    tmp_path / "s.html").read_text())
    assert "Which mechanism matters" in page and "ensemble median" not in page
    assert a.sentence.split(":")[0] in page and c.sentence.split(":")[0] in page
    assert f"{method} indices by mechanism" in page


# --- destinations ---------------------------------------------------------------------------


def test_destination_profile_matches_movers_profile(short):
    res = simulate(short, seed=9)
    t = res.tables()
    dp = t["destination_profile"]
    assert list(dp.columns) == ["destination", "attribute", "mean", "n"]
    assert set(dp.attribute) == set(DEST_PROFILE_ATTRS)
    assert list(dict.fromkeys(dp.destination)) == ["CRP", "DLT", "ELB"]
    movers = t["profile"].query("group == 'movers'").set_index("attribute")
    n = dp.drop_duplicates("destination").n.sum()
    assert n == movers.loc["skill", "n"] > 0
    for attr in ("skill", "children", "degree", "female"):
        d = dp[(dp.attribute == attr) & (dp.n > 0)]
        assert np.isclose((d["mean"] * d.n).sum() / n, movers.loc[attr, "mean"])
    share = dp[dp.attribute.isin(["via_broker", "concealed"])]["mean"].dropna()
    assert ((share >= 0) & (share <= 1)).all()


def test_destinations_side_by_side(short, tmp_path):
    a = destinations(short, n=3, seed=2, workers=2, store=tmp_path / "a.duckdb")
    b = destinations(short, n=3, seed=2, workers=1, store=tmp_path / "b.duckdb")
    pd.testing.assert_frame_equal(a.summary, b.summary)
    wide = a.wide
    assert list(wide.index) == ["CRP", "DLT", "ELB"]
    for m in [*WHO.values(), "movers", "median_year", "departures", "recognition_share",
              "returns", "remigrations"]:
        assert {m, f"{m}_q05", f"{m}_q95"} <= set(wide.columns)
    crp = wide.loc["CRP"]
    assert crp.movers > 0 and 0 <= crp.skill <= 1 and 0 <= crp.recognition_share <= 1
    assert crp.skill_q05 <= crp.skill <= crp.skill_q95
    assert 2000 <= crp.median_year <= 2006
    periods = [c for c in wide.columns if c.startswith("departures ") and "_q" not in c]
    assert periods == ["departures 2000-2004", "departures 2005-2006"]
    st = Store(tmp_path / "a.duckdb")
    assert len(st.read_table("experiment_destination_profile").job.unique()) == 3
    assert len(st.read_table("destination_summary")) == len(a.summary)
    files = plot_destinations(a, tmp_path / "fig" / "destinations.png")
    assert [f.suffix for f in files] == [".png", ".svg"]
    assert all(f.stat().st_size > 1000 for f in files)
    # its report draws the same figure and tabulates the summary (it showed a departures
    # table only)
    from onward.report import report

    page = report(a.experiment_id, tmp_path / "a.duckdb", tmp_path / "d.html").read_text()
    assert "Destinations side by side" in page and "Median [90% interval] per destination" \
        in page and page.count("data:image/png") >= 1
    w = a.wide.loc["CRP"]
    assert f"{w.skill:.2f} [{w.skill_q05:.2f}-{w.skill_q95:.2f}]" in page
    # years and counts as the terminal shows them (2003, not 2e+03)
    assert f"{w.median_year:.0f} [{w.median_year_q05:.0f}-{w.median_year_q95:.0f}]" in page
    assert f"{w.movers:.0f} [" in page and "e+0" not in page


# --- Dask ----------------------------------------------------------------------------------


def test_ensemble_on_a_dask_cluster_equals_local(short, tmp_path):
    distributed = pytest.importorskip("distributed")
    local = ensemble(short, n=3, seed=8, workers=1, store=tmp_path / "local.duckdb")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        remote = ensemble(short, n=3, seed=8, scheduler=cluster.scheduler_address,
                          store=tmp_path / "dask.duckdb")
    pd.testing.assert_frame_equal(local.values, remote.values)
    pd.testing.assert_frame_equal(local.bands, remote.bands)


@pytest.mark.parametrize("workers", [0, -2])
def test_experiments_refuse_fewer_than_one_worker(tmp_path, workers):
    """``--workers 0`` silently meant all cores and a negative count ran inline, while
    calibrate refused both; experiments now refuse them too, before anything runs. Python
    is told of its keyword, the command line of its flag."""
    with pytest.raises(ValueError, match="^workers must be at least 1") as info:
        ensemble("toy", n=1, workers=workers, store=tmp_path / "s.duckdb")
    assert "--" not in str(info.value)
    proc = cli("ensemble", "toy", "-n", "1", "--workers", str(workers), cwd=tmp_path,
               check=False)
    assert proc.returncode == 2 and "--workers must be at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_until_before_the_horizon_end_is_refused(tmp_path):
    """``--until`` extends a horizon; a year before its end used to be ignored without a
    word (a user asking for 1990 got the whole 2000-2020 run). It is refused, naming the
    horizon's end; its own last year is accepted."""
    for fn in (lambda: ensemble("toy", n=1, until=2010, workers=1,
                                store=tmp_path / "s.duckdb"),
               lambda: destinations("toy", n=1, until=1990, workers=1,
                                    store=tmp_path / "s.duckdb")):
        with pytest.raises(ValueError, match=r"before the end of toy's horizon \(2020\)"):
            fn()
    res = ensemble("toy", n=1, until=2020, workers=1, store=tmp_path / "s.duckdb")
    assert res.bands.year.max() == 2020


def test_sensitivity_answer_says_when_its_ranking_is_uncertain():
    """Sobol S1 0.51 > ST 0.45, ST 1.03, negative S1 or a leader whose interval overlaps the
    runner-up's were stated as a confident answer."""
    from onward.experiments.sensitivity import _answer

    def ind(rows):
        return pd.DataFrame(rows, columns=["group", "S1", "S1_conf", "ST", "ST_conf"])

    clean = ind([("policy", 0.6, 0.05, 0.7, 0.05), ("push", 0.1, 0.05, 0.2, 0.05)])
    _, s = _answer(clean, "sobol", "applications", "GBR", [2008, 2015])
    assert "Uncertain" not in s
    bad = ind([("policy", 0.51, 0.3, 0.45, 0.42), ("push", 0.15, 0.1, 0.10, 0.05),
               ("pull", -0.13, 0.1, 0.2, 0.1)])
    _, s = _answer(bad, "sobol", "applications", "GBR", [2008, 2015])
    assert "Uncertain: the estimates are not consistent (policy S1 0.51 > ST 0.45" in s
    assert "pull S1 -0.13 < 0" in s and "overlaps that of pull" in s and "larger n " in s
    morris = pd.DataFrame([("policy", 931.7, 733.6), ("information", 368.8, 136.0)],
                          columns=["group", "mu_star", "mu_star_conf"])
    _, s = _answer(morris, "morris", "applications", "GBR", [2000, 2012])
    assert "Uncertain: its 95% interval overlaps that of information" in s


def test_compare_says_where_abroad_went_and_explains_its_columns(tmp_path):
    """`--destination GBR --output abroad` dropped abroad without a word (it is counted
    over all destinations, 'ALL', which --destination refused); the table's difference is
    the median of paired differences, which the table did not say."""
    (tmp_path / "base.yaml").write_text("extends: toy\nname: base\nhorizon: {end: 2012}\n"
                                        "events: [{id: bor-antidiscrimination-2015, "
                                        "remove: true}]\n")
    (tmp_path / "alt.yaml").write_text("extends: base.yaml\nname: alt\nevents:\n"
                                       "  - {id: crp-checks-2010, remove: true}\n")
    args = ["compare", "base.yaml", "alt.yaml", "-n", "2", "--years", "2008-2012",
            "--output", "abroad", "--output", "applications", "--workers", "1", "--quiet",
            "--store", "s.duckdb"]
    proc = cli(*args, "--destination", "CRP", cwd=tmp_path)
    said = " ".join(proc.stderr.split())
    assert "note: abroad counts every destination together (destination ALL)" in said
    assert "(so not alternative minus baseline)" in " ".join(proc.stdout.split())
    proc = cli(*args, "--destination", "ALL", cwd=tmp_path)
    assert any([c.strip() for c in line.split("│")[1:4]]
               == ["abroad", "persons at the period's end", "ALL"]
               for line in proc.stdout.splitlines() if "│" in line), proc.stdout


@pytest.mark.parametrize("call, message", [
    (lambda: onward.simulate("toy", seed=7.5), "seed 7.5: give a whole number from 0"),
    (lambda: onward.simulate("toy", seed="7"), "seed '7': give a whole number"),
    (lambda: onward.simulate("toy", seed=-1), "seed -1: give a whole number from 0"),
    (lambda: onward.simulate("toy", seed=2**70), "give a whole number from 0"),
    (lambda: onward.simulate("toy", until="2010"), "until '2010': give a whole number"),
    (lambda: onward.ensemble("toy", n=0), "n 0: give a whole number of replicates >= 1"),
    (lambda: onward.ensemble("toy", n=2, seed=-3), "seed -3: give a whole number >= 0"),
])
def test_the_python_api_refuses_bad_seeds_and_counts(call, message):
    """seed=7.5 ran as 7 and was stored as 7, seed=-1 ran as 2**64 - 1 and was stored as -1;
    ensemble(n=0) died in KeyError: 'job'."""
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_compare_takes_one_alternative_as_well_as_a_list(tmp_path):
    """compare("toy", "toy") read the string as the letters t, o, y ("'t': no such
    scenario file")."""
    with pytest.raises(ValueError, match="scenarios need distinct names"):
        onward.compare("toy", "toy", n=1, store=tmp_path / "s.duckdb")


def test_results_print_briefly_in_a_notebook(short, tmp_path):
    """Typing a run's result in a notebook cell printed 272,627 characters of arrays."""
    res = simulate(short, seed=1)
    text = repr(res)
    assert len(text) < 300 and "households" in text and "seed 1" in text
    # a run stopped early counts the households that had arrived by then, not the whole
    # horizon's population ("31,702 households x 48 months" for a run to 2002)
    early = simulate("nk-onward", seed=1, until=2002)
    pending = int(early.recorder.stock_h[early.compiled.run_months - 1, 0].sum())
    assert pending > 0
    assert f"{early.agents.n - pending:,} of {early.agents.n:,} households arrived" in repr(
        early)
    assert res.tables.__doc__ and res.tables.__doc__.strip() and \
        type(res).applications.__doc__
    e = ensemble(short, n=2, workers=1, store=tmp_path / "s.duckdb")
    assert repr(e).startswith(f"EnsembleResult({e.experiment_id!r}: 2 replicates")
    from onward.experiments.ensemble import CompareResult, EnsembleResult

    assert "q05" in EnsembleResult.__doc__ and "diff_median" in CompareResult.__doc__


def test_two_processes_running_one_experiment_store_each_job_once(short, tmp_path, monkeypatch):
    """Two identical `onward ensemble` commands on one store each checked the finished jobs
    once, at the start, and both stored every job: 37 job runs for 20 jobs, and bands over
    the duplicates. Here the second process's start-of-run check sees nothing (the first
    had not written yet) while the store already holds every job when it writes."""
    from onward.experiments import runner

    store = tmp_path / "s.duckdb"
    first = ensemble(short, n=3, seed=4, workers=1, store=store)
    real = runner.done_jobs
    calls = {"n": 0}

    def late(st, exp_id):  # the first look (before any write) finds nothing
        calls["n"] += 1
        return pd.DataFrame() if calls["n"] == 1 else real(st, exp_id)

    monkeypatch.setattr(runner, "done_jobs", late)
    second = ensemble(short, n=3, seed=4, workers=1, store=store)
    runs = Store(store).list_runs()
    assert (runs.kind == "ensemble-job").sum() == 3
    pd.testing.assert_frame_equal(first.bands, second.bands)
    # a store that already holds a job twice (written before this fix) counts it once
    monkeypatch.setattr(runner, "done_jobs", real)
    vals = Store(store).query("select * from experiment_values where job = 0")
    dup = vals.drop(columns=["run_id"])
    Store(store).write_run({"kind": "ensemble-job"}, {"experiment_values": dup})
    third = ensemble(short, n=3, seed=4, workers=1, store=store)
    pd.testing.assert_frame_equal(first.bands, third.bands)
    assert len(third.values) == len(first.values)


def test_sobol_refuses_too_few_samples_for_its_intervals(short):
    """sensitivity -n 1 (Sobol) reported 'ST = 4546.76 (95% CI +-0.00)'."""
    with pytest.raises(ValueError, match=r"^n=1: Sobol' indices need at least 4 base samples"):
        onward.sensitivity(short, method="sobol", n=1, workers=1)


def test_compare_report_shows_the_effects_as_the_terminal_does(short, tmp_path):
    """The report tabulated nine raw float columns (difference q05 12.349999...) where the
    terminal printed '+12 [+3, +20]'; both now use one formatter."""
    import html

    from onward.experiments.ensemble import effect_text
    from onward.report import report

    alt = load_text(SHORT + "name: toy-alt\ndestinations:\n  CRP:\n    recognition_rate: "
                    "0.2\n", "alt.yaml")
    res = compare(short, [alt], n=3, seed=2, workers=1, store=tmp_path / "s.duckdb")
    page = html.unescape(report(res.experiment_id, tmp_path / "s.duckdb",
                                tmp_path / "c.html").read_text())
    for r in res.effects.itertuples():
        for cell in effect_text(r).values():
            assert f"<td>{cell}</td>" in page, cell
    assert "difference q05" not in page


def test_a_change_to_the_engine_is_not_answered_with_old_stored_jobs(tmp_path, monkeypatch):
    """The experiment id held the jobs and settings but not the code: after a change to the
    engine the same command reused the jobs stored by the old one (the version stays 0.1.0
    through a checkout's commits). The id now includes a hash of the code and packaged data
    that shape the numbers (not of the figures or the command line)."""
    import shutil

    import onward
    from onward.analysis import runs as runs_mod
    from onward.experiments.runner import experiment_id

    root = Path(onward.__file__).parent
    copy = tmp_path / "onward"
    shutil.copytree(root, copy, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    monkeypatch.setattr(onward, "__file__", str(copy / "__init__.py"))
    runs_mod.code_hash.cache_clear()
    try:
        before = runs_mod.code_hash()
        jobs = [Job(0, "replicate", load_scenario("toy"), {}, seed=3)]
        exp_before = experiment_id("ensemble", jobs, ["applications"])
        (copy / "viz" / "figures.py").write_text("# a figure changed\n", encoding="utf-8")
        runs_mod.code_hash.cache_clear()
        assert runs_mod.code_hash() == before  # figures do not shape the numbers
        engine = copy / "engine" / "population.py"
        engine.write_text(engine.read_text() + "\n# changed\n")
        runs_mod.code_hash.cache_clear()
        assert runs_mod.code_hash() != before
        assert experiment_id("ensemble", jobs, ["applications"]) != exp_before
        assert runs_mod.versions()["onward_code"] == runs_mod.code_hash()
        # the calibration's code decides a posterior (and a worker must run the same)
        changed = runs_mod.code_hash()
        targets = copy / "calibration" / "targets.py"
        targets.write_text(targets.read_text() + "\n# changed\n")
        runs_mod.code_hash.cache_clear()
        assert runs_mod.code_hash() != changed
    finally:
        runs_mod.code_hash.cache_clear()


def test_a_compare_over_other_years_keeps_the_first_ones_effects(tmp_path):
    """A second compare of the same runs over other years deleted the effects the first had
    stored (compare_effects held 2000-2009 only; run-0047 was gone). Both periods are kept,
    the newest first; the same compare again stores nothing new."""
    store = tmp_path / "s.duckdb"
    alt = load_text("extends: toy\nname: toy-nochecks\nevents:\n"
                    "  - {id: crp-checks-2010, remove: true}\n", "alt.yaml")
    first = compare("toy", [alt], n=2, workers=1, store=store, years=list(range(2010, 2021)))
    second = compare("toy", [alt], n=2, workers=1, store=store, years=list(range(2000, 2010)))
    assert first.experiment_id == second.experiment_id  # the same runs, reused
    stored = Store(store).query("select * from compare_effects where experiment_id = ?",
                                [first.experiment_id])
    assert list(dict.fromkeys(stored.period)) == ["2000-2009", "2010-2020"]
    late = stored[stored.period == "2010-2020"].drop(columns=["run_id", "experiment_id"])
    pd.testing.assert_frame_equal(late.reset_index(drop=True),
                                  first.effects.reset_index(drop=True), check_dtype=False)
    runs = Store(store).list_runs()
    compare("toy", [alt], n=2, workers=1, store=store, years=list(range(2000, 2010)))
    assert len(Store(store).list_runs()) == len(runs)  # nothing new to store
    from onward.report import report

    html = report(first.experiment_id, store, tmp_path / "r.html").read_text()
    assert "over 2000-2009 and 2010-2020" in html


def test_experiments_record_their_wall_time_and_what_made_them(tmp_path):
    """The summary rows of ensembles, compares and sensitivity analyses had no wall time
    (`onward runs` showed '-', the README promises it); a sensitivity analysis did not record
    SALib's version (its design and intervals); a compare recorded the baseline's hash only."""
    store = tmp_path / "s.duckdb"
    alt = load_text("extends: toy\nname: toy-alt\nevents:\n"
                    "  - {id: crp-checks-2010, remove: true}\n", "alt.yaml")
    ensemble("toy", n=2, workers=1, store=store)
    compare("toy", [alt], n=2, workers=1, store=store)
    sensitivity("toy", method="morris", n=2, workers=1, store=store)
    st = Store(store)
    runs = st.list_runs()
    for kind in ("ensemble", "compare", "sensitivity"):
        meta = st.get_run(runs[runs.kind == kind].run_id.iloc[0])
        assert meta["wall_seconds"] > 0, kind
        assert meta["versions"]["onward_code"], kind
    sens = st.get_run(runs[runs.kind == "sensitivity"].run_id.iloc[0])
    assert sens["versions"]["salib"]
    cmp = st.get_run(runs[runs.kind == "compare"].run_id.iloc[0])
    assert set(cmp["scenario_hashes"]) == {"toy", "toy-alt"}
    assert cmp["scenario_hashes"]["toy-alt"] == onward.scenario.scenario_hash(alt)


def test_every_output_says_what_it_counts(tmp_path):
    """compare and ensemble printed numbers without units: a reader had to know that
    applications are persons summed over the period, refugee_stock persons at its end and
    broker_share a 0-1 mean of yearly shares."""
    from onward.experiments.runner import OUTPUTS, output_unit

    assert output_unit("applications", period=True) == "persons, total over the period"
    assert output_unit("refugee_stock", period=True) == "persons at the period's end"
    # of persons: the run's brokers table, figure and report weigh households
    assert output_unit("broker_share", period=True).startswith("share 0-1 of persons, mean")
    assert output_unit("applications") == "persons, per year"
    assert all(output_unit(name) for name in OUTPUTS)
    out = cli("ensemble", "toy", "-n", "2", "--workers", "1", "-q", cwd=tmp_path)
    assert "applications (persons, per year): median [90% band]" in out.stdout
    assert "it reflects chance alone" in " ".join(out.stdout.split())


def test_every_destinations_measure_has_its_unit():
    """`onward destinations` mixed households and persons without saying which row was
    which (recognition_share of households beside returns of persons; funds and degree
    without units)."""
    from onward.experiments.destinations import WHO, measure_unit

    for m in [*WHO.values(), "movers", "median_year", "departures", "departures 2000-2004",
              "recognition_share", "returns", "return_rate", "remigrations",
              "remigration_rate"]:
        assert measure_unit(m), m
    assert measure_unit("funds") == "months of wage"
    assert "households" in measure_unit("recognition_share")
    assert measure_unit("returns") == "persons"


def _only_free(name: str, keep: str) -> str:
    """A variant of ``name`` whose one free parameter is the global ``keep``: every other
    free parameter is fixed at its value (one line each, for the caller to drop)."""
    lines = [f"extends: {name}", f"name: {name}-only", "parameters:"]
    by_group: dict[str, list[str]] = {}
    dests: list[str] = []
    for target in load_scenario(name).free_parameters():
        parts = target.split(".")
        if parts[0] == "parameters":
            by_group.setdefault(parts[1], []).append(f"    {parts[2]}: {{free: false}}")
        elif parts[0] == "destinations":
            dests.append(f"  {parts[1]}: {{{parts[2]}: {{free: false}}}}")
    _, group, param = keep.split(".")
    by_group.setdefault(group, []).append(f"    {param}: {{free: true}}")
    for group, entries in by_group.items():
        lines += [f"  {group}:", *entries]
    return "\n".join([*lines, "destinations:", *dests]) + "\n"




@pytest.mark.parametrize("method, index", [("morris", "mu_star"), ("sobol", "ST")])
def test_a_parameter_that_changes_nothing_gets_no_index(tmp_path, method, index):
    """tpb_w_attitude is not read by the toy's rule (the same seed gives the same tables at
    any value). With a stream per design row, seed noise gave it Morris mu* 82 +- 70 and
    Sobol ST 0.026 +- 0.011, an interval that excluded 0. The rows of a base sample or a
    trajectory now share their random numbers, so its index is 0."""
    # every free parameter fixed but tpb_w_attitude, and the CRP recognition rate kept free
    text = _only_free("toy", "parameters.decision.tpb_w_attitude").replace(
        "  CRP: {recognition_rate: {free: false}}\n", "")
    sc = load_text(text, "inert.yaml")
    assert set(sc.free_parameters()) == {"parameters.decision.tpb_w_attitude",
                                         "destinations.CRP.recognition_rate"}
    inert = mechanism_of("parameters.decision.tpb_w_attitude")
    assert inert != mechanism_of("destinations.CRP.recognition_rate")
    res = sensitivity(sc, method=method, n=4, seed=2, destination="CRP", workers=1,
                      store=tmp_path / "s.duckdb")
    got = res.indices.set_index("group")[index]
    assert got[inert] == 0, got
    assert got[mechanism_of("destinations.CRP.recognition_rate")] > 0, got


def test_messages_name_what_the_user_wrote(tmp_path):
    """compare of a variant without name: said "(got ['toy', 'toy'])", not which file; a
    sensitivity answer with one mechanism of the question began "Of push, push moves"."""
    from onward.experiments.sensitivity import _answer

    (tmp_path / "nn.yaml").write_text("extends: toy\n")
    with pytest.raises(ValueError, match=r"nn\.yaml runs as 'toy'.*Fix: give each"):
        onward.compare("toy", [str(tmp_path / "nn.yaml")], n=1, store=tmp_path / "s.duckdb")
    ind = pd.DataFrame({"group": ["push", "other"], "mu_star": [5.0, 1.0],
                        "mu_star_conf": [1.0, 0.5], "sigma": [1.0, 1.0]})
    _, sentence = _answer(ind, "morris", "applications", "CRP", [2000, 2010])
    assert not sentence.startswith("Of push, push")
    assert sentence.startswith("Of the mechanisms with free parameters (push, other), push")
    # several: a list that ends with "and" ("Of push, pull, information, policy, policy
    # moves ..." read as if policy were named twice)
    ind = pd.DataFrame({"group": ["push", "pull", "information", "policy"],
                        "mu_star": [1.0, 2.0, 3.0, 5.0], "mu_star_conf": [0.5] * 4,
                        "sigma": [1.0] * 4})
    _, sentence = _answer(ind, "morris", "applications", "CRP", [2000, 2010])
    assert sentence.startswith("Of push, pull, information and policy, policy moves")


def test_a_job_run_by_other_code_is_not_stored(short, tmp_path, monkeypatch):
    """A Dask worker on another checkout (same version 0.1.0, another code hash) had its
    jobs stored under this process's experiment id, whose hash is this code's: a later run
    reused them. Workers checked at connect() are refused; one that joins later is caught
    by the code hash each job reports."""
    from onward.experiments import runner
    from onward.workers import ClusterError

    monkeypatch.setattr(runner, "_worker_versions", lambda: {"onward_code": "0123456789abcdef"})
    with pytest.raises(ClusterError, match=r"^job 0 was run by a worker with other onward code "
                       r"\(0123456789abcdef\) than this process .* Fix: start every worker"):
        ensemble(short, n=2, seed=1, workers=1, store=tmp_path / "s.duckdb")
    assert _runs(tmp_path / "s.duckdb", "ensemble-job") == 0


def test_sensitivity_says_a_stock_is_read_at_the_period_end():
    """The answer said "moves refugee_stock at CAN in 2005-2012" of a stock read at the
    end of 2012; a stock says so, a share that it is averaged."""
    from onward.experiments.sensitivity import _answer

    ind = pd.DataFrame({"group": ["push", "pull"], "mu_star": [3.0, 1.0],
                        "mu_star_conf": [0.5, 0.5], "sigma": [1.0, 1.0]})
    years = list(range(2005, 2013))
    _, stock = _answer(ind, "morris", "refugee_stock", "CAN", years)
    assert "refugee_stock at CAN at the end of 2012" in stock
    _, share = _answer(ind, "morris", "broker_share", "CAN", years)
    assert "broker_share at CAN, averaged over 2005-2012" in share
    _, flow = _answer(ind, "morris", "applications", "CAN", years)
    assert "applications at CAN in 2005-2012" in flow


def test_sensitivity_until_explains_a_year_past_the_horizon(tmp_path):
    """`onward sensitivity` had no --until (ensemble, compare and destinations do): a year
    after the horizon's end was refused with no way to reach it. until extends the horizon
    as ensemble's does; the extended scenario's hash keys the experiment, so another until
    is another experiment (its runs differ: a longer horizon draws other random numbers),
    and the same one resumes without running anything again."""
    sc = load_text(SA, "sa.yaml")
    db = tmp_path / "s.duckdb"
    with pytest.raises(ValueError, match=r"years: 2007 lies outside the horizon 2000-2006\. "
                       r"Fix: give years inside it, or until=2007 to extend the horizon"):
        sensitivity(sc, method="morris", n=2, destination="CRP", years=2007, store=db)
    a = sensitivity(sc, method="morris", n=2, seed=3, destination="CRP", until=2007,
                    years=2007, workers=1, store=db)
    assert a.years == [2007] and "applications at CRP in 2007" in a.sentence
    assert np.ptp(a.y) > 0
    seen: list[tuple[int, int]] = []
    again = sensitivity(sc, method="morris", n=2, seed=3, destination="CRP", until=2007,
                        years=2007, workers=1, store=db,
                        progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (len(a.y), len(a.y)), "the stored runs are not run again"
    assert again.experiment_id == a.experiment_id
    np.testing.assert_array_equal(again.y, a.y)
    b = sensitivity(sc, method="morris", n=2, seed=3, destination="CRP", until=2008,
                    years=2007, workers=1, store=db)
    assert b.experiment_id != a.experiment_id
    runs = Store(db).list_runs()
    assert _runs(db, "sensitivity-job") == 2 * len(a.y)
    extra = [json.loads(x) for x in runs[runs.kind == "sensitivity"].extra]
    assert sorted((e["until"], e["years"]) for e in extra) == [(2007, "2007"), (2008, "2007")]
    # the report says so, and shows the scenario as run (its horizon extended)
    import html as html_lib

    from onward.report import report

    page = html_lib.unescape(report(a.experiment_id, db, tmp_path / "a.html").read_text())
    assert re.search(r"horizon extended to\s*(<[^>]+>\s*)*2007", page)
    assert "no longer loads to the stored hash" not in page


def test_sensitivity_until_needs_years_and_the_cli_names_it(tmp_path):
    """With --until and no --years the analysis was of the calibration years, inside the
    horizon: the extension ran nothing past it. It is refused, saying to give --years; and
    --years past the horizon names --until as the fix."""
    with pytest.raises(ValueError, match=r"^until=2030 extends the horizon past 2020, but "
                       r"without years .* Fix: give years as well, e\.g\. years=2030 or "
                       r"years='2021-2030'$"):
        sensitivity("toy", method="morris", n=2, until=2030, store=tmp_path / "s.duckdb")
    for args, said in (
            (["--until", "2030"], "--until 2030 extends the horizon past 2020, but without "
             "years the analysis is of the calibration years, inside it. Fix: give --years "
             "as well, e.g. --years 2030 or --years 2021-2030"),
            (["--years", "2030"], "--years: 2030 lies outside the horizon 2000-2020. Fix: "
             "give years inside it, or --until 2030 to extend the horizon"),
            (["--until", "2025", "--years", "2026-2030"], "--years: 2026 lies outside the "
             "horizon 2000-2025. Fix: give years inside it, or --until 2030 to extend"),
            (["--years", "1999-2001"], "--years: 1999 lies outside the horizon 2000-2020. "
             "Fix: give years from 2000 on")):
        proc = cli("sensitivity", "toy", "--method", "morris", "-n", "2", *args,
                   cwd=tmp_path, check=False)
        assert proc.returncode == 2 and said in " ".join(proc.stderr.split()), proc.stderr
        assert "Traceback" not in proc.stderr


# --- Morris mu*: an interval that cannot reach below 0 -------------------------------------

def _morris_result(exp: str = "sensitivity-0123456789ab"):
    """A Morris result whose leader's SALib interval (3 ± 5) reaches below 0."""
    from onward.experiments.sensitivity import SensitivityResult, _answer, _tidy

    ind = pd.DataFrame({"group": ["policy", "push"], "mu_star": [3.0, 1.0],
                        "mu_star_conf": [5.0, 0.5], "sigma": [np.nan, 0.8],
                        "parameters": ["destinations.CRP.recognition_rate",
                                       "integration.glass_ceiling"]})
    answer, sentence = _answer(ind, "morris", "applications", "CRP", [2030])
    return SensitivityResult(exp, "morris", "applications", "CRP", [2030], pd.DataFrame(),
                             np.zeros((1, 2)), np.zeros(1), ind,
                             _tidy(ind, "morris", "applications", "CRP", "2030"), answer,
                             sentence)


def test_morris_interval_never_shows_a_negative_lower_end(tmp_path, monkeypatch, capsys):
    """mu* (a mean of absolute effects) cannot be negative, but the sentence, the table and
    the report showed SALib's mu* ± conf, '3 ± 5': an interval down to -2. Its lower end is
    clipped at 0 wherever it is shown; the stored conf stays SALib's."""
    import io

    from rich.console import Console

    from onward.experiments import sensitivity as sens_module
    from onward.experiments.sensitivity import _store_indices, mu_star_interval
    from onward.interfaces import cli as cli_module
    from onward.report.experiment import _sensitivity_body

    assert mu_star_interval(3.0, 5.0) == (0.0, 8.0)
    assert mu_star_interval(10.0, 4.0) == (6.0, 14.0)
    res = _morris_result()
    assert "mu* = 3 (95% CI 0-8)" in res.sentence and "±" not in res.sentence
    # the command line's table and JSON
    monkeypatch.setattr(sens_module, "sensitivity", lambda *a, **k: res)
    buf = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=buf, width=160, emoji=False))
    kw = dict(scenario="toy", method="morris", n=2, seed=1, output="applications",
              destination="CRP", years="2030", until=2030, levels=4, workers=1,
              scheduler=None, store=tmp_path / "s.duckdb", quiet=True)
    cli_module.sensitivity(as_json=False, **kw)
    text = buf.getvalue()
    assert "applications at CRP, 2030 (1 runs)" in text  # not '2030-2030'
    assert "3 [0-8]" in text and "1 [0.5-1.5]" in text
    assert "±" not in text and "-2" not in text
    cli_module.sensitivity(as_json=True, **kw)
    rows = json.loads(capsys.readouterr().out)["indices"]
    assert rows[0] == {"group": "policy", "mu_star": 3.0, "mu_star_conf": 5.0, "sigma": None,
                       "mu_star_low": 0.0, "mu_star_high": 8.0}
    # stored: SALib's conf as it is; the report: the clipped interval
    st = Store(tmp_path / "s.duckdb")
    _store_indices(st, res.experiment_id, res.tidy, {"method": "morris", "destination": "CRP",
                                                     "years": "2030"})
    stored = st.query("select * from sensitivity_indices")
    mu = stored[(stored.group == "policy") & (stored["index"] == "mu_star")]
    assert mu.conf.tolist() == [5.0]
    body = _sensitivity_body(st, res.experiment_id, pd.DataFrame({"run_id": [], "years": []}))
    assert "3 [0-8]" in body and "mu* = 3 (95% CI 0-8)" in body
    assert "-2" not in body and "±" not in body


def test_a_count_is_rounded_half_away_from_zero_wherever_it_is_shown():
    """Counts were formatted with .0f, which takes a half to the even neighbour: a median
    of 12.5 persons over two replicates showed as 12 and one of 13.5 as 14."""
    from types import SimpleNamespace

    from onward.analysis.numbers import count_text
    from onward.experiments.destinations import interval_text
    from onward.experiments.ensemble import effect_text
    from onward.experiments.runner import output_text

    assert [count_text(x) for x in (12.5, 13.5, 0.5, 2.4999, -12.5, 0.49999999999999994)] \
        == ["13", "14", "1", "2", "-13", "0"]
    assert count_text(1234.5, ",") == "1,235" and count_text(-0.5, "+") == "-1"
    assert count_text(float("nan")) == "nan"
    assert output_text("applications", 12.5) == "13"
    assert output_text("broker_share", 0.125) == "0.12"  # a share keeps its decimals
    row = SimpleNamespace(output="applications", baseline_median=12.5, alternative_median=13.5,
                          diff_median=-0.5, diff_q05=-2.5, diff_q95=4.5, ratio_median=1.08,
                          ratio_q05=0.9, ratio_q95=1.3)
    assert effect_text(row) == {"baseline": "13", "alternative": "14",
                                "difference": "-1 [-3, +5]", "ratio": "1.08 [0.90, 1.30]"}
    assert interval_text("movers", 12.5, 0.5, 26.5) == "13 [1-27]"
    assert interval_text("age", 30.25, 20.0, 40.0) == "30.2 [20.0-40.0]"  # not a count
    # the report's and the dashboard's tables write numbers of 100 or more whole
    from onward.report.html import table

    assert "<td>1,113</td>" in table(pd.DataFrame({"persons": [1112.5]}))
    pytest.importorskip("solara")
    from onward.dashboard.app import _table_html

    assert "<td>1,113</td>" in _table_html(pd.DataFrame({"persons": [1112.5]}), "t")


def test_medians_of_two_replicates_show_their_halves_rounded_up(short, tmp_path, monkeypatch):
    """`onward ensemble -n 2` printed the median 12.5 as 12 and 10.5 as 10 (half to even)
    and the report's table as 12.5 and 10.5; both now print 13 and 11."""
    import html
    import io

    from rich.console import Console

    from onward.interfaces import cli as cli_module
    from onward.report import report

    db = tmp_path / "s.duckdb"
    path = tmp_path / "short.yaml"
    path.write_text(SHORT)
    buf = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=buf, width=200, emoji=False))
    cli_module.ensemble(scenario=str(path), n=2, seed=1, posterior=None, until=None,
                        output=None, workers=1, scheduler=None, as_json=False, store=db,
                        quiet=True)
    res = ensemble(load_scenario(path), n=2, seed=1, workers=1, store=db)  # (stored)
    b = res.bands.set_index(["year", "destination"])
    assert b.loc[(2002, "CRP"), "median"] == 10.5 and b.loc[(2003, "CRP"), "median"] == 12.5
    lines = {line.split()[0]: line.split("]")[0] + "]" for line in buf.getvalue().splitlines()
             if line.strip()[:4].isdigit()}
    assert lines["2002"].split() == ["2002", "11", "[6-15]"], lines
    assert lines["2003"].split() == ["2003", "13", "[7-18]"], lines
    page = html.unescape(report(res.experiment_id, db, tmp_path / "e.html").read_text())
    table = page[page.index("id=\"table-applications\""):]
    table = table[:table.index("</table>")]
    assert "<tr><td>2003</td><td>13</td><td>0</td><td>0</td></tr>" in table, table
    assert "<tr><td>2002</td><td>11</td><td>1</td><td>0</td></tr>" in table, table
    assert ".5<" not in table
