"""The route graph: movement over several months, capacities, closures, conservation,
determinism, schema errors and the flagship's journey stages (issue 7)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from onward import data
from onward.api import simulate
from onward.engine.compile import compile_scenario
from onward.engine.model import Engine, simulate_compiled
from onward.engine.routes import INBOUND, ONWARD, TICKS
from onward.engine.state import State
from onward.scenario import ScenarioError, load_scenario, load_text

# Toy countries: ARD origin, FRD transit, BOR first country, CRP/DLT/ELB destinations.
# Home -> Camp is 300 km at 100 km a month (3 months), Camp -> Capital 500 km at 1000 km a
# month (half a month): an inbound journey takes 3.5 months, 4 calendar months of travel.
BASE = """
extends: toy
name: toy-routes
horizon: {{start: 2000-01, end: {end}}}
events:
  - {{id: crp-checks-2010, remove: true}}
  - {{id: bor-antidiscrimination-2015, remove: true}}
calibration: {{years: 2000-2001, held_out: 2002}}
routes:
  locations:
    - {{name: Home, type: origin, country: ARD, source: test}}
    - {{name: Camp, type: transit, country: FRD, source: test}}
    - {{name: Capital, type: first_country, country: BOR, {capital}source: test}}
    - {{name: Hub, type: hub, country: FRD, source: test}}
    - {{name: C, type: destination, country: CRP, source: test}}
    - {{name: D, type: destination, country: DLT, source: test}}
    - {{name: E, type: destination, country: ELB, source: test}}
  links:
    - {{from: Home, to: Camp, distance_km: 300, mode: foot, speed_km_per_month: 100, source: test}}
    - {{from: Camp, to: Capital, distance_km: 500, mode: bus, speed_km_per_month: 1000,
       source: test}}
    - {{from: Capital, to: C, distance_km: 2000, mode: flight, months: 0.05, source: test}}
    - {{from: Capital, to: D, distance_km: 2000, mode: flight, months: 0.05, source: test}}
    - {{from: Capital, to: E, distance_km: 2000, mode: flight, months: 0.05, source: test}}
    - {{from: Capital, to: Hub, distance_km: 400, mode: bus, months: 1, broker_only: true,
       source: test}}
    - {{from: Hub, to: C, distance_km: 1800, mode: flight, months: 0.5, source: test}}
    - {{from: Hub, to: D, distance_km: 1800, mode: flight, months: 0.5, source: test}}
    - {{from: Hub, to: E, distance_km: 1800, mode: flight, months: 0.5, source: test}}
  closures: {closures}
"""


def small(end: str = "2004-12", capital: str = "", closures: str = "[]", extra: str = ""):
    return load_text(BASE.format(end=end, capital=capital, closures=closures) + extra,
                     "toy-routes.yaml")


def arrivals_h(res) -> np.ndarray:
    """Households entering the first country each month (month 0 holds the initial ones;
    one that arrives and leaves again in the same month goes from pending to transit)."""
    tr = res.recorder.trans_h
    return tr[:, State.PENDING, State.FIRST_COUNTRY] + tr[:, State.PENDING, State.TRANSIT]


def check_route_conservation(res) -> None:
    rec, ag = res.recorder, res.agents
    # every household in exactly one state; stocks carried forward match a recount
    assert (rec.stock_h.sum(axis=(1, 2)) == ag.n).all()
    h, p, _ = rec.recount(ag)
    assert (rec.stock_h[-1] == h).all() and (rec.stock_p[-1] == p).all()
    # everyone in state transit is on the graph, at some location
    assert (rec.transit_h[:, ONWARD].sum(axis=1) == rec.stock_h[:, State.TRANSIT].sum(axis=1)).all()
    # inbound on the graph = set out so far - arrived so far; all of them still pending
    on_graph = np.cumsum(rec.inbound_started) - np.cumsum(rec.journeys[:, INBOUND, 0])
    assert (rec.transit_h[:, INBOUND].sum(axis=1) == on_graph).all()
    pending = rec.stock_h[:, State.PENDING].sum(axis=1)
    assert (rec.transit_h[:, INBOUND].sum(axis=1) <= pending).all()
    # inbound arrivals are households entering the first country after month 0
    assert np.array_equal(rec.journeys[1:, INBOUND, 0], arrivals_h(res)[1:])
    # persons on the graph never exceed households x largest household
    assert (rec.transit_p >= rec.transit_h).all()


# --- movement ----------------------------------------------------------------------------------


def test_movement_over_several_months_follows_distance_and_speed():
    eng = Engine(compile_scenario(small(end="2001-12")))
    tr, rg = eng.transit, eng.c.routes
    walk = rg.names.index("Home")
    start = tr.start.copy()
    rows = np.flatnonzero(tr.routed & (start == 5))
    assert rows.size > 0
    speed = rg.link_km / (rg.link_ticks / TICKS)
    for t in range(5 + 4):
        eng.step(t)
        if 5 <= t < 8:
            # on Home -> Camp, 100 km further each month, still pending
            link = tr.link[rows]
            assert (rg.link_from[link] == walk).all()
            left = (tr.t_next[rows] - (t + 1) * TICKS) / TICKS * speed[link]
            assert np.allclose(left, 300 - 100 * (t - 5 + 1))
            assert (eng.ag.state[rows] == State.PENDING).all()
    # Camp at the start of month 8, Capital half a month later: arrived in month 8
    assert (eng.ag.state[rows] != State.PENDING).all()
    assert (eng.ag.arrive[rows] == 8).all()


def test_inbound_arrive_as_scheduled_and_travel_four_months():
    sc = small()
    res = simulate(sc, seed=2)
    plain = simulate(sc.model_copy(update={"routes": None}), seed=2)
    # without closures or capacities the route graph reproduces the scheduled arrivals
    assert np.array_equal(arrivals_h(res), arrivals_h(plain))
    j = res.tables()["journeys"]
    inbound = j[(j.journey == "inbound") & (j.households > 0)]
    assert np.allclose(inbound.mean_months, 4.0)
    check_route_conservation(res)


def test_onward_journey_time_comes_from_the_links():
    # a plain journey is a flight of 0.05 months (one calendar month); one a broker
    # arranges goes through the Hub (1 + 0.5 months: two calendar months)
    res = simulate(small(end="2006-12"), seed=3)
    households, persons, months, broker, cost = res.recorder.journeys[:, ONWARD].sum(axis=0)
    assert broker > 0 and households - broker > 0
    assert months == pytest.approx((households - broker) * 1 + broker * 2)
    j = res.tables()["journeys"]
    on = j[(j.journey == "onward") & (j.households > 0)]
    assert on.mean_months.between(1, 2).all() and (on.mean_cost == 0).all()


def test_route_choice_follows_the_kernel_weight_rule():
    extra = """
    - {name: Camp2, type: transit, country: FRD, attractiveness: 3, source: test}
"""
    text = BASE.format(end="2002-12", capital="", closures="[]").replace(
        "    - {name: Hub,", extra.strip("\n") + "\n    - {name: Hub,")
    text = text.replace(
        "    - {from: Capital, to: C,",
        "    - {from: Home, to: Camp2, distance_km: 900, mode: foot, months: 2, source: test}\n"
        "    - {from: Camp2, to: Capital, distance_km: 100, mode: bus, months: 1, source: test}\n"
        "    - {from: Capital, to: C,", 1)
    c = compile_scenario(load_text(text, "fork.yaml"))
    rg = c.routes
    # weight of a first step: attractiveness / (softening + link + shortest rest to the end)
    w_camp = 1.0 / (10 + 300 + 500)
    w_camp2 = 3.0 / (10 + 900 + 100)
    chances = rg.inbound.chances(0)
    via = {rg.route_names(p)[1]: prob for p, prob in chances.items()}
    assert via["Camp"] == pytest.approx(w_camp / (w_camp + w_camp2))
    assert via["Camp2"] == pytest.approx(w_camp2 / (w_camp + w_camp2))
    # the draws follow the chances
    u = np.random.default_rng(0).random(20000)
    drawn = rg.inbound.draw(np.zeros(u.size, np.int64), u)
    share = np.mean([rg.route_names(p)[1] == "Camp2" for p in drawn])
    assert share == pytest.approx(via["Camp2"], abs=0.015)


# --- capacity and closures ---------------------------------------------------------------------


def test_capacity_holds_the_excess_back():
    res = simulate(small(capital="capacity: 10, "), seed=4)
    rec = res.recorder
    # persons entering the first country per month (after the initial month): at most the
    # capacity plus the household that crosses it
    biggest = 1 + int(res.agents.children.max())
    entered_p = rec.trans_p[1:, State.PENDING, State.FIRST_COUNTRY]
    assert entered_p.max() <= 10 + biggest - 1
    assert entered_p.max() >= 10  # it binds
    # the excess waits at the end of Camp -> Capital (counted at Camp), none is lost
    camp = res.compiled.routes.names.index("Camp")
    assert rec.transit_h[:, INBOUND, camp].max() > 10
    plain = simulate(small(), seed=4)
    assert arrivals_h(res)[1:].sum() < arrivals_h(plain)[1:].sum()
    check_route_conservation(res)


CLOSE_LINK = "[{date: 2001-01, end: 2002-01, what: link, from: Camp, to: Capital, source: test}]"


def test_closure_stops_arrivals_and_releases_them_on_reopening():
    res = simulate(small(closures=CLOSE_LINK), seed=5)
    plain = simulate(small(), seed=5)
    a, b = arrivals_h(res), arrivals_h(plain)
    closed = slice(12, 24)  # 2001-01 .. 2001-12
    assert a[closed].sum() == 0 and b[closed].sum() > 0
    # everyone held comes through in the month it reopens, and then all is as before
    assert a[24] == b[12:25].sum()
    assert a[:12].sum() == b[:12].sum()
    assert np.array_equal(a[25:], b[25:])
    assert np.cumsum(a)[-1] == np.cumsum(b)[-1]
    j = res.tables()["journeys"]
    assert j.set_index(["year", "journey"]).loc[(2002, "inbound"), "mean_months"] > 4
    check_route_conservation(res)


def test_border_closure_covers_every_link_between_the_two_countries():
    closures = "[{date: 2001-01, end: 2001-07, what: border, between: [BOR, FRD], source: test}]"
    c = compile_scenario(small(closures=closures))
    rg = c.routes
    pair = {"BOR", "FRD"}
    crossing = np.array([{rg.countries[i], rg.countries[j]} == pair
                         for i, j in zip(rg.link_from, rg.link_to, strict=True)])
    assert crossing.sum() == 2  # Camp -> Capital and Capital -> Hub
    assert (~rg.open_link[12:18, crossing]).all()
    assert rg.open_link[12:18, ~crossing].all()
    assert rg.open_link[:12].all() and rg.open_link[18:].all()
    res = simulate_compiled(c)
    assert arrivals_h(res)[12:18].sum() == 0
    check_route_conservation(res)


def test_closed_location_keeps_people_in_and_out():
    closures = "[{date: 2001-03, end: 2001-09, what: location, name: Camp, source: test}]"
    res = simulate(small(closures=closures), seed=6)
    rec, rg = res.recorder, res.compiled.routes
    # nobody leaves Camp for the Capital while it is closed (arrivals stop half a month
    # later at most), and whoever reached its gate waits on the link from Home
    assert arrivals_h(res)[15:20].sum() == 0
    home = rg.names.index("Home")
    assert rec.transit_h[19, INBOUND, home] > rec.transit_h[13, INBOUND, home]
    # once it opens, the queue moves on through Camp at once
    assert arrivals_h(res)[20] > 3 * arrivals_h(res)[13]
    assert rec.transit_h[20, INBOUND, home] < rec.transit_h[19, INBOUND, home]
    check_route_conservation(res)


def test_partial_closure_caps_entries():
    closures = ("[{date: 2001-01, end: 2002-01, what: location, name: Capital, capacity: 3, "
                "source: test}]")
    res = simulate(small(closures=closures), seed=7)
    entered = res.recorder.trans_p[12:24, State.PENDING, State.FIRST_COUNTRY]
    biggest = 1 + int(res.agents.children.max())
    assert 0 < entered.max() <= 3 + biggest - 1
    check_route_conservation(res)


# --- invariants --------------------------------------------------------------------------------


def test_same_seed_same_numbers():
    sc = small(capital="capacity: 10, ", closures=CLOSE_LINK)
    a, b, c = simulate(sc, seed=9), simulate(sc, seed=9), simulate(sc, seed=10)
    for name in ("transit", "journeys", "applications", "stocks"):
        pd.testing.assert_frame_equal(a.tables()[name], b.tables()[name])
    assert not a.tables()["transit"].equals(c.tables()["transit"])


def test_scenarios_without_routes_have_no_route_tables():
    res = simulate("toy", seed=1)
    assert "transit" not in res.tables() and res.recorder.transit_h is None


# --- schema ------------------------------------------------------------------------------------


def _error(tmp_path: Path, text: str) -> str:
    p = tmp_path / "bad.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    return str(info.value)


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.parametrize("old,new,field,words", [
    ("{from: Hub, to: C,", "{from: Hub, to: Nowhere,", "routes.links[6].to", ("Nowhere",)),
    ("speed_km_per_month: 100, source", "speed_km_per_month: 100, months: 3, source",
     "routes.links[0].months", ("exactly one",)),
    ("closures: []", "closures: [{date: 2003-01, end: 2002-01, what: link, from: Camp, "
     "to: Capital, source: x}]", "routes.closures[0].end", ("not after",)),
    ("closures: []", "closures: [{date: 2001-01, what: link, from: Camp, to: C, "
     "source: x}]", "routes.closures[0].to", ("no link",)),
    ("closures: []", "closures: [{date: 2001-01, what: location, name: Camp, between: "
     "[FRD, BOR], source: x}]", "routes.closures[0].between", ("location",)),
    ("closures: []", "closures: [{date: 2001-01, what: border, between: [ARD, CRP], "
     "source: x}]", "routes.closures[0].between", ("ARD-CRP",)),
    ("{name: E, type: destination, country: ELB, source: test}",
     "{name: E, type: hub, country: ELB, source: test}", "routes.locations",
     ("ELB",)),
    ("{name: Capital, type: first_country, country: BOR,",
     "{name: Capital, type: first_country, country: FRD,", "routes.locations[2].country",
     ("BOR",)),
    ("distance_km: 300, mode: foot", "distance_km: -3, mode: foot",
     "routes.links[0].distance_km", ("> 0",)),
    ("{from: Capital, to: C, distance_km: 2000, mode: flight, months: 0.05, source: test}",
     "{from: Capital, to: C, distance_km: 2000, mode: plane, months: 0.05, source: test}",
     "routes.links[2].mode", ("flight",)),
])
def test_schema_errors_name_the_field(tmp_path, old, new, field, words):
    text = BASE.format(end="2004-12", capital="", closures="[]")
    assert old in text
    bad = text.replace(old, new, 1)
    msg = _error(tmp_path, bad)
    assert "bad.yaml:" in msg and f"{field}:" in msg and "Fix:" in msg, msg
    for w in words:
        assert w in msg, msg
    if field.startswith("routes.links[") or field.startswith("routes.closures["):
        assert f"bad.yaml:{_line(bad, new.split(',')[0])}:" in msg, msg


def test_shorter_horizon_keeps_the_routes():
    # closures after the end of a shorter horizon take no effect (no error)
    sc = load_text("extends: nk-onward\nhorizon: {start: 1999-01, end: 2015-12}\n"
                   "events: [{id: can-tb4-2016, remove: true}, {id: can-vacate-2017, "
                   "remove: true}]\ncalibration: {years: 2000-2003, held_out: 2013-2015}\n")
    rg = compile_scenario(sc).routes
    assert rg.open_link.all() and rg.open_loc.all() and not np.isfinite(rg.cap).all()


def test_route_section_round_trips():
    from onward.scenario.loader import scenario_hash, scenario_to_yaml

    sc = small(capital="capacity: 10, ", closures=CLOSE_LINK)
    again = load_text(scenario_to_yaml(sc))
    assert again == sc and scenario_hash(again) == scenario_hash(sc)


# --- the flagship ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def flagship_runs():
    sc = load_scenario("nk-onward")
    assert sc.routes is not None
    with_closures = simulate_compiled(compile_scenario(sc, until=2021))
    routes = sc.routes.model_copy(update={"closures": []})
    without = simulate_compiled(compile_scenario(sc.model_copy(update={"routes": routes}),
                                                 until=2021))
    return with_closures, without


def _kor_arrivals(res) -> pd.Series:
    # persons reaching the first country over the route graph, per year
    return pd.Series(res.recorder.journeys[:, INBOUND, 1],
                     index=res.compiled.years()).groupby(level=0).sum()


def test_flagship_arrivals_match_mou_and_fall_after_the_2020_closure(flagship_runs):
    res, without = flagship_runs
    sim = _kor_arrivals(res)
    _, mou = data.arrival_series("mou_arrivals")
    mou = mou.set_index("year").arrivals
    years = range(2000, 2020)
    diff = (sim.loc[years] - mou.loc[years]).abs()
    assert (diff <= np.maximum(5, 0.005 * mou.loc[years])).all(), diff.to_dict()
    # the closure makes 2021 arrivals fall by more than 80% against 2019 ...
    assert sim.loc[2021] < 0.2 * sim.loc[2019]
    # ... and the closure does it: without closures those setting out still arrive
    alt = _kor_arrivals(without)
    assert alt.loc[2021] > 0.8 * alt.loc[2019]
    check_route_conservation(res)


def test_flagship_journeys_broker_share_and_time_in_transit(flagship_runs):
    res, _ = flagship_runs
    j = res.tables()["journeys"].set_index(["year", "journey"])
    inbound = j.xs("inbound", level="journey").loc[2000:2019]
    onward = j.xs("onward", level="journey").loc[2005:2019]
    # inbound: most take a broker-only route; months in transit are those of the routes
    assert (inbound.broker_share > 0.8).all()
    rg = res.compiled.routes
    span = rg.path_ticks[rg.path_start != rg.first_loc] / TICKS
    assert (inbound.mean_months >= np.floor(span.min()) + 1).all()
    assert (inbound.mean_months <= np.floor(span.max()) + 1).all()
    # onward: brokers arrange some moves, journeys last one or two months
    assert (onward.households > 0).all()
    assert onward.mean_months.between(1.0, 2.0).all()
    share = (onward.broker_share * onward.households).sum() / onward.households.sum()
    assert 0.05 < share < 0.95
    # people are held in China when its exits close (2020-02), not deleted
    t = res.tables()["transit"]
    held = t[(t.year == 2021) & (t.month == 6) & (t.country == "CHN")].persons.sum()
    assert held > 100
