"""Invariants of the engine: conservation, determinism, no country knowledge, selection."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import onward.data
import onward.engine.model
import onward.rules.decision
from onward.analysis.runs import selection_summary
from onward.api import simulate
from onward.engine.model import NumericalError
from onward.engine.recorder import FLOWS
from onward.engine.state import State
from onward.scenario import load_scenario, load_text

SMALL = """
extends: toy
horizon: {{start: 2000-01, end: {end}}}
events:
  - {{id: crp-checks-2010, remove: true}}
  - {{id: bor-antidiscrimination-2015, remove: true}}
{events}calibration: {{years: 2000-2002, held_out: 2003}}
"""


def small(end: str = "2004-12", extra: str = "", events: str = "") -> object:
    return load_text(SMALL.format(end=end, events=events) + extra, "small.yaml")


def check_conservation(res) -> None:
    rec, ag = res.recorder, res.agents
    n = ag.n
    # every agent is in exactly one state each month
    assert (rec.stock_h.sum(axis=(1, 2)) == n).all()
    # flows between steps reconcile stocks exactly (households and persons)
    by_state_h = rec.stock_h.sum(axis=2)
    by_state_p = rec.stock_p.sum(axis=2)
    start_h = np.zeros(by_state_h.shape[1], np.int64)
    start_h[State.PENDING] = n
    start_p = np.zeros_like(start_h)
    start_p[State.PENDING] = int((1 + ag.children.astype(np.int64)).sum() - rec.births.sum())
    prev_h = np.vstack([start_h, by_state_h[:-1]])
    prev_p = np.vstack([start_p, by_state_p[:-1]])
    assert (rec.trans_h.sum(axis=2) == prev_h).all()
    assert (rec.trans_h.sum(axis=1) == by_state_h).all()
    assert (rec.trans_p.sum(axis=2) == prev_p + rec.births).all()
    assert (rec.trans_p.sum(axis=1) == by_state_p).all()
    # the named flows are the transitions they stand for
    f = {name: rec.flow_h[:, i].sum(axis=(1, 2)) for i, name in enumerate(FLOWS)}
    tr = rec.trans_h
    S = State
    lodged = f["claims"] + f["repeat_claims"]
    assert (lodged >= tr[:, S.TRANSIT, S.CLAIMANT] + tr[:, S.PENDING, S.CLAIMANT]).all()
    assert (f["recognised"] == tr[:, S.CLAIMANT, S.RECOGNISED]).all()
    assert (f["refused_prior_nationality"] <= f["refused"]).all()
    assert (f["broker_departures"] <= f["departures"]).all()
    # recognised + refused decisions never exceed claims lodged so far
    assert (np.cumsum(f["recognised"] + f["refused"]) <= np.cumsum(lodged)).all()
    # claimants lodged = decided + still waiting
    waiting = rec.stock_h[:, S.CLAIMANT].sum(axis=1)
    assert (np.cumsum(lodged) - np.cumsum(f["recognised"] + f["refused"]) == waiting).all()
    # stocks are carried forward month by month from the households that changed; the
    # last month must equal a recount of every row
    h, p, away = rec.recount(res.agents)
    assert (rec.stock_h[-1] == h).all() and (rec.stock_p[-1] == p).all()
    assert rec.onward_abroad_p[-1] == away


def test_toy_conserves_and_is_deterministic():
    a = simulate("toy", seed=11)
    b = simulate("toy", seed=11)
    c = simulate("toy", seed=12)
    check_conservation(a)
    for name, table in a.tables().items():
        pd.testing.assert_frame_equal(table, b.tables()[name], obj=name)
    assert not a.applications.equals(c.applications)


def test_made_up_countries_and_no_country_knowledge_in_engine():
    res = simulate("toy")
    assert set(res.applications.destination) == {"CRP", "DLT", "ELB"}
    assert res.applications.persons.sum() > 0
    engine_src = Path(onward.engine.model.__file__).parent
    rules_src = Path(onward.rules.decision.__file__).parent
    pattern = re.compile(r"\b(KOR|PRK|GBR|CAN|Korea|North Korea|UK|Canada|MOU|UNHCR)\b")
    for folder in (engine_src, rules_src):
        for f in folder.glob("*.py"):
            hits = pattern.findall(f.read_text())
            assert not hits, f"{f.name} mentions {hits}"


def test_engine_never_reads_target_data(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the engine read target data")

    for name in ("first_claims", "uk_grant_rates", "refugee_stocks", "residence_unknown",
                 "uk_quarterly_applications"):
        monkeypatch.setattr(onward.data, name, forbidden)
    real_load = onward.data.load

    def guarded_load(name):
        assert name == "mou_arrivals", f"engine loaded table {name}"  # the inflow input
        return real_load(name)

    monkeypatch.setattr(onward.data, "load", guarded_load)
    res = simulate(load_scenario("nk-onward"), seed=3)
    assert res.applications.persons.sum() > 0


def test_flagship_uk_claims_within_factor_two():
    res = simulate("nk-onward")
    a = res.applications
    uk = a[(a.destination == "GBR") & a.year.between(2000, 2015)].persons.sum()
    assert 1328 / 2 <= uk <= 1328 * 2


def _std_diffs(sc) -> dict[str, float]:
    return selection_summary(simulate(sc)).set_index("attribute").std_difference.to_dict()


@pytest.mark.parametrize("seed", [1, 5])
def test_selection_effect_emerges_from_capability_and_information(seed):
    gated = _std_diffs(load_text(f"extends: nk-onward\nseed: {seed}\n"))
    open_ = _std_diffs(load_text(
        f"extends: nk-onward\nseed: {seed}\n"
        "decision: {capability_gating: false, information_gating: false}\n"))
    for attr in ("funds", "skill", "degree"):
        assert gated[attr] > 0.15, (attr, gated)
        assert abs(open_[attr]) < gated[attr] / 2, (attr, gated, open_)
    # movers are not less satisfied than stayers
    assert gated["satisfaction"] > -0.05
    # without the gates the push alone selects the less satisfied: the article's finding
    # is not written into the rule
    assert open_["satisfaction"] < gated["satisfaction"]


def test_planned_behaviour_rule_runs_and_differs():
    a = simulate(small())
    b = simulate(small(extra="decision: {rule: planned_behaviour}\n"))
    check_conservation(b)
    assert not a.applications.equals(b.applications)


EDGE_CASES = {
    "zero inflow": "population: {inflow: {source: inline, initial: 0, values: {2000: 0}}}\n",
    "zero brokers": "parameters: {brokers: {share: 0, contacts: 0}}\n",
    "recognition 0": "destinations: {CRP: {recognition_rate: 0}, DLT: {recognition_rate: 0}, "
                     "ELB: {recognition_rate: 0}}\n",
    "recognition 1": "destinations: {CRP: {recognition_rate: 1}, DLT: {recognition_rate: 1}, "
                     "ELB: {recognition_rate: 1}}\n",
    "closed from start": "destinations: {CRP: {open: 0}}\n",
    "same-date events": (
        "  - {date: 2001-01, target: destinations.CRP.checks_prior_nationality, value: 1}\n"
        "  - {date: 2001-01, target: destinations.CRP.detection, value: 1}\n"
        "  - {date: 2001-01, target: parameters.brokers.activity, value: 0}\n"
        "  - {date: 2001-01, target: destinations.DLT.open, value: 0}\n"),
}


@pytest.mark.parametrize("case", sorted(EDGE_CASES))
def test_edge_cases_conserve(case):
    text = EDGE_CASES[case]
    res = simulate(small(events=text) if text.startswith("  -") else small(extra=text))
    check_conservation(res)


def test_closed_destination_gets_no_onward_claims():
    res = simulate(small(extra=EDGE_CASES["closed from start"]))
    a = res.applications
    assert a[(a.destination == "CRP") & (a.route == "onward")].persons.sum() == 0


def test_nan_names_the_stage_and_parameters():
    with pytest.raises(NumericalError, match=r"month \d+ .*stage 'integration' made agent "
                       r"column '\w+' NaN/inf.*integration.potential_base=0, "
                       r"integration.potential_slope=0") as info:
        simulate(small(), overrides={"parameters.integration.potential_base": 0.0,
                                     "parameters.integration.potential_slope": 0.0})
    assert info.value.stage == "integration"


priors = {
    "parameters.integration.discrimination_rate": (0.0, 0.5),
    "parameters.integration.glass_ceiling": (0.3, 3.0),
    "parameters.aspiration.intercept": (-12.0, 0.0),
    "parameters.decision.base_hazard": (0.0, 1.0),
    "parameters.brokers.share": (0.0, 0.2),
    "parameters.brokers.contacts": (0.0, 50.0),
    "parameters.network.mean_degree": (0.0, 30.0),
    "parameters.network.clustering": (0.0, 1.0),
    "destinations.CRP.recognition_rate": (0.0, 1.0),
    "destinations.DLT.processing_months": (0.1, 40.0),
    "destinations.ELB.journey_months": (0.0, 6.0),
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**31),
    values=st.fixed_dictionaries({k: st.floats(lo, hi) for k, (lo, hi) in priors.items()}),
    inflow=st.lists(st.integers(0, 400), min_size=3, max_size=3),
    rule=st.sampled_from(["aspirations_capabilities", "planned_behaviour"]),
)
def test_random_scenarios_conserve(seed, values, inflow, rule):
    extra = (f"population: {{inflow: {{source: inline, initial: {inflow[0]}, values: "
             f"{{2000: {inflow[1]}, 2001: {inflow[2]}}}}}}}\n"
             f"decision: {{rule: {rule}}}\n")
    sc = small(end="2002-12", extra=extra)
    res = simulate(sc, seed=seed, overrides=values)
    check_conservation(res)
    again = simulate(sc, seed=seed, overrides=values)
    assert np.array_equal(res.recorder.stock_p, again.recorder.stock_p)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), m=st.integers(0, 400), seed=st.integers(0, 2**32 - 1),
       weighted=st.booleans())
def test_network_csr_passes_equal_scipy(n, m, seed, weighted):
    """The compiled CSR build (csr_01) and renumbering (permuted) give SciPy's canonical
    matrices: duplicates once, sorted columns, the same index dtypes; a weighted matrix
    (a plug-in generator's) is renumbered by SciPy with its weights kept."""
    import scipy.sparse as sp

    from onward.engine.network import csr_01, permuted

    rng = np.random.default_rng(seed)
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    ref = sp.csr_matrix((np.ones(m, np.int8), (rows, cols)), shape=(n, n))
    ref.sum_duplicates()
    ref.data[:] = 1
    got = csr_01(rows, cols, n)
    order = rng.permutation(n)
    if weighted:
        ref = sp.csr_matrix((rng.integers(1, 5, m).astype(np.float64), (rows, cols)),
                            shape=(n, n))
        ref.sum_duplicates()
        got = ref
    want = ref[order][:, order].tocsr()
    want.sort_indices()
    for a, b in ((ref, got), (want, permuted(got, order))):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert a.indptr.dtype == b.indptr.dtype and a.indices.dtype == b.indices.dtype
        assert np.array_equal(a.indptr, b.indptr)
        assert np.array_equal(a.indices, b.indices)
        assert np.array_equal(a.data, b.data)
        assert b.has_sorted_indices


def test_agents_permuted_equals_gathering_every_column():
    """Agents.permuted copies a column that holds one value (no gather) and gathers the
    others: every column equals ``column[order]``, and no column is shared with the
    original (NaN columns, where ``==`` fails, are gathered)."""
    from dataclasses import fields

    from onward.engine.compile import compile_scenario
    from onward.engine.population import build

    c = compile_scenario(load_scenario("toy"), seed=3)
    ag = build(c)
    ag.income[:] = np.nan  # a column of one value that == cannot see
    ag.funds[:5] = 7.0
    order = np.random.default_rng(0).permutation(ag.n)
    got = ag.permuted(order)
    for f in fields(ag):
        a, b = getattr(ag, f.name), getattr(got, f.name)
        assert b.dtype == a.dtype and b.shape == a.shape, f.name
        assert np.array_equal(b, a[order], equal_nan=a.dtype.kind == "f"), f.name
        assert not np.shares_memory(a, b), f.name


def test_compile_static_cache_reuses_only_for_the_same_scenario():
    """compile_scenario(..., static=d) compiles the scenario's inflows and route graph once
    (calibration passes one dict for every proposal) and gives the same Compiled as a call
    without it; another scenario refills the dict."""
    import pickle

    from onward.engine.compile import compile_scenario

    sc = load_scenario("nk-onward")
    d: dict = {}
    a = compile_scenario(sc, {"parameters.decision.base_hazard": 0.1}, seed=3, until=2005,
                         static=d)
    b = compile_scenario(sc, {"parameters.decision.base_hazard": 0.2}, seed=4, until=2012,
                         static=d)
    plain = compile_scenario(sc, {"parameters.decision.base_hazard": 0.2}, seed=4, until=2012)
    assert a.routes is b.routes and b.routes is not plain.routes
    for k in ("initial", "initial_female_share", "inflow", "female_share", "run_months",
              "seed"):
        assert getattr(b, k) == getattr(plain, k), k
    assert pickle.dumps(b.routes) == pickle.dumps(plain.routes)
    assert b.glob["decision.base_hazard"][0] == 0.2 and a.glob["decision.base_hazard"][0] == 0.1
    other = load_scenario("nk-onward")
    c = compile_scenario(other, seed=4, static=d)
    assert d["scenario"] is other and c.routes is not b.routes


@settings(max_examples=200, deadline=None)
@given(m=st.integers(1, 300), k=st.integers(0, 300), top=st.integers(1, 8),
       seed=st.integers(0, 2**32 - 1))
def test_brokers_are_the_first_of_the_full_sort(m, k, top, seed):
    """top_by_degree (which sorts only the candidates) picks the first k of the full
    lexsort by degree (descending) and jitter, in the same order; many ties included."""
    from onward.engine.network import top_by_degree

    rng = np.random.default_rng(seed)
    k = min(k, m)
    degree = rng.integers(0, top, m).astype(np.int32)
    jitter = rng.random(m)
    assert np.array_equal(top_by_degree(degree, jitter, k),
                          np.lexsort((jitter, -degree))[:k])


def test_the_monthly_check_names_the_first_bad_column():
    """Engine._check (one compiled call over the float32 columns) raises for a NaN or an
    infinity in any checked column among the arrived rows, naming the first such column
    in CHECKED_COLUMNS' order; a bad value in a row that has not arrived is ignored."""
    from onward.engine.compile import compile_scenario
    from onward.engine.model import CHECKED_COLUMNS, Engine

    e = Engine(compile_scenario(load_scenario("nk-onward"), seed=2, until=2003))
    e.run(months=40)
    e._check(39)  # a healthy run passes
    names = list(CHECKED_COLUMNS)
    for k, name in enumerate(names):
        col = getattr(e.ag, name)
        for bad in (np.nan, np.inf, -np.inf):
            keep = col[e.n // 2]
            col[e.n // 2] = bad
            later = names[-1] if k < len(names) - 1 else None
            if later:  # a later bad column does not hide the first
                getattr(e.ag, later)[0] = np.nan
            with pytest.raises(NumericalError, match=f"agent column '{name}'"):
                e._check(39)
            col[e.n // 2] = keep
            if later:
                getattr(e.ag, later)[0] = 0.0
        if e.n < col.size:
            col[e.n] = np.nan  # not arrived
            e._check(39)
            col[e.n] = 0.0


def test_the_selection_effect_includes_aspiration():
    """onward run's selection table left out aspiration, whose difference between movers
    and stayers is the largest."""
    sel = selection_summary(simulate("toy")).set_index("attribute")
    assert "aspiration" in sel.index
    assert sel.loc["aspiration"].movers > sel.loc["aspiration"].stayers
