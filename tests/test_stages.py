"""The compiled stages (``onward.engine.stages_numba``) against their NumPy expressions.

Each test takes the flagship mid-run, copies the engine, runs the stage once as the engine
does (compiled) and once as the plain NumPy code below (how the stage was written before it
was compiled), from the same random stream, and asserts that every agent column, the
perceived success and the recorded flows come out equal, element for element.
"""

from __future__ import annotations

import copy
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onward.api import _scenario
from onward.engine import stages_numba
from onward.engine.compile import compile_scenario
from onward.engine.model import COMMUNITY_SATURATION, FIRST, INFO_MAX, OFFER_MONTHS, Engine
from onward.engine.rng import Stage
from onward.engine.state import State


def engine_at(month: int, seed: int = 5, rule: str | None = None) -> Engine:
    """The flagship engine after ``month`` months, ready to run month ``month``'s stages."""
    c = compile_scenario(_scenario("nk-onward"), seed=seed, until=2012)
    if rule is not None:
        c.rule = rule
    e = Engine(c)
    e.run(months=month)
    ag, t = e.ag, month
    e.prev = ag.state.copy()
    e.born = np.zeros(0, np.int64)
    if e.transit is not None:
        e.travel(t)
    e.arrivals(t)
    e.scan_rows()
    # the scan against its NumPy expression
    fc_mask = ag.state[:e.n] == FIRST
    fc = np.flatnonzero(fc_mask)
    abroad = np.flatnonzero(ag.state >= State.CLAIMANT)
    w = (1 + ag.children[abroad]).astype(np.float64)
    community = np.bincount(ag.dest[abroad].astype(np.int64), weights=w, minlength=c.n_dest)
    onward = abroad[~ag.direct[abroad]]
    for got, want in ((e.fc_mask, fc_mask), (e.fc, fc), (e.fc_onward, fc[~ag.direct[fc]]),
                      (e.abroad, abroad), (e.abroad_onward, onward),
                      (e.irregular_onward, onward[ag.state[onward] == State.IRREGULAR]),
                      (e.community, community)):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    assert e.irregular_onward.size and ag.direct[abroad].any() or month < 100
    return e


def assert_same(a: Engine, b: Engine) -> None:
    for f in fields(a.ag):
        x, y = getattr(a.ag, f.name), getattr(b.ag, f.name)
        assert np.array_equal(x, y, equal_nan=True), f"agent column {f.name} differs"
    assert np.array_equal(a.success, b.success)
    assert np.array_equal(a.rec.flow_h, b.rec.flow_h)
    assert np.array_equal(a.rec.flow_p, b.rec.flow_p)
    assert np.array_equal(a.rec.births, b.rec.births)
    assert np.array_equal(getattr(a, "born", None), getattr(b, "born", None))
    # both consumed the same numbers: the next draws of every stream agree
    for stage in Stage:
        assert a.rng(stage).random() == b.rng(stage).random(), f"stream {stage.name}"


# --- the NumPy expressions of the stages ------------------------------------------------
def np_refresh_info(e, rows, dests, t, rng):
    if rows.size == 0:
        return
    decay = max(e.g("capability.information_decay", t), 1e-6)
    life = rng.geometric(decay, rows.size) if decay < 1 else np.ones(rows.size, np.int64)
    until = np.minimum(t + life, INFO_MAX).astype(np.int16)
    np.maximum.at(e.ag.info_until, (rows, dests.astype(np.int64)), until)
    np.maximum.at(e.ag.info_any, rows, until)


def np_integration(e, t):
    ag, n, m = e.ag, e.n, e.fc_mask
    p = e._month_params[t]
    rng = e.rng(Stage.INTEGRATION)
    f32 = np.float32
    skill = ag.skill[:n]
    support = ((t - ag.arrive[:n]) < p["resettlement.support_months"]) & ~ag.returned[:n]
    potential = f32(p["integration.potential_base"]) + f32(
        p["integration.potential_slope"]) * e.capability[:n]
    f = min(max(p["integration.job_finding_rate"], 1e-9), 1 - 1e-9)
    odds = f32(f / (1 - f)) * np.exp(f32(p["integration.skill_job_effect"]) * (skill - 0.5))
    p_find = odds / (1 + odds) * f32(1 - p["integration.hiring_discrimination"])
    u = rng.random((2, n), dtype=np.float32)
    emp = np.where(ag.employed[:n], u[0] >= p["integration.job_loss_rate"], u[0] < p_find)
    wage = np.minimum(potential * f32(1 - p["integration.wage_discrimination"]),
                      f32(p["integration.glass_ceiling"]))
    income = np.where(emp, wage, f32(p["integration.welfare_income"]))
    frustration = np.clip((potential - wage) / potential, 0, 1)
    discrim = f32(p["integration.discrimination_memory"]) * ag.discrim[:n] + (
        u[1] < p["integration.discrimination_rate"])
    saved = f32(p["integration.savings_rate"]) * np.maximum(
        income - f32(p["integration.subsistence"]), 0)
    push = (f32(p["aspiration.w_frustration"]) * frustration
            + f32(p["aspiration.w_discrimination"]) * discrim
            + f32(p["aspiration.w_unemployment"]) * ~emp
            + f32(p["aspiration.w_deprivation"]) * np.maximum(0, 1 - income)
            - f32(p["resettlement.support_relief"]) * support)
    satisfaction = (f32(p["aspiration.satisfaction_income"]) * income
                    + f32(p["aspiration.satisfaction_support"]) * e.log_degree[:n]
                    - f32(p["aspiration.satisfaction_discrimination"]) * discrim)
    funds = ag.funds[:n]
    np.add(funds, saved, out=funds, where=m)
    for name, value in (("employed", emp), ("income", income), ("frustration", frustration),
                        ("discrim", discrim), ("push", push), ("satisfaction", satisfaction)):
        np.copyto(getattr(ag, name)[:n], value, where=m)


def np_gates_pull(e, i, t, exclude_current=False):
    ag, c, p, dp = e.ag, e.c, e._month_params[t], e.dp
    open_ = dp("open", t) > 0.5
    travel = dp("travel_cost", t)
    fee = p["brokers.fee"]
    offer = (ag.offer_until[i] >= t) & (ag.offer_dest[i] >= 0)
    keep = np.ones(i.size, bool) if not c.information_gating else ag.info_any[i] >= t
    if c.capability_gating:
        capable = (ag.skill[i] >= p["capability.min_skill"]) | offer
        cheapest = travel[open_].min() if open_.any() else np.inf
        keep &= capable & (ag.funds[i] >= cheapest)
    rows = np.flatnonzero(keep)
    j = i[rows]
    if c.information_gating:
        allowed = np.take(ag.info_until.T, j, axis=1) >= t
        allowed &= open_[:, None]
    else:
        allowed = np.repeat(open_[:, None], j.size, axis=1)
    o = np.flatnonzero(offer[rows])
    od = ag.offer_dest[j[o]].astype(np.int64)
    if c.capability_gating:
        funds = ag.funds[j]
        allowed &= funds[None, :] >= travel[:, None]
        allowed[od, o] &= funds[o] >= travel[od] + fee
    if exclude_current:
        cur = ag.dest[j].astype(np.int64)
        has = np.flatnonzero(cur >= 0)
        allowed[cur[has], has] = False
    ok = np.flatnonzero(allowed.any(axis=0))
    cost = np.repeat(travel[:, None], ok.size, axis=1)
    with_offer = np.flatnonzero(offer[rows[ok]])
    cost[ag.offer_dest[j[ok[with_offer]]].astype(np.int64), with_offer] += fee
    capable_rows = capable[rows[ok]] if c.capability_gating else np.ones(ok.size, bool)
    rows, allowed, cost = rows[ok], allowed[:, ok].T, cost.T
    # the pull of each destination for those rows
    k = i[rows]
    base, school, socdem = e._pull_terms(t)  # the destination terms (not compiled)
    pull = base[:, None] + np.outer(socdem, ag.socdem[k])
    kids = np.flatnonzero(ag.children[k] > 0)
    pull[:, kids] += school[:, None]
    pull = pull.T
    od = ag.offer_dest[k].astype(np.int64)
    on = np.flatnonzero((od >= 0) & (ag.offer_until[k] >= t))
    if on.size:
        d = od[on]
        s = e.success[d]
        bump = np.clip(s + ag.optimism[k[on]], 0, 1) - np.clip(s, 0, 1)
        pull[on, d] += p["aspiration.w_recognition"] * bump
    return rows, allowed, capable_rows, cost, pull


def np_information(e, t):
    ag = e.ag
    rng = e.rng(Stage.INFORMATION)
    abroad = e.abroad[~ag.direct[e.abroad]]
    start = e.adj.indptr[abroad]
    cnt = e.adj.indptr[abroad + 1] - start
    src = np.repeat(abroad, cnt)
    offs = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    nbr = e.adj.indices[np.repeat(start, cnt) + offs].astype(np.int64)
    ok = (ag.state[nbr] == FIRST) & (rng.random(nbr.size) < e.g("network.diaspora_share", t))
    np_refresh_info(e, nbr[ok], ag.dest[src[ok]], t, rng)
    fc = e.fc
    if fc.size == 0:
        return
    told = fc[rng.random(fc.size) < e.g("network.peer_share", t)]
    if told.size == 0:
        return
    known = np.take(ag.info_until.T, told, axis=1)
    best = known.argmax(axis=0)
    knows = known[best, np.arange(told.size)] >= t
    told, best = told[knows], best[knows]
    deg = ag.degree[told]
    told, best, deg = told[deg > 0], best[deg > 0], deg[deg > 0]
    pick = e.adj.indices[e.adj.indptr[told] + np.floor(
        rng.random(told.size) * deg).astype(np.int64)]
    np_refresh_info(e, pick.astype(np.int64), best, t, rng)


def np_brokers(e, t):
    ag, g = e.ag, e.g
    open_ = e.dp("open", t) > 0.5
    best = float(e.success[open_].max()) if open_.any() else 0.0
    act = g("brokers.activity", t) * g("brokers.contacts", t) * best
    if act <= 0:
        return
    active = np.flatnonzero(ag.broker & (ag.state != State.PENDING)
                            & (ag.state != State.TRANSIT))
    active = active[ag.degree[active] > 0]
    if active.size == 0:
        return
    rng = e.rng(Stage.BROKERS)
    b = np.repeat(active, rng.poisson(act, active.size))
    if b.size == 0:
        return
    nbr = e.adj.indices[e.adj.indptr[b] + np.floor(
        rng.random(b.size) * ag.degree[b]).astype(np.int64)].astype(np.int64)
    nbr = nbr[ag.state[nbr] == FIRST]
    fee = g("brokers.fee", t)
    pushed = 1 / (1 + np.exp(-ag.push[nbr]))
    score = pushed + np.minimum(ag.funds[nbr] / max(fee + 1.0, 1e-6), 1.0) - 1.0
    keep = rng.random(nbr.size) < 1 / (1 + np.exp(-g("brokers.targeting", t) * score))
    nbr = nbr[keep]
    if nbr.size == 0:
        return
    w = np.where(open_, np.exp(g("brokers.success_focus", t) * e.success), 0.0)
    if w.sum() <= 0:
        return
    cw = np.cumsum(w) / w.sum()
    d = np.minimum(np.searchsorted(cw, rng.random(nbr.size), side="right"), w.size - 1)
    np_refresh_info(e, nbr, d, t, rng)
    ag.optimism[nbr] = g("brokers.optimism", t)
    ag.offer_dest[nbr] = d
    ag.offer_until[nbr] = t + OFFER_MONTHS - 1


def np_asylum(e, t):
    ag = e.ag
    cl = np.flatnonzero(ag.state == State.CLAIMANT)
    due = cl[ag.due[cl] <= t]
    rng = e.rng(Stage.ASYLUM)
    if due.size:
        d = ag.dest[due].astype(np.int64)
        u = rng.random((2, due.size))
        checked = (e.dp("checks_prior_nationality", t)[d] > 0.5) & ~ag.direct[due]
        found = checked & (~ag.concealed[due] | (u[0] < e.dp("detection", t)[d]))
        granted = ~found & (u[1] < e.dp("recognition_rate", t)[d])
        rec_, ref = due[granted], due[~granted]
        ag.state[rec_] = State.RECOGNISED
        e.rec.flow(t, "recognised", ag, rec_)
        e.rec.flow(t, "refused", ag, ref)
        e.rec.flow(t, "refused_prior_nationality", ag, due[found])
        n_dec = np.bincount(d, minlength=e.c.n_dest)
        n_rec = np.bincount(d[granted], minlength=e.c.n_dest)
        m = e.g("brokers.success_memory", t)
        has = n_dec > 0
        e.success[has] = m * e.success[has] + (1 - m) * n_rec[has] / n_dec[has]
        np_after_refusal(e, ref, t, rng)
    irr = np.flatnonzero((ag.state == State.IRREGULAR) & ~ag.direct)
    if irr.size:
        out = irr[rng.random(irr.size) < e.dp("removal_rate", t)[ag.dest[irr]]]
        e.rec.flow(t, "removals", ag, out)
        e._return(out)


def np_after_refusal(e, ref, t, rng):
    ag = e.ag
    if ref.size == 0:
        return
    u = rng.random(ref.size)
    p_ret = e.g("after_decision.refused_return", t)
    p_re = e.g("after_decision.refused_remigrate", t)
    direct = ag.direct[ref]
    ret = ref[(u < p_ret) & ~direct]
    e.rec.flow(t, "returns", ag, ret)
    e._return(ret)
    again = ref[(u >= p_ret) & (u < p_ret + p_re) & ~direct]
    stay = ref[((u >= p_ret + p_re) | direct)]
    ag.state[stay] = State.IRREGULAR
    ag.state[again] = State.IRREGULAR
    e._remigrate(again, t, rng)


def np_lodge(e, who, t):
    ag = e.ag
    bit = np.left_shift(np.uint64(1), ag.dest[who].astype(np.uint64))
    repeat = (ag.claimed[who] & bit) > 0
    e.rec.flow(t, "claims", ag, who[~repeat])
    e.rec.flow(t, "repeat_claims", ag, who[repeat])
    ag.claimed[who] |= bit


def np_journey(e, t):
    done = e.transit.reached_dest
    if done.size == 0:
        return
    e.ag.state[done] = State.CLAIMANT
    e._schedule_decision(done, t, e.rng(Stage.JOURNEY))
    np_lodge(e, done, t)


def np_destination_life(e, t):
    ag, g = e.ag, e.g
    i = np.flatnonzero(ag.state >= State.CLAIMANT)
    if i.size == 0:
        return
    rng = e.rng(Stage.DESTINATION)
    d = ag.dest[i].astype(np.int64)
    la = ag.lang_adult[i]
    ag.lang_adult[i] = la + g("destination_life.language_adult", t) * (1 - la)
    kids = ag.children[i] > 0
    lc = ag.lang_child[i]
    ag.lang_child[i] = np.where(kids, lc + g("destination_life.language_child", t) * (1 - lc),
                                lc)
    irregular = ag.state[i] == State.IRREGULAR
    u = rng.random((3, i.size))
    emp = ag.dest_employed[i]
    p_find = g("destination_life.job_finding", t) * (0.2 + 0.8 * ag.lang_adult[i]) \
        * np.where(irregular, 0.5, 1.0)
    start = ~emp & (u[0] < p_find)
    stop = emp & (u[0] < g("integration.job_loss_rate", t))
    new_emp = (emp | start) & ~stop
    p_co = g("destination_life.coethnic_employment", t) * (1 - 0.7 * ag.lang_adult[i])
    co = np.where(start, irregular | (u[1] < p_co), ag.coethnic[i]) & new_emp
    ag.dest_employed[i] = new_emp
    ag.coethnic[i] = co
    event = co & (u[2] < g("destination_life.friction_rate", t) * e.dp("competition", t)[d])
    ag.friction[i] = 0.9 * ag.friction[i] + event
    protect = np.minimum(np.log1p(e.community) / np.log1p(COMMUNITY_SATURATION), 1.0)
    loss = g("destination_life.identity_loss_child", t) * (1 - protect[d])
    ag.identity[i] = np.where(kids, ag.identity[i] * (1 - loss), ag.identity[i])


def np_births(e, t):
    ag, n = e.ag, e.n
    age = ag.age0[:n] + t / 12.0
    can = e.fc_mask & ag.female[:n] & (age >= 18) & (age <= 40)
    rng = e.rng(Stage.BIRTHS)
    born = np.flatnonzero(can & (rng.random(n) < e.g("population.birth_rate", t)))
    if born.size == 0:
        return
    ag.children[born] += 1
    e.born = born
    e.rec.births[t] += np.bincount(e.prev[born], minlength=e.rec.births.shape[1])


def np_depart(e, movers, dest, cost, t, rng):
    ag = e.ag
    ag.state[movers] = State.TRANSIT
    ag.dest[movers] = dest
    ag.funds[movers] = np.maximum(ag.funds[movers] - cost, 0)
    p_conceal = np.clip(e.g("journey.concealment", t) + ag.via_broker[movers]
                        * e.g("journey.broker_concealment", t), 0, 1)
    ag.concealed[movers] = rng.random(movers.size) < p_conceal
    ag.due[movers] = t + np.round(e.dp("journey_months", t)[dest]).astype(np.int32)
    ag.moves[movers] += 1
    ag.offer_dest[movers] = -1


def np_profile_values(e, who, t):
    """The households ``who`` x PROFILE_ATTRS matrix the profiles summed (float64)."""
    from onward.engine.recorder import PROFILE_ATTRS

    ag = e.ag
    cols = {
        "skill": ag.skill[who], "drive": ag.drive[who], "funds": ag.funds[who],
        "degree": ag.degree[who], "satisfaction": ag.satisfaction[who],
        "income": ag.income[who], "frustration": ag.frustration[who],
        "aspiration": ag.aspiration[who], "children": ag.children[who],
        "age": ag.age0[who] + t / 12.0, "female": ag.female[who],
    }
    return np.column_stack([np.asarray(cols[a], dtype=np.float64) for a in PROFILE_ATTRS])


def np_destination_profile(e, who, funds, t):
    """First movers ``who`` (``funds`` as held before the journey) added to their
    destination's row of the recorder's sums, as np.add.at adds the rows of the households
    x DEST_PROFILE_ATTRS matrix."""
    from onward.engine.recorder import DEST_PROFILE_ATTRS

    ag, rec = e.ag, e.rec
    cols = {
        "skill": ag.skill[who], "funds": funds, "children": ag.children[who],
        "degree": ag.degree[who], "via_broker": ag.via_broker[who],
        "concealed": ag.concealed[who], "age": ag.age0[who] + t / 12.0,
        "female": ag.female[who],
    }
    values = np.column_stack([np.asarray(cols[a], dtype=np.float64)
                              for a in DEST_PROFILE_ATTRS]).reshape(who.size,
                                                                    len(DEST_PROFILE_ATTRS))
    d = ag.dest[who].astype(np.int64)
    np.add.at(rec.dest_profile_sum, d, values)
    rec.dest_profile_n += np.bincount(d, minlength=rec.n_dest)


# --- the tests ----------------------------------------------------------------------------
MONTHS = (30, 110, 160)  # 2001-07, 2008-03, 2012-05 (after the UK's checks began)


@pytest.fixture(scope="module", params=MONTHS)
def mid_run(request):
    return engine_at(request.param), request.param


@pytest.mark.parametrize("stage", ["births", "integration", "information", "brokers",
                                   "journey", "asylum", "destination_life"])
def test_compiled_stage_equals_numpy(mid_run, stage):
    e, t = mid_run
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    getattr(a, stage)(t)
    globals()[f"np_{stage}"](b, t)
    assert_same(a, b)


def test_stages_change_something(mid_run):
    """The comparison above is not vacuous: the stages do change the agents."""
    e, t = mid_run
    a = copy.deepcopy(e)
    for stage in ("integration", "information", "brokers", "asylum", "destination_life"):
        getattr(a, stage)(t)
    changed = [f.name for f in fields(a.ag)
               if not np.array_equal(getattr(a.ag, f.name), getattr(e.ag, f.name))]
    assert {"funds", "push", "info_until", "offer_dest"} <= set(changed)


@pytest.mark.parametrize("exclude_current", [False, True])
def test_gates_and_pull_equal_numpy(mid_run, exclude_current):
    e, t = mid_run
    i = e.fc if not exclude_current else np.flatnonzero(e.ag.state >= State.CLAIMANT)
    got = e._gates(i, t, exclude_current=exclude_current)
    want = np_gates_pull(e, i, t, exclude_current)
    assert got[0].size > 0 or (exclude_current and t < 100)
    for name, x, y in zip(("rows", "allowed", "capable", "cost", "pull"), got, want,
                          strict=True):
        assert x.shape == y.shape, name
        assert np.array_equal(x, y), name


@pytest.mark.parametrize("busy", [False, True])
@pytest.mark.parametrize("rule", ["aspirations_capabilities", "planned_behaviour"])
@pytest.mark.parametrize("month", MONTHS)
def test_compiled_decision_equals_the_rules_numpy(rule, month, busy):
    """The compiled decision (stages_numba.decide) against the rule's own NumPy expression
    (Engine._decide_numpy, the path every other rule takes): same movers, destinations,
    brokers, costs, aspirations, draws. ``busy`` raises the hazard, so that hundreds move
    and choose (a month of the flagship has a few dozen movers)."""
    e = engine_at(month, rule=rule)
    e.integration(month)
    e.information(month)
    e.brokers(month)
    assert e._rule_code is not None
    if busy:
        e._month_params[month] = {**e._month_params[month], "decision.base_hazard": 0.9,
                                  "aspiration.intercept": 2.0, "decision.tpb_intercept": 2.0,
                                  "brokers.uptake": 0.95}
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    b._rule_code = None
    a.decision(month)
    b.decision(month)
    assert_same(a, b)
    moved = a.ag.moves != e.ag.moves
    assert moved.sum() > (200 if busy else 0) and a.ag.via_broker[moved].any() or month < 100
    # remigration chooses among the destinations but the current one, for everyone
    who = np.flatnonzero(e.ag.state >= State.CLAIMANT)
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    b._rule_code = None
    a._remigrate(who, month, a.rng(Stage.ASYLUM))
    b._remigrate(who, month, b.rng(Stage.ASYLUM))
    assert_same(a, b)
    assert (a.ag.state[who] == State.TRANSIT).sum() > 0 or month < 100


@pytest.mark.parametrize("rule", ["aspirations_capabilities", "planned_behaviour"])
@pytest.mark.parametrize("month", MONTHS)
def test_compiled_aspiration_equals_the_rules_numpy(rule, month):
    """The year end's aspiration of everyone in the first country (stages_numba.aspirations)
    against the rule's NumPy expression: those who pass the gates and those who do not.
    Equal as stored (the aspiration column is float32): compiled and NumPy exponentials
    may differ in the last bit of a float64."""
    e = engine_at(month, rule=rule)
    e.integration(month)
    e.information(month)
    e.brokers(month)
    i = e.fc
    got = e._aspiration_of(i, month)
    e._rule_code = None
    want = e._aspiration_of(i, month)
    rows = e._gates(i, month)[0]
    assert 0 < rows.size < i.size or month < 100  # both kinds of row are there
    col = e.ag.aspiration.dtype
    assert np.array_equal(got.astype(col), want.astype(col))
    assert np.allclose(got, want, rtol=1e-14, atol=0)
    assert np.unique(got).size > 100  # not a constant


def test_compiled_decision_a_whole_run():
    """Both decision paths give every table of a short run, number for number."""
    import pandas as pd

    from onward.engine.model import SimulationResult
    c = compile_scenario(_scenario("nk-onward"), seed=2, until=2009)
    tables = []
    for code in ("compiled", "numpy"):
        e = Engine(c)
        if code == "numpy":
            e._rule_code = None
        with np.errstate(all="ignore"):
            e.run()
        tables.append(SimulationResult(c, e.rec, e.ag, e.adj, 0.0, {}).tables())
    for name, df in tables[0].items():
        pd.testing.assert_frame_equal(df, tables[1][name], check_exact=True)


def test_compiled_travel_equals_the_numpy_loop():
    """Travel on the route graph: the compiled waves (months with nothing in the way) and
    the NumPy loop give every table of the flagship, closures and capacities included."""
    import pandas as pd

    from onward.engine import routes
    from onward.engine.model import SimulationResult
    c = compile_scenario(_scenario("nk-onward"), seed=4)
    calls = {"n": 0}
    real = stages_numba.travel_waves

    def counted(*args):
        calls["n"] += 1
        return real(*args)

    tables = []
    for compiled in (True, False):
        e = Engine(c)
        assert isinstance(e.transit, routes.Transit)
        e.transit.compiled_waves = compiled
        routes.stages_numba.travel_waves = counted
        try:
            with np.errstate(all="ignore"):
                e.run()
        finally:
            routes.stages_numba.travel_waves = real
        if compiled:
            # most months take the compiled pass, the closed or crowded ones the loop
            assert 200 < calls["n"] < c.run_months
        tables.append(SimulationResult(c, e.rec, e.ag, e.adj, 0.0, {}).tables())
    assert calls["n"] < c.run_months  # the NumPy run did not call it
    for name, df in tables[0].items():
        pd.testing.assert_frame_equal(df, tables[1][name], check_exact=True)


def test_profiles_off_gives_the_same_flows_and_stocks():
    from onward.engine.model import simulate_compiled
    c = compile_scenario(_scenario("nk-onward"), seed=11, until=2006)
    a = simulate_compiled(c)
    b = simulate_compiled(c, profiles=False)
    for name in ("flow_h", "flow_p", "stock_h", "stock_p", "trans_h", "trans_p", "births",
                 "onward_abroad_p"):
        assert np.array_equal(getattr(a.recorder, name), getattr(b.recorder, name)), name
    assert a.recorder.movers_n > 0 and b.recorder.movers_n == 0
    assert len(a.recorder.life_rows) > 0 and len(b.recorder.life_rows) == 0


@pytest.mark.parametrize("bad", [np.nan, -np.nan, np.inf, -np.inf])
def test_nonfinite_check_finds_each_kind(bad):
    x = np.linspace(-3e38, 3e38, 1001).astype(np.float32)
    assert not stages_numba.nonfinite(x.view(np.int32))
    for where in (0, 500, 1000):
        y = x.copy()
        y[where] = bad
        assert stages_numba.nonfinite(y.view(np.int32))


def test_compiled_decision_schedule_equals_numpys_geometric():
    """stages_numba.schedule_decisions against Engine's NumPy expression
    (``t + rng.geometric(1 / max(months[dest], 1))``): the same months, and the stream
    left where NumPy leaves it; processing times below a month, at a third (where NumPy
    switches algorithm) and long ones included."""
    rng0 = np.random.default_rng(7)
    months = np.array([0.5, 1.0, 3.0, 2.9999999999999996, 6.0, 12.0, 24.0, 100.0])
    dest = rng0.integers(0, months.size, 5000).astype(np.int8)
    who = np.sort(rng0.choice(dest.size, 3000, replace=False)).astype(np.int64)
    a, b = np.random.default_rng(11), np.random.default_rng(11)
    due_a = np.zeros(dest.size, np.int32)
    due_b = np.zeros(dest.size, np.int32)
    stages_numba.schedule_decisions(a, who, 40, dest, months, due_a)
    pm = np.maximum(months[dest[who]], 1.0)
    due_b[who] = 40 + b.geometric(1.0 / pm).astype(np.int32)
    assert np.array_equal(due_a, due_b)
    assert a.random() == b.random()
    assert np.unique(due_a[who]).size > 50


@pytest.mark.parametrize("bit", [np.random.SFC64, np.random.PCG64, np.random.Philox])
def test_a_generator_handle_draws_what_the_generator_draws(bit):
    """The engine passes the compiled stages a handle (the addresses of a generator's
    state and functions; Numba unboxes it ~15x faster than a Generator). Through it a
    stage draws the numbers it would draw from the Generator, and leaves the stream in the
    same state; a stage given the Generator itself still works."""
    from onward.engine.rng import Streams, generator_handle

    months = np.array([0.5, 3.0, 12.0])
    dest = np.arange(3000, dtype=np.int8) % 3
    who = np.arange(0, 3000, 2, dtype=np.int64)
    irr = np.arange(0, 3000, 3, dtype=np.int64)
    rate = np.array([0.3, 0.5, 0.9])
    out = []
    for use_handle in (True, False):
        g = np.random.Generator(bit(123))
        rng = generator_handle(g) if use_handle else g
        due = np.zeros(dest.size, np.int32)
        got = []
        for _ in range(3):
            stages_numba.schedule_decisions(rng, who, 10, dest, months, due)
            got += [due.copy(), stages_numba.removals(rng, irr, dest, rate)]
        out.append((got, g.random(5), g.bit_generator.state))
    (a, na, sa), (b, nb, sb) = out
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.array_equal(na, nb) and str(sa) == str(sb)
    assert 0 < a[1].size < irr.size  # the removals drew, and not all alike
    s = Streams(3)
    g = s(Stage.ASYLUM)
    assert s.handle(g) is s.handle(g) and s.handle(g) == generator_handle(g)


def test_compiled_departure_equals_numpy(mid_run):
    """Engine._depart (stages_numba.depart) against its NumPy expression, for 400
    first-country households (some with a broker, some with costs above their funds), to
    every destination; journey times of half a month round to even, as NumPy's do."""
    e, t = mid_run
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    r = np.random.default_rng(t)
    movers = np.sort(r.choice(e.fc, min(400, e.fc.size), replace=False))
    dest = r.integers(0, e.c.n_dest, movers.size).astype(np.int8)
    cost = r.uniform(0, 8, movers.size)
    for x in (a, b):
        x.ag.via_broker[movers[::3]] = True
        x.c.dest["journey_months"][t] = np.linspace(0.5, 4.5, e.c.n_dest)
    a._depart(movers, dest, cost, t, a.rng(Stage.DECISION))
    np_depart(b, movers, dest, cost, t, b.rng(Stage.DECISION))
    assert_same(a, b)
    assert a.ag.concealed[movers].any() and not a.ag.concealed[movers].all()
    assert (a.ag.funds[movers] == 0).any() and (a.ag.funds[movers] > 0).any()


def test_compiled_claims_and_refusals_equal_numpy(mid_run):
    """Claims lodged (first or repeat, stage._lodge) and the refused's outcomes
    (_after_refusal: return, try another destination, stay) against their NumPy
    expressions, for 500 households at mixed destinations, a third of them having
    claimed there before and some direct claimants among the refused."""
    e, t = mid_run
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    r = np.random.default_rng(t + 1)
    who = np.sort(r.choice(e.ag.n, 500, replace=False))
    dest = r.integers(0, e.c.n_dest, who.size).astype(np.int8)
    for x in (a, b):
        x.ag.dest[who] = dest
        x.ag.claimed[who[::3]] |= np.left_shift(np.uint64(1), dest[::3].astype(np.uint64))
        x.ag.direct[who[::7]] = True
        x.ag.state[who] = State.CLAIMANT
    a._lodge(who, t)
    np_lodge(b, who, t)
    a._after_refusal(who, t, a.rng(Stage.ASYLUM))
    np_after_refusal(b, who, t, b.rng(Stage.ASYLUM))
    assert_same(a, b)
    f = a.rec.flow_h[t]
    from onward.engine.recorder import FLOW_INDEX as K
    assert f[K["claims"]].sum() > 0 and f[K["repeat_claims"]].sum() > 0
    assert f[K["returns"]].sum() > 0
    assert (a.ag.state[who] == State.IRREGULAR).any()


@settings(max_examples=150, deadline=None)
@given(sizes=st.lists(st.tuples(st.booleans(), st.integers(0, 9)), min_size=1, max_size=12),
       seed=st.integers(0, 2**63))
def test_sfc64_steps_written_out_give_numpys_numbers(sizes, seed):
    """stages_numba.sfc64_doubles / sfc64_floats step NumPy's SFC64 state themselves:
    any interleaving of double and float32 fills (odd float32 counts use the state's
    buffered half) gives NumPy's numbers and leaves NumPy's state, and a handle of an
    SFC64 stream uses them (a handle of another bit generator does not)."""
    from onward.engine.rng import generator_handle

    a = np.random.Generator(np.random.SFC64(seed))
    b = np.random.Generator(np.random.SFC64(seed))
    addr = a.bit_generator.ctypes.state_address
    for f32, n in sizes:
        mine = stages_numba.sfc64_floats(addr, n) if f32 else stages_numba.sfc64_doubles(addr, n)
        ref = b.random(n, dtype=np.float32) if f32 else b.random(n)
        assert mine.dtype == ref.dtype and np.array_equal(mine, ref)
    sa, sb = a.bit_generator.state, b.bit_generator.state
    assert np.array_equal(sa["state"]["state"], sb["state"]["state"])
    assert (sa["has_uint32"], sa["uinteger"]) == (sb["has_uint32"], sb["uinteger"])
    assert stages_numba.sfc64_inline_ok()
    assert generator_handle(a)[4] == 1
    assert generator_handle(np.random.default_rng(seed))[4] == 0


def test_compiled_profile_sums_equal_numpy(mid_run):
    """stages_numba.profile_sums against the recorder's NumPy expression (the households x
    PROFILE_ATTRS matrix of np_profile_values, summed and summed squared along
    households), bit for bit, for every resident and for a small group."""
    from onward.engine.recorder import PROFILE_ATTRS

    assert PROFILE_ATTRS == ("skill", "drive", "funds", "degree", "satisfaction", "income",
                             "frustration", "aspiration", "children", "age", "female")
    e, t = mid_run
    ag = e.ag
    ag.aspiration[e.fc] = np.random.default_rng(t).random(e.fc.size).astype(np.float32)
    for who in (e.fc, e.fc[::97]):
        values = np_profile_values(e, who, t)
        s, q = stages_numba.profile_sums(who, ag.skill, ag.drive, ag.funds, ag.degree,
                                         ag.satisfaction, ag.income, ag.frustration,
                                         ag.aspiration, ag.children, ag.age0, t / 12.0,
                                         ag.female)
        assert np.array_equal(s, values.sum(axis=0))
        assert np.array_equal(q, (values ** 2).sum(axis=0))
        assert (s > 0).sum() >= 9


def test_compiled_destination_profile_equals_numpy(mid_run):
    """stages_numba.destination_profile_sums against np_destination_profile (the first
    movers x DEST_PROFILE_ATTRS matrix added to their destination's row with np.add.at),
    bit for bit, onto sums that already hold earlier movers."""
    from onward.engine.recorder import DEST_PROFILE_ATTRS

    assert DEST_PROFILE_ATTRS == ("skill", "funds", "children", "degree", "via_broker",
                                  "concealed", "age", "female")
    e, t = mid_run
    a, b = copy.deepcopy(e), copy.deepcopy(e)
    r = np.random.default_rng(t)
    who = np.sort(r.choice(e.fc, min(600, e.fc.size), replace=False))
    for x in (a, b):
        x.ag.dest[who] = r.integers(0, e.c.n_dest, who.size) if x is a else a.ag.dest[who]
        x.ag.via_broker[who[::4]] = True
        x.ag.concealed[who[::3]] = True
        x.rec.dest_profile_sum[:] = np.arange(x.rec.dest_profile_sum.size).reshape(
            x.rec.dest_profile_sum.shape) / 7.0
    funds = a.ag.funds[who].astype(np.float64) + 0.1
    stages_numba.destination_profile_sums(
        a.rec.dest_profile_sum, a.rec.dest_profile_n, who, a.ag.dest, a.ag.skill, funds,
        a.ag.children, a.ag.degree, a.ag.via_broker, a.ag.concealed, a.ag.age0, t / 12.0,
        a.ag.female)
    np_destination_profile(b, who, funds, t)
    assert np.array_equal(a.rec.dest_profile_sum, b.rec.dest_profile_sum)
    assert np.array_equal(a.rec.dest_profile_n, b.rec.dest_profile_n)
    assert (a.rec.dest_profile_n > 0).sum() >= 5


def test_a_copied_engine_draws_through_its_own_streams():
    """Handles hold addresses: a deep copy of an engine (as these tests make) or a pickle
    must not reuse the original's, so the copy's compiled draws move the copy's streams
    only, and equal what the original draws from the same state."""
    import pickle

    from onward.engine.rng import Streams

    s = Streams(4)
    g = s(Stage.DECISION)
    h = s.handle(g)
    for c in (copy.deepcopy(s), pickle.loads(pickle.dumps(s))):
        assert c._handles == {}
        gc = c(Stage.DECISION)
        assert c.handle(gc) != h and c.handle(gc)[0] == gc.bit_generator.ctypes.state_address
        before = g.bit_generator.state["state"]["state"].copy()
        got = stages_numba.removals(c.handle(gc), np.arange(50), np.zeros(50, np.int8),
                                    np.array([0.5]))
        assert np.array_equal(g.bit_generator.state["state"]["state"], before)
        want = stages_numba.removals(copy.deepcopy(g), np.arange(50), np.zeros(50, np.int8),
                                     np.array([0.5]))
        assert np.array_equal(got, want)
