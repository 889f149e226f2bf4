"""The engine: a monthly step over struct-of-arrays households.

Each month runs the life-course stages of MODEL.md section 2 in a fixed order, each over
the agents it concerns, as a compiled pass (:mod:`onward.engine.stages_numba`, drawing from
the stage's NumPy stream) or a handful of vectorised NumPy operations:

arrivals -> births -> integration (push) -> information (diaspora, peers) -> brokers ->
decision (aspiration, capability, choice) -> journey (claim lodged) -> asylum decisions ->
irregular stay and removal -> life at destination -> record.

The engine reads only a :class:`~onward.engine.compile.Compiled` scenario. It knows no
country, no data file and no store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onward.engine import stages_numba
from onward.engine.compile import Compiled
from onward.engine.network import GENERATORS, build_network, permuted
from onward.engine.population import build
from onward.engine.recorder import FLOW_INDEX, Recorder
from onward.engine.rng import Stage, Streams
from onward.engine.routes import Transit
from onward.engine.state import Agents, State
from onward.rules.decision import (
    AspirationsCapabilities,
    DecisionContext,
    PlannedBehaviour,
    choose_destination,
    get_rule,
)

# plain ints: NumPy compares an array with an IntEnum member about 6x slower than with an int
PENDING, FIRST, TRANSIT, CLAIMANT, RECOGNISED, IRREGULAR = (int(s) for s in State)
INFO_MAX = np.iinfo(np.int16).max
EMPTY = np.zeros(0, np.int64)
EMPTY_F64 = np.zeros(0, np.float64)
#: months a broker's offer stays open
OFFER_MONTHS = 3
#: community size at which the heritage-identity protection of a community saturates
COMMUNITY_SATURATION = 1000.0
#: built-in decision rules with a compiled expression (exactly these classes: a subclass
#: may change the rule, so it takes the NumPy path)
COMPILED_RULES = {AspirationsCapabilities: stages_numba.RULE_ASPIRATIONS_CAPABILITIES,
                  PlannedBehaviour: stages_numba.RULE_PLANNED_BEHAVIOUR}


def ag_f64(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float64)


class NumericalError(FloatingPointError):
    """A stage produced NaN or infinity; the message names the month, the column and, once
    diagnosed, the stage and the values of the parameters that drive that column."""

    def __init__(self, message: str, month: int = -1, column: str = "",
                 stage: str | None = None):
        super().__init__(message)
        self.month, self.column, self.stage = month, column, stage


#: agent columns checked for NaN/inf each month, with the parameters that drive each
CHECKED_COLUMNS: dict[str, tuple[str, ...]] = {
    "funds": ("resettlement.settlement_grant", "integration.savings_rate",
              "integration.subsistence", "integration.glass_ceiling",
              "integration.welfare_income"),
    "income": ("integration.potential_base", "integration.potential_slope",
               "integration.wage_discrimination", "integration.glass_ceiling",
               "integration.welfare_income"),
    "push": ("integration.potential_base", "integration.potential_slope",
             "integration.glass_ceiling", "integration.discrimination_memory",
             "aspiration.w_frustration", "aspiration.w_discrimination",
             "aspiration.w_unemployment", "aspiration.w_deprivation",
             "resettlement.support_relief"),
    "aspiration": ("aspiration.intercept", "aspiration.w_welfare", "aspiration.w_schooling",
                   "aspiration.w_protection", "aspiration.w_socdem",
                   "aspiration.w_recognition", "aspiration.w_community"),
    "satisfaction": ("aspiration.satisfaction_income", "aspiration.satisfaction_support",
                     "aspiration.satisfaction_discrimination",
                     "integration.discrimination_memory"),
    "lang_adult": ("destination_life.language_adult",),
    "identity": ("destination_life.identity_loss_child",),
}


@dataclass
class SimulationResult:
    """What one run produced: tidy tables plus the raw monthly arrays (for invariants)."""

    compiled: Compiled
    recorder: Recorder
    agents: Agents
    network: sp.csr_matrix
    engine_seconds: float
    stage_seconds: dict[str, float]
    _tables: dict[str, pd.DataFrame] | None = field(default=None, repr=False)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The run's tidy tables by name (built once, then cached): ``flows``,
        ``applications``, ``decisions``, ``brokers``, ``stocks``, ``profile``,
        ``destination_life``, ``destination_profile`` (and the route tables with a route
        graph). Counts are persons unless a column says households; docs/odd.md
        ("Outputs") gives every column."""
        if self._tables is None:
            c = self.compiled
            t = np.arange(c.run_months)
            years = c.years()
            months = np.array([c.month_of(i) for i in t])
            self._tables = self.recorder.tables(years, months, c.destinations, c.first_country,
                                                c.origin)
        return self._tables

    @property
    def applications(self) -> pd.DataFrame:
        """First asylum claims per year, destination and route: ``year, destination,
        route, persons, households`` (the calibration target, MODEL.md section 8)."""
        return self.tables()["applications"]

    def __repr__(self) -> str:  # the dataclass's would print every agent array
        c = self.compiled
        # households that had set out by the last month run (the rest of the population
        # arrives later in the horizon: a run to 2002 is not 31,702 households)
        pending = int(self.recorder.stock_h[c.run_months - 1, State.PENDING].sum())
        return (f"SimulationResult(seed {c.seed}, {self.agents.n - pending:,} of "
                f"{self.agents.n:,} households arrived, {c.run_months} months from "
                f"{c.start_year}, destinations "
                f"{' '.join(c.destinations)}, engine {self.engine_seconds:.2f} s; "
                "tables(): flows, applications, decisions, stocks, ...)")


def _same_as_last_month(table: np.ndarray) -> np.ndarray:
    """Whether each month's row of ``table`` (months x values) equals the month before's,
    NaN equal to NaN (month 0: False)."""
    same = np.zeros(table.shape[0], bool)
    same[1:] = ((table[1:] == table[:-1]) | (np.isnan(table[1:]) & np.isnan(table[:-1]))
                ).all(axis=1)
    return same


class Engine:
    """Holds the state of one run; :meth:`run` steps it through every month."""

    def __init__(self, c: Compiled, generator: str = "clustered_pareto"):
        if generator not in GENERATORS:
            raise ValueError(f"network.generator: unknown '{generator}'")
        self.c = c
        self.rule = get_rule(c.rule)
        #: the built-in rule's code for the compiled decision (stages_numba.decide), or
        #: None: the rule's NumPy expression (any other rule; the tests set None to compare)
        self._rule_code = COMPILED_RULES.get(type(self.rule))
        ag = build(c)
        adj = build_network(ag, c, generator)
        # rows in order of arrival: those who have arrived by month t are a prefix
        # ``[:self.n]``, so the stages work on contiguous slices rather than gathers
        order = np.argsort(ag.arrive, kind="stable")
        self.ag = ag.permuted(order)
        self.adj = permuted(adj, order)
        # household-major memory: the compiled stages read a household's D cells together
        self.ag.info_until = np.ascontiguousarray(self.ag.info_until)
        self.rec = Recorder(c.run_months, c.n_dest)
        #: the brokers' rows, ascending (brokers are chosen once, in build_network)
        self.broker_rows = np.flatnonzero(self.ag.broker).astype(np.int64)
        self.n = 0
        # fixed per household: the capability that sets earnings potential
        self.capability = (0.6 * self.ag.skill + 0.4 * self.ag.drive).astype(np.float32)
        self.log_degree = np.log1p(self.ag.degree).astype(np.float32)
        d = c.dest
        # perceived chance of recognition at each destination, learnt from outcomes
        self.success = d["recognition_rate"][0] * (1 - d["checks_prior_nationality"][0]
                                                   * d["detection"][0])
        self.community = np.zeros(c.n_dest)
        self.stage_seconds: dict[str, float] = {}
        self._month_terms_t = -1  # the month _month_terms_v holds
        self._month_terms_v: tuple = ()
        #: check the agent columns after every stage (slower; used to diagnose a NaN)
        self.check_stages = False
        #: record the profiles of movers and stayers and life at destinations; they feed
        #: no stage, so a run without them (calibration) gives the same flows and stocks
        self.profiles = True
        self.rng = Streams(c.seed)
        # scheduled arrival months, sorted: the households due by month t are a prefix
        # (with a route graph a household may reach the first country later than scheduled)
        self.schedule = self.ag.arrive.copy()
        #: households due by the end of month t: the first _due_upto[t] rows
        self._due_upto = np.searchsorted(
            self.schedule, np.arange(c.run_months, dtype=self.schedule.dtype), side="right")
        self.transit: Transit | None = None
        if c.routes is not None:
            self.transit = Transit(c.routes, self.ag, c.seed, self.rng)
            self.rec.setup_routes(c.routes.names, c.routes.countries, c.routes.types)
        # parameter values month by month, as plain floats; a month whose values equal the
        # previous month's shares its dict (events change few months)
        names = list(c.glob)
        table = np.column_stack([np.asarray(c.glob[k], dtype=np.float64) for k in names])
        self._integration_params = np.ascontiguousarray(
            table[:, [names.index(k) for k in stages_numba.INTEGRATION_PARAMS]])
        self._rates_key = b""
        self._rates: tuple[np.ndarray, np.ndarray, np.ndarray] = ()
        self._month_params: list[dict[str, float]] = []
        same = _same_as_last_month(table)
        # ... and so do the destinations' (then month t's terms are month t - 1's)
        self._same_month = same.copy()
        for arr in c.dest.values():
            self._same_month &= _same_as_last_month(arr)
        for t in range(table.shape[0]):
            if same[t]:
                self._month_params.append(self._month_params[-1])
            else:
                self._month_params.append(dict(zip(names, table[t].tolist(), strict=True)))

    # --- helpers ---------------------------------------------------------------------------
    def g(self, name: str, t: int) -> float:
        return self._month_params[t][name]

    def dp(self, name: str, t: int) -> np.ndarray:
        return self.c.dest[name][t]

    def _refresh_info(self, rows: np.ndarray, dests: np.ndarray, t: int,
                      rng: np.random.Generator) -> None:
        if rows.size == 0:
            return
        decay = max(self.g("capability.information_decay", t), 1e-6)
        # one compiled pass; NumPy: life = rng.geometric(decay, rows.size) (1 if decay >= 1),
        # until = minimum(t + life, INFO_MAX), np.maximum.at(info_until, (rows, dests), until)
        stages_numba.refresh_info(self.rng.handle(rng), self.ag.info_until, self.ag.info_any,
                                  np.asarray(rows, np.int64), dests.astype(np.int64), t,
                                  decay, INFO_MAX)

    def _timed(self, name: str, fn: Callable[[int], None], t: int) -> None:
        t0 = time.perf_counter()
        fn(t)
        self.stage_seconds[name] = self.stage_seconds.get(name, 0.0) + time.perf_counter() - t0
        if self.check_stages:
            self._check(t, name)

    # --- stages ----------------------------------------------------------------------------
    def travel(self, t: int) -> None:
        """Move everyone on the route graph through month ``t`` (only with ``routes:``)."""
        assert self.transit is not None
        self.transit.move(t, self.ag, self.rec)

    def arrivals(self, t: int) -> None:
        ag = self.ag
        end = int(self._due_upto[t])
        new = np.arange(self.n, end)
        self.n = end
        tr = self.transit
        if new.size == 0 and (tr is None or tr.reached_first.size == 0):
            return
        direct = ag.direct[new]
        first = new[~direct]
        if tr is not None:
            # households on the route graph arrive when it brings them there
            first = np.concatenate([first[~tr.routed[first]], tr.reached_first])
            ag.arrive[tr.reached_first] = t
        ag.state[first] = FIRST
        ag.funds[first] += self.g("resettlement.settlement_grant", t)
        claim = new[direct]
        if claim.size:
            rng = self.rng(Stage.ARRIVAL)
            ag.state[claim] = CLAIMANT
            ag.dest[claim] = ag.home_dest[claim]
            self._schedule_decision(claim, t, rng)
            self._lodge(claim, t)

    def births(self, t: int) -> None:
        ag, n = self.ag, self.n
        rng = self.rng(Stage.BIRTHS)
        # women 18-40 in the first country, each with the month's birth rate (one compiled
        # pass; NumPy: flatnonzero(fc_mask & female & (18 <= age0 + t / 12 <= 40)
        # & (rng.random(n) < rate)))
        born = stages_numba.births(self.rng.handle(rng), n, self.fc_mask, ag.female,
                                   ag.age0, t, self.g("population.birth_rate", t))
        if born.size == 0:
            return
        ag.children[born] += 1
        self.born = born
        self.rec.births[t] += np.bincount(self.prev[born], minlength=self.rec.births.shape[1])

    def integration(self, t: int) -> None:
        """Jobs, income, discrimination and push for everyone in the first country.

        One compiled pass over the first-country rows (:func:`stages_numba.integration`),
        with the stage's uniform numbers drawn here for every arrived row.
        """
        ag, n = self.ag, self.n
        if not self.fc.size:
            return
        # rng.random((2, n), dtype=np.float32), stepped in compiled code for an SFC64
        rng = self.rng(Stage.INTEGRATION)
        h = self.rng.handle(rng)
        u = (stages_numba.sfc64_floats(h[0], 2 * n).reshape(2, n) if h[4]
             else rng.random((2, n), dtype=np.float32))
        p = self._integration_params[t]
        key = p[1:10].tobytes()
        if key != self._rates_key:  # a month whose parameters changed (or the first)
            self._rates = stages_numba.integration_rates(ag.skill, self.capability, p)
            self._rates_key = key
        stages_numba.integration(t, self.fc, ag.arrive, ag.returned, self.log_degree,
                                 *self._rates, u[0], u[1], ag.employed,
                                 ag.income, ag.frustration, ag.discrim, ag.push,
                                 ag.satisfaction, ag.funds, p)

    def information(self, t: int) -> None:
        ag = self.ag
        rng = self.rng(Stage.INFORMATION)
        # diaspora contacts pass news of where they are
        rows, dests = stages_numba.diaspora(
            self.rng.handle(rng), self.abroad_onward, self.adj.indptr,
            self.adj.indices, ag.state, ag.dest, self.g("network.diaspora_share", t))
        self._refresh_info(rows, dests, t, rng)
        # informed residents tell one contact about the destination they know best
        if self.fc.size == 0:
            return
        rows, dests = stages_numba.peers(self.rng.handle(rng), self.fc,
                                         self.g("network.peer_share", t), t, ag.info_until,
                                         ag.degree, self.adj.indptr, self.adj.indices)
        self._refresh_info(rows, dests, t, rng)

    def brokers(self, t: int) -> None:
        """Brokers recruit among their contacts (one compiled pass,
        :func:`stages_numba.brokers`), steered to the destinations they think succeed."""
        ag, g = self.ag, self.g
        # broker activity follows the best perceived success among open destinations
        open_ = self.dp("open", t) > 0.5
        best = float(self.success[open_].max()) if open_.any() else 0.0
        act = g("brokers.activity", t) * g("brokers.contacts", t) * best
        if act <= 0:
            return
        w = np.where(open_, np.exp(g("brokers.success_focus", t) * self.success), 0.0)
        can_offer = bool(w.sum() > 0)  # else brokers make their contacts but offer nothing
        cw = np.cumsum(w) / w.sum() if can_offer else w
        rng = self.rng(Stage.BROKERS)
        who, d = stages_numba.brokers(
            self.rng.handle(rng), act, self.broker_rows, ag.state, ag.degree, self.adj.indptr,
            self.adj.indices, ag.push, ag.funds, g("brokers.fee", t), g("brokers.targeting", t),
            can_offer, cw)
        if who.size == 0:
            return
        self._refresh_info(who, d, t, rng)
        ag.optimism[who] = g("brokers.optimism", t)
        ag.offer_dest[who] = d
        ag.offer_until[who] = t + OFFER_MONTHS - 1

    def _params(self, t: int) -> dict[str, float]:
        return self._month_params[t]

    def _gates(self, i: np.ndarray, t: int, exclude_current: bool = False
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Who of households ``i`` could move now, where to, and how each place pulls.

        Returns ``(rows, allowed, capable, cost, pull)``: ``rows`` indexes ``i`` for those
        who pass the capability gate and can reach at least one destination; the other
        arrays describe those rows only (allowed destinations, capability, cost with the
        broker's fee, the pull of each destination), (n, D) arrays in Fortran order.

        The pull is separable: a destination term, plus terms for households with children
        and for a social-democratic taste, plus a broker's rumour of easy recognition for
        the destination offered, while the offer lasts. One compiled pass
        (:func:`stages_numba.gates_pull`) does it all.
        """
        rows, allowed, capable, cost, pull = stages_numba.gates_pull(
            *self._gate_args(i, t, exclude_current))
        return rows, allowed.T, capable, cost.T, pull.T

    def _gate_args(self, i: np.ndarray, t: int, exclude_current: bool) -> tuple:
        """The arguments the compiled gates and pull read (:func:`stages_numba.gates_pull`,
        and the first ones of :func:`stages_numba.decide`), for candidates ``i`` in month
        ``t``."""
        ag, c, p = self.ag, self.c, self._month_params[t]
        open_, travel, cheapest, _, school, socdem, _ = self._month_terms(t)
        base, _, _ = self._pull_terms(t)
        return (np.asarray(i, np.int64), t, ag.info_until, ag.info_any, open_, travel,
                float(p["brokers.fee"]), ag.offer_until, ag.offer_dest, ag.skill, ag.funds,
                float(p["capability.min_skill"]), cheapest, c.information_gating,
                c.capability_gating, exclude_current, ag.dest, ag.socdem, ag.children,
                ag.optimism, np.asarray(self.success, np.float64),
                np.asarray(base, np.float64), school, socdem,
                float(p["aspiration.w_recognition"]))

    def _month_terms(self, t: int) -> tuple:
        """What the gates, the pull and the rules read that stays fixed within month
        ``t`` (computed once a month): open destinations, travel costs, the cheapest open
        one, the pull's welfare and protection terms, its schooling and social-democratic
        terms, and the rules' parameters (:meth:`_rule_params`). Reused from the previous
        month when that month's parameters are the same dict and no destination's value
        changed (found at set-up); a caller that edits parameters mid-run replaces the
        month's dict."""
        if self._month_terms_t == t:
            return self._month_terms_v
        if (self._month_terms_t == t - 1 and t > 0 and self._same_month[t]
                and self._month_params[t] is self._month_params[t - 1]):
            self._month_terms_t = t  # no parameter changed since last month
            return self._month_terms_v
        p, dp = self._month_params[t], self.dp
        open_ = dp("open", t) > 0.5
        travel = np.ascontiguousarray(dp("travel_cost", t), np.float64)
        cheapest = float(travel[open_].min()) if open_.any() else np.inf
        fixed = (p["aspiration.w_welfare"] * dp("welfare", t)
                 + p["aspiration.w_protection"] * dp("social_protection", t))
        school = np.asarray(p["aspiration.w_schooling"] * dp("schooling", t), np.float64)
        socdem = np.asarray(p["aspiration.w_socdem"] * dp("social_democratic", t), np.float64)
        rule = np.array([p["aspiration.intercept"], p["decision.base_hazard"],
                         p["brokers.uptake"], p["decision.choice_scale"],
                         p["decision.cost_sensitivity"], p["decision.tpb_intercept"],
                         p["decision.tpb_w_attitude"], p["decision.tpb_w_norm"],
                         p["decision.tpb_w_control"]])
        self._month_terms_t = t
        self._month_terms_v = (open_, travel, cheapest, fixed, school, socdem, rule)
        return self._month_terms_v

    def _pull_terms(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The destination terms of the pull this month: for everyone, for a household
        with children, and per unit of social-democratic taste."""
        p = self._month_params[t]
        _, _, _, fixed, school, socdem, _ = self._month_terms(t)
        # (welfare + protection) + recognition + community, in this order
        base = (fixed
                + p["aspiration.w_recognition"] * np.minimum(np.maximum(self.success, 0.0), 1.0)
                + p["aspiration.w_community"] * np.log1p(self.community))
        return base, school, socdem

    def _context(self, i: np.ndarray, t: int, allowed: np.ndarray, capable: np.ndarray,
                 cost: np.ndarray, pull: np.ndarray) -> DecisionContext:
        ag = self.ag
        norm = self._norm(i) if self.rule.needs_norm else None
        return DecisionContext(push=ag.push[i].astype(np.float64), pull=pull, allowed=allowed,
                               capable=capable, funds=ag.funds[i].astype(np.float64),
                               cost=cost, skill=ag.skill[i].astype(np.float64), norm=norm,
                               params=self._params(t))

    def _depart(self, movers: np.ndarray, dest: np.ndarray, cost: np.ndarray, t: int,
                rng: np.random.Generator) -> None:
        ag = self.ag
        # one compiled pass; NumPy: state = TRANSIT, dest, funds = maximum(funds - cost, 0),
        # concealed = rng.random(m) < clip(concealment + via_broker * broker_concealment,
        # 0, 1), due = t + round(journey_months[dest]), moves += 1, offer_dest = -1
        stages_numba.depart(
            self.rng.handle(rng), np.asarray(movers, np.int64), np.asarray(dest),
            np.asarray(cost, np.float64), t, TRANSIT, ag.state, ag.dest, ag.funds,
            ag.via_broker, self.g("journey.concealment", t),
            self.g("journey.broker_concealment", t),
            np.round(self.dp("journey_months", t)).astype(np.int32), ag.concealed, ag.due,
            ag.moves, ag.offer_dest)

    def decision(self, t: int) -> None:
        ag = self.ag
        i = self.fc_onward
        rng = self.rng(Stage.DECISION)
        if i.size:
            if self._rule_code is None:
                movers, dest, via, cost = self._decide_numpy(i, t, rng)
            else:
                movers, dest, via, cost = self._decide_compiled(i, t, rng, self._rule_code)
            first_move = ag.moves[movers] == 0
            if self.profiles:
                self._profile("movers", movers[first_move], t)
            ag.via_broker[movers] = via
            first = movers[first_move]
            funds_before = ag.funds[first].astype(np.float64)
            self._depart(movers, dest, cost, t, rng)
            # concealment is decided in _depart, so the destination profile comes after it
            if self.profiles and first.size:
                # one compiled pass: each first mover's DEST_PROFILE_ATTRS added to its
                # destination's sums
                stages_numba.destination_profile_sums(
                    self.rec.dest_profile_sum, self.rec.dest_profile_n,
                    np.asarray(first, np.int64), ag.dest, ag.skill, funds_before,
                    ag.children, ag.degree, ag.via_broker, ag.concealed, ag.age0, t / 12.0,
                    ag.female)
            self.rec.flow(t, "departures", ag, movers)
            self.rec.flow(t, "broker_departures", ag, movers[via])
        # irregular migrants may move on again
        irr = self.irregular_onward  # (decide moved only first-country residents)
        go = irr[rng.random(irr.size) < self.g("after_decision.irregular_remigrate", t)]
        self._remigrate(go, t, rng)

    def _decide_numpy(self, i: np.ndarray, t: int, rng: np.random.Generator
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Who of candidates ``i`` moves, where to, whether a broker arranged it, and at
        what cost: the rule's NumPy expression (any rule). Sets their aspiration."""
        ag = self.ag
        # only those who pass the gates can move; the rule sees just them
        rows, allowed, capable, cost, pull = self._gates(i, t)
        i = i[rows]
        ctx = self._context(i, t, allowed, capable, cost, pull)
        aspiration = self.rule.aspiration(ctx)
        h = self.rule.hazard(ctx, aspiration)
        # a broker's offer: the broker arranges the move if the person takes it up
        od = ag.offer_dest[i].astype(np.int64)
        offer = (ag.offer_until[i] >= t) & (od >= 0)
        offer &= ctx.allowed[np.arange(i.size), np.where(od >= 0, od, 0)] & ctx.capable
        h = np.where(offer, np.maximum(h, self.g("brokers.uptake", t) * aspiration), h)
        u = rng.random((2, i.size))
        move = u[0] < h
        rows = np.flatnonzero(move)
        via = offer[rows]
        dest = np.where(via, od[rows], choose_destination(ctx, rows, u[1][rows]))
        ok = dest >= 0
        rows, dest, via = rows[ok], dest[ok], via[ok]
        # the aspiration is kept for the movers (their profile); the year's end sets the
        # stayers'
        ag.aspiration[i[rows]] = aspiration[rows]
        return i[rows], dest.astype(np.int8), via, ctx.cost[rows, dest]

    def _decide_compiled(self, i: np.ndarray, t: int, rng: np.random.Generator, rule: int,
                         exclude_current: bool = False
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_decide_numpy` for a built-in rule, in one compiled pass
        (:func:`stages_numba.decide`); with ``RULE_CHOOSE_ONLY`` everyone who passes the
        gates moves, as :meth:`_remigrate` chooses."""
        ag = self.ag
        norm = EMPTY_F64
        if rule == stages_numba.RULE_PLANNED_BEHAVIOUR:
            norm = self._norm(i)
        rows, asp, mrows, dest, via, cost = stages_numba.decide(
            self.rng.handle(rng), rule, *self._gate_args(i, t, exclude_current), ag.push, norm,
            self._rule_params(t))
        movers = i[rows[mrows]]
        if rule != stages_numba.RULE_CHOOSE_ONLY:
            ag.aspiration[movers] = asp
        return movers, dest, via, cost

    def _rule_params(self, t: int) -> np.ndarray:
        """The built-in rules' and the choice's parameters in month ``t``, in the order
        :func:`stages_numba.decide` reads them."""
        return self._month_terms(t)[6]

    def _norm(self, i: np.ndarray) -> np.ndarray:
        """Share of the contacts of households ``i`` who have moved on (or come back)."""
        ag = self.ag
        moved = ((ag.state != PENDING) & (ag.state != FIRST)) | ag.returned
        return (self.adj @ moved.astype(np.float64))[i] / np.maximum(ag.degree[i], 1)

    def _aspiration_of(self, i: np.ndarray, t: int) -> np.ndarray:
        """The rule's aspiration for households ``i`` now, whether or not they could move.

        Those who know no reachable destination get the rule's aspiration with no pull.
        A built-in rule's is one compiled pass (:func:`stages_numba.aspirations`).
        """
        if self._rule_code is not None:
            norm = (self._norm(i) if self._rule_code == stages_numba.RULE_PLANNED_BEHAVIOUR
                    else EMPTY_F64)
            return stages_numba.aspirations(self._rule_code, *self._gate_args(i, t, False),
                                            self.ag.push, norm, self._rule_params(t))
        out = np.empty(i.size, dtype=np.float64)
        rows, allowed, capable, cost, pull = self._gates(i, t)
        out[rows] = self.rule.aspiration(self._context(i[rows], t, allowed, capable, cost,
                                                       pull))
        rest = np.setdiff1d(np.arange(i.size), rows, assume_unique=True)
        j = i[rest]
        none = np.zeros((rest.size, 0))
        ctx0 = DecisionContext(push=ag_f64(self.ag.push[j]), pull=none, allowed=none.astype(bool),
                               capable=np.zeros(rest.size, bool), funds=ag_f64(self.ag.funds[j]),
                               cost=none, skill=ag_f64(self.ag.skill[j]),
                               norm=np.zeros(rest.size) if self.rule.needs_norm else None,
                               params=self._params(t))
        out[rest] = self.rule.aspiration(ctx0)
        return out

    def _remigrate(self, who: np.ndarray, t: int, rng: np.random.Generator) -> None:
        """Move ``who`` on to another destination they may choose (the others stay)."""
        if who.size == 0:
            return
        ag = self.ag
        if self._rule_code is None:
            rows, allowed, capable, cost, pull = self._gates(who, t, exclude_current=True)
            ctx = self._context(who[rows], t, allowed, capable, cost, pull)
            dest = choose_destination(ctx, np.arange(rows.size), rng.random(rows.size))
            movers, dest, cost = who[rows], dest.astype(np.int8), cost[np.arange(rows.size),
                                                                      dest]
        else:
            movers, dest, _, cost = self._decide_compiled(
                who, t, rng, stages_numba.RULE_CHOOSE_ONLY, exclude_current=True)
        self.rec.remigrated_from(ag.dest[movers], 1 + ag.children[movers].astype(np.int64))
        ag.via_broker[movers] = False
        self._depart(movers, dest, cost, t, rng)
        self.rec.flow(t, "remigrations", ag, movers)

    def _schedule_decision(self, who: np.ndarray, t: int, rng: np.random.Generator) -> None:
        """The month of the first decision of claimants ``who``: a geometric wait with the
        destination's mean processing time (at least a month)."""
        months = np.asarray(self.dp("processing_months", t), np.float64)
        if np.isnan(months).any():  # NumPy's error, naming the bad p
            pm = np.maximum(months[self.ag.dest[who]], 1.0)
            self.ag.due[who] = t + rng.geometric(1.0 / pm).astype(np.int32)
            return
        stages_numba.schedule_decisions(self.rng.handle(rng), np.asarray(who, np.int64), t,
                                        self.ag.dest, months, self.ag.due)

    def _lodge(self, who: np.ndarray, t: int) -> None:
        """Count claims: a first claim at a destination, or a repeat claim there."""
        ag, rec = self.ag, self.rec
        # one compiled pass; NumPy: bit = 1 << dest[who]; repeat = claimed[who] & bit > 0;
        # flows claims (who[~repeat]) and repeat_claims (who[repeat]); claimed[who] |= bit
        c, r = FLOW_INDEX["claims"], FLOW_INDEX["repeat_claims"]
        stages_numba.lodge(np.asarray(who, np.int64), ag.dest, ag.claimed, ag.direct,
                           ag.children, rec.flow_h[t, c], rec.flow_p[t, c], rec.flow_h[t, r],
                           rec.flow_p[t, r])

    def journey(self, t: int) -> None:
        ag = self.ag
        if self.transit is not None:
            # on a route graph the journey ends on reaching the destination's location
            done = self.transit.reached_dest
        else:
            tr = np.flatnonzero(ag.state[:self.n] == TRANSIT)
            done = tr[ag.due[tr] <= t]
        if done.size == 0:
            return
        rng = self.rng(Stage.JOURNEY)
        ag.state[done] = CLAIMANT
        self._schedule_decision(done, t, rng)
        self._lodge(done, t)

    def asylum(self, t: int) -> None:
        ag, dp = self.ag, self.dp
        rng = self.rng(Stage.ASYLUM)
        due, granted, found = stages_numba.asylum_decisions(
            self.rng.handle(rng), t, np.flatnonzero(ag.state[:self.n] == CLAIMANT), ag.due,
            ag.dest, ag.direct, ag.concealed, ag.state, dp("checks_prior_nationality", t),
            dp("detection", t), dp("recognition_rate", t))
        if due.size:
            d = ag.dest[due].astype(np.int64)
            rec_ = due[granted]
            ref = due[~granted]
            self.rec.flow(t, "recognised", ag, rec_)
            self.rec.flow(t, "refused", ag, ref)
            self.rec.flow(t, "refused_prior_nationality", ag, due[found])
            self._learn_success(d, granted, t)
            self._after_refusal(ref, t, rng)
        # irregular migrants removed to the first country
        irr = np.flatnonzero((ag.state[:self.n] == IRREGULAR) & ~ag.direct[:self.n])
        if irr.size:
            out = stages_numba.removals(self.rng.handle(rng), irr, ag.dest,
                                        dp("removal_rate", t))
            self.rec.flow(t, "removals", ag, out)
            self._return(out)

    def _learn_success(self, d: np.ndarray, granted: np.ndarray, t: int) -> None:
        """Perceived success follows this month's decisions (at destinations ``d``), with
        a lag."""
        # one compiled pass; NumPy: has = n_decided > 0; success[has] = m * success[has]
        # + (1 - m) * n_granted[has] / n_decided[has]
        stages_numba.learn_success(self.success, np.asarray(d, np.int64), granted,
                                   self.g("brokers.success_memory", t))

    def _return(self, who: np.ndarray) -> None:
        ag = self.ag
        ag.state[who] = FIRST
        ag.dest[who] = -1
        ag.returned[who] = True
        ag.dest_employed[who] = False
        ag.coethnic[who] = False

    def _after_refusal(self, ref: np.ndarray, t: int, rng: np.random.Generator) -> None:
        ag = self.ag
        if ref.size == 0:
            return
        # one compiled pass; NumPy: u = rng.random(n); ret = ref[(u < p_ret) & ~direct],
        # again = ref[(u >= p_ret) & (u < p_ret + p_re) & ~direct],
        # stay = ref[(u >= p_ret + p_re) | direct]
        ret, again, stay = stages_numba.refusal_outcomes(
            self.rng.handle(rng), np.asarray(ref, np.int64), ag.direct,
            self.g("after_decision.refused_return", t),
            self.g("after_decision.refused_remigrate", t))
        self.rec.flow(t, "returns", ag, ret)
        self._return(ret)
        ag.state[stay] = IRREGULAR
        ag.state[again] = IRREGULAR  # becomes TRANSIT below if a destination is open
        self._remigrate(again, t, rng)

    def destination_life(self, t: int) -> None:
        """Language, work, friction and identity for everyone at a destination (one
        compiled pass, :func:`stages_numba.destination_life`)."""
        ag, g = self.ag, self.g
        i = np.flatnonzero(ag.state[:self.n] >= CLAIMANT)
        if i.size == 0:
            return
        protect = np.minimum(np.log1p(self.community) / np.log1p(COMMUNITY_SATURATION), 1.0)
        loss = g("destination_life.identity_loss_child", t) * (1 - protect)
        p = np.array([g("destination_life.language_adult", t),
                      g("destination_life.language_child", t),
                      g("destination_life.job_finding", t), g("integration.job_loss_rate", t),
                      g("destination_life.coethnic_employment", t),
                      g("destination_life.friction_rate", t)])
        stages_numba.destination_life(
            self.rng.handle(self.rng(Stage.DESTINATION)), i, ag.state, ag.dest, ag.children,
            ag.lang_adult, ag.lang_child, ag.dest_employed, ag.coethnic, ag.friction, ag.identity,
            np.ascontiguousarray(self.dp("competition", t), np.float64),
            np.asarray(loss, np.float64), p)

    # --- recording -------------------------------------------------------------------------
    def _profile(self, group: str, who: np.ndarray, t: int) -> None:
        """Add households ``who`` to the movers' or stayers' profile: the sums of their
        PROFILE_ATTRS and of their squares, in one compiled pass
        (:func:`stages_numba.profile_sums`)."""
        if who.size == 0:
            return
        ag = self.ag
        s, q = stages_numba.profile_sums(
            np.asarray(who, np.int64), ag.skill, ag.drive, ag.funds, ag.degree,
            ag.satisfaction, ag.income, ag.frustration, ag.aspiration, ag.children, ag.age0,
            t / 12.0, ag.female)
        self.rec.add_profile(group, s, q, who.size)

    def _year_end(self, t: int) -> None:
        ag, c = self.ag, self.c
        year = c.year_of(t)
        # stayers: residents of the first country who have never moved on
        st = self.fc[~ag.direct[self.fc] & (ag.moves[self.fc] == 0)
                     & (ag.state[self.fc] == FIRST)]
        if st.size:
            ag.aspiration[st] = self._aspiration_of(st, t)
        self._profile("stayers", st, t)
        at = np.flatnonzero(ag.state[:self.n] >= CLAIMANT)
        for k, code in enumerate(c.destinations):
            w = at[ag.dest[at] == k]
            if w.size == 0:
                continue
            kids = w[ag.children[w] > 0]
            nk = int(ag.children[kids].sum())
            emp = w[ag.dest_employed[w]]
            rows = [
                ("first", "language", float(ag.lang_adult[w].mean()), w.size),
                ("first", "employment", float(ag.dest_employed[w].mean()), w.size),
                ("first", "coethnic_employer_share",
                 float(ag.coethnic[emp].mean()) if emp.size else np.nan, emp.size),
                ("first", "friction", float(ag.friction[w].mean()), w.size),
            ]
            if nk:
                wk = ag.children[kids].astype(np.float64)
                rows += [
                    ("second", "language", float(np.average(ag.lang_child[kids], weights=wk)),
                     nk),
                    ("second", "identity", float(np.average(ag.identity[kids], weights=wk)),
                     nk),
                ]
            for gen, measure, value, n in rows:
                self.rec.life_rows.append((year, code, gen, measure, value, n))

    def _check(self, t: int, stage: str | None = None) -> None:
        cols = tuple(getattr(self.ag, name) for name in CHECKED_COLUMNS)
        # rows not yet arrived never change: the first n are read
        if all(a.dtype == np.float32 and a.flags.c_contiguous for a in cols):
            j = stages_numba.first_nonfinite(cols, self.n)  # one compiled call for all
        else:
            j = next((k for k, a in enumerate(cols) if not np.isfinite(a[:self.n]).all()), -1)
        if j < 0:
            return
        name = list(CHECKED_COLUMNS)[j]
        when = f"month {t} ({self.c.year_of(t)}-{self.c.month_of(t):02d})"
        if stage is None:
            raise NumericalError(f"{when}: agent column '{name}' became NaN/inf",
                                 month=t, column=name)
        params = ", ".join(f"{p}={self.g(p, t):g}" for p in CHECKED_COLUMNS[name])
        raise NumericalError(
            f"{when}: stage '{stage}' made agent column '{name}' NaN/inf. The "
            f"parameters that drive it, this month: {params}. Fix: move the extreme "
            "or zero values among them back inside their priors (onward validate "
            "--list shows the ranges; docs/odd.md says what each does)",
            month=t, column=name, stage=stage)

    def scan_rows(self) -> None:
        """Who is where, from the arrived rows (``[:n]``; the others are pending), in one
        compiled pass: the first country's residents (``fc_mask``, ``fc``; ``fc_onward``
        without direct claimants), those at a destination (``abroad``; ``abroad_onward``
        and ``irregular_onward`` among those who came onward) and the persons at each
        destination (``community``)."""
        ag = self.ag
        (self.fc_mask, self.fc, self.fc_onward, self.abroad, self.abroad_onward,
         self.irregular_onward, self.community) = stages_numba.scan_rows(
            ag.state, self.n, ag.direct, ag.dest, ag.children, self.c.n_dest, FIRST,
            CLAIMANT, IRREGULAR)

    def step(self, t: int) -> None:
        ag = self.ag
        prev = ag.state.copy()
        prev_dest = ag.dest.copy()
        self.prev = prev
        self.born = EMPTY
        if self.transit is not None:
            self._timed("transit", self.travel, t)
        self._timed("arrivals", self.arrivals, t)
        # births and integration change no one's state, destination or (abroad) children
        self.scan_rows()
        self._timed("births", self.births, t)
        self._timed("integration", self.integration, t)
        self._timed("information", self.information, t)
        self._timed("brokers", self.brokers, t)
        self._timed("decision", self.decision, t)
        self._timed("journey", self.journey, t)
        self._timed("asylum", self.asylum, t)
        self._timed("destination_life", self.destination_life, t)
        t0 = time.perf_counter()
        if self.profiles and (self.c.month_of(t) == 12 or t == self.c.run_months - 1):
            self.fc = np.flatnonzero(ag.state[:self.n] == FIRST)
            self._year_end(t)
        self.rec.end_of_month(t, ag, prev, prev_dest, self.born, self.n)
        if self.transit is not None:
            self.transit.end_of_month(t, ag, self.rec)
        self._check(t)
        self.stage_seconds["record"] = self.stage_seconds.get("record", 0.0) \
            + time.perf_counter() - t0

    def run(self, progress: Callable[[int, int], None] | None = None,
            months: int | None = None) -> None:
        T = self.c.run_months if months is None else min(months, self.c.run_months)
        try:
            for t in range(T):
                self.step(t)
                if progress is not None:
                    progress(t + 1, T)
        except SystemError as exc:
            # Ctrl-C inside a compiled stage comes out as SystemError ("... returned a
            # result with an exception set"), caused by the KeyboardInterrupt
            if isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
                raise KeyboardInterrupt from None
            raise


def simulate_compiled(c: Compiled, progress: Callable[[int, int], None] | None = None,
                      generator: str = "clustered_pareto",
                      diagnose: bool = True, profiles: bool = True) -> SimulationResult:
    """Run a compiled scenario and return its :class:`SimulationResult`.

    ``profiles=False`` skips the profiles of movers and stayers and the yearly rows of life
    at destinations (the ``profiles``, ``destination_profiles`` and ``life`` tables come
    out empty); every flow and stock is the same, number for number. Calibration uses it.

    If a month ends with NaN or infinity in an agent column, :class:`NumericalError` is
    raised. With ``diagnose`` (the default) the run is first replayed up to that month with
    a check after every stage, so that the error names the stage and the values of the
    parameters that drive the column (the replay draws the same numbers: same seed).
    """
    t0 = time.perf_counter()
    eng = Engine(c, generator)
    eng.profiles = profiles
    setup = time.perf_counter() - t0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        try:
            eng.run(progress)
        except NumericalError as exc:
            if not diagnose or exc.stage is not None:
                raise
            replay = Engine(c, generator)
            replay.check_stages = True
            replay.profiles = profiles
            replay.run(months=exc.month + 1)  # raises the named error
            raise
    seconds = time.perf_counter() - t0
    stages = {"setup": setup, **eng.stage_seconds}
    return SimulationResult(c, eng.rec, eng.ag, eng.adj, seconds, stages)
