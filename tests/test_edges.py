"""Numerical edges (issue 8, item 3), beyond the single edge cases of tests/test_engine.py.

There each edge (zero inflow, zero brokers, recognition 0 or 1, a destination closed from
the start, events on one date) is run alone on a small toy. Here they are pushed further and
combined: no agent at all, every parameter at the low or the high end of its prior at once
(and random mixtures of ends), every destination closed, every event on the first or the
last month, recognition 1 with certain detection; each run must keep the conservation
invariant. A run that produces NaN stops with a :class:`NumericalError`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engine import check_conservation, small

from onward.api import simulate
from onward.engine.model import NumericalError
from onward.scenario import load_scenario

TOY = load_scenario("toy")
DESTS = list(TOY.destinations)


def prior_ends(sc=TOY) -> dict[str, tuple[float, float]]:
    """Every parameter with a prior, by override path, and the ends of its prior."""
    out = {}
    for g, grp in sc.parameters.items():
        for k, p in grp.items():
            if p.prior is not None:
                out[f"parameters.{g}.{k}"] = p.prior
    for code, d in sc.destinations.items():
        for k, p in d.params.items():
            if p.prior is not None:
                out[f"destinations.{code}.{k}"] = p.prior
    return out


ENDS = prior_ends()


def admissible(values: dict[str, float]) -> dict[str, float]:
    # refused_return + refused_remigrate are shares of the refused (the schema refuses > 1)
    r = "parameters.after_decision.refused_return"
    m = "parameters.after_decision.refused_remigrate"
    ret = values.get(r, TOY.param("after_decision.refused_return"))
    rem = values.get(m, TOY.param("after_decision.refused_remigrate"))
    if ret + rem > 1:
        values = dict(values, **{m: 1 - ret})
    return values


def dest_yaml(**params: float) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in params.items())
    return "destinations: {" + ", ".join(f"{d}: {{{body}}}" for d in DESTS) + "}\n"


@pytest.mark.parametrize("end", [0, 1], ids=["low", "high"])
def test_every_prior_at_one_end_at_once(end: int) -> None:
    values = admissible({k: v[end] for k, v in ENDS.items()})
    res = simulate(small(end="2003-12"), overrides=values)
    check_conservation(res)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(ENDS)), st.integers(0, 1), min_size=1),
       st.integers(0, 2**31))
def test_random_mixtures_of_prior_ends(ends: dict[str, int], seed: int) -> None:
    values = admissible({k: ENDS[k][e] for k, e in ends.items()})
    res = simulate(small(end="2002-12"), seed=seed, overrides=values)
    check_conservation(res)


NO_INFLOW = ("population: {inflow: {source: inline, initial: 0, projection: zero, values: "
             "{2000: 0, 2001: 0, 2002: 0, 2003: 0, 2004: 0}}}\n")


def test_no_agent_at_all() -> None:
    """Zero inflow, no one there at the start and no direct claimant: an empty run."""
    sc = small(extra=NO_INFLOW + dest_yaml(background_claims=0))
    res = simulate(sc)
    assert res.agents.n == 0
    check_conservation(res)
    assert res.applications.persons.sum() == 0


def test_only_direct_claimants() -> None:
    sc = small(extra=NO_INFLOW + dest_yaml(background_claims=20))
    res = simulate(sc)
    check_conservation(res)
    a = res.applications
    assert a[a.route == "onward"].persons.sum() == 0 and a.persons.sum() > 0


def test_every_edge_together() -> None:
    """Zero brokers, recognition 0, every destination closed, all events on one date."""
    events = "".join(
        f"  - {{date: 2002-06, target: destinations.{d}.{t}, value: {v}}}\n"
        for d in DESTS for t, v in (("recognition_rate", 1), ("open", 1),
                                    ("checks_prior_nationality", 1), ("detection", 1)))
    sc = small(events=events, extra="parameters: {brokers: {share: 0, contacts: 0}}\n"
               + dest_yaml(recognition_rate=0, open=0))
    res = simulate(sc)
    check_conservation(res)
    a = res.applications
    assert a[(a.route == "onward") & (a.year < 2002)].persons.sum() == 0
    assert res.tables()["flows"].persons.notna().all()


@pytest.mark.parametrize("month", ["2000-01", "2004-12"], ids=["first", "last"])
def test_all_events_on_the_first_or_last_month(month: str) -> None:
    targets = [("destinations.CRP.open", 0), ("destinations.DLT.open", 0),
               ("destinations.ELB.open", 0), ("parameters.brokers.activity", 0),
               ("parameters.integration.discrimination_rate", 0.4),
               ("destinations.CRP.recognition_rate", 1)]
    events = "".join(f"  - {{date: {month}, target: {t}, value: {v}}}\n" for t, v in targets)
    events += f"  - {{date: {month}, target: parameters.decision.base_hazard, op: scale, " \
              "value: 0}\n"
    res = simulate(small(events=events))
    check_conservation(res)
    if month == "2000-01":  # closed from the first month: nobody moves on
        a = res.applications
        assert a[a.route == "onward"].persons.sum() == 0


def test_recognition_one_but_every_claim_detected() -> None:
    """Recognition 1, prior nationality checked and always detected, nobody conceals."""
    sc = small(extra=dest_yaml(recognition_rate=1, checks_prior_nationality=1, detection=1)
               + "parameters: {journey: {concealment: 0, broker_concealment: 0}}\n")
    res = simulate(sc)
    check_conservation(res)
    flows = res.tables()["flows"]
    f = flows[flows.route == "onward"].groupby("flow").persons.sum()
    assert f["refused_prior_nationality"] == f["refused"] > 0  # every onward claim found out
    assert f["recognised"] == 0


def test_recognition_edges_on_the_flagship() -> None:
    """The flagship (real inflows, nine destinations) at recognition 0 and 1 everywhere."""
    sc = load_scenario("nk-onward")
    for rate in (0.0, 1.0):
        values = {f"destinations.{d}.recognition_rate": rate for d in sc.destinations}
        res = simulate(sc, overrides=values, until=2006)
        check_conservation(res)
        a = res.applications
        assert a.persons.sum() > 0


def test_nan_stops_the_run_before_anything_is_stored(tmp_path) -> None:
    """A run that produces NaN raises NumericalError; nothing reaches the store."""
    from onward.analysis.runs import run_and_store
    from onward.store import Store

    store = tmp_path / "s.duckdb"
    with pytest.raises(NumericalError, match=r"month \d+ \(\d{4}-\d\d\): stage "
                       r"'integration' made agent column 'push' NaN/inf.*potential_base=0"):
        run_and_store(small(), store=store, overrides={
            "parameters.integration.potential_base": 0.0,
            "parameters.integration.potential_slope": 0.0})
    assert Store(store).list_runs().empty
    # the same edge on its own (potential 0 but a slope) is fine
    res = simulate(small(end="2002-12"),
                   overrides={"parameters.integration.potential_base": 0.0})
    check_conservation(res)
    assert np.isfinite(res.agents.push).all()
