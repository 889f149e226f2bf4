"""Aggregate outputs inside the run (monthly arrays), then turn them into tidy tables."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from onward.engine import stages_numba
from onward.engine.state import N_STATES, STATE_NAMES, Agents, State

FLOWS = (
    "departures",  # left the first country for a destination
    "broker_departures",  # ... of which a broker arranged the move
    "claims",  # first asylum claims lodged at that destination
    "repeat_claims",  # claims by people who had claimed at that destination before
    "recognised",  # first decisions granting protection
    "refused",  # first decisions refusing
    "refused_prior_nationality",  # ... of which refused because first-country nationality found
    "returns",  # refused claimants going back to the first country
    "remigrations",  # moves on from one destination to another
    "removals",  # irregular migrants removed to the first country
)
#: position of each flow in FLOWS
FLOW_INDEX = {name: k for k, name in enumerate(FLOWS)}
ROUTES = ("onward", "direct")

PROFILE_ATTRS = ("skill", "drive", "funds", "degree", "satisfaction", "income", "frustration",
                 "aspiration", "children", "age", "female")
#: Attributes of the per-destination profile of first movers, recorded at departure.
DEST_PROFILE_ATTRS = ("skill", "funds", "children", "degree", "via_broker", "concealed", "age",
                      "female")
#: sums kept per month and kind of journey (inbound, onward) for journeys completed
JOURNEY_SUMS = ("households", "persons", "months", "broker", "cost")
JOURNEY_KINDS = ("inbound", "onward")


@dataclass
class Recorder:
    months: int
    n_dest: int
    stock_h: np.ndarray = field(init=False)
    stock_p: np.ndarray = field(init=False)
    trans_h: np.ndarray = field(init=False)
    trans_p: np.ndarray = field(init=False)
    births: np.ndarray = field(init=False)
    onward_abroad_p: np.ndarray = field(init=False)
    flow_h: np.ndarray = field(init=False)
    flow_p: np.ndarray = field(init=False)
    movers_sum: np.ndarray = field(init=False)
    movers_sq: np.ndarray = field(init=False)
    movers_n: int = 0
    stayers_sum: np.ndarray = field(init=False)
    stayers_sq: np.ndarray = field(init=False)
    stayers_n: int = 0
    life_rows: list = field(default_factory=list)
    dest_profile_sum: np.ndarray = field(init=False)
    dest_profile_n: np.ndarray = field(init=False)
    remigrated_from_h: np.ndarray = field(init=False)
    remigrated_from_p: np.ndarray = field(init=False)
    #: route graph (only with ``routes:``): location names, countries and types
    route_locations: list[tuple[str, str, str]] = field(default_factory=list)
    transit_h: np.ndarray | None = None  # (T, 2, L) end-of-month households on the graph
    transit_p: np.ndarray | None = None  # ... persons; [:, 0] inbound, [:, 1] onward
    journeys: np.ndarray | None = None  # (T, 2, len(JOURNEY_SUMS)) completed journeys
    inbound_started: np.ndarray | None = None  # (T,) inbound households setting out
    changed: np.ndarray | None = None  # rows that changed state or destination this month

    def setup_routes(self, names: list[str], countries: list[str], types: list[str]) -> None:
        """Allocate the route-graph outputs (locations in the order of the compiled graph)."""
        T, L = self.months, len(names)
        self.route_locations = list(zip(names, countries, types, strict=True))
        self.transit_h = np.zeros((T, 2, L), np.int64)
        self.transit_p = np.zeros((T, 2, L), np.int64)
        self.journeys = np.zeros((T, 2, len(JOURNEY_SUMS)))
        self.inbound_started = np.zeros(T, np.int64)

    def __post_init__(self) -> None:
        T, D, S = self.months, self.n_dest, N_STATES
        self.stock_h = np.zeros((T, S, D + 1), np.int64)
        self.stock_p = np.zeros((T, S, D + 1), np.int64)
        self.trans_h = np.zeros((T, S, S), np.int64)
        self.trans_p = np.zeros((T, S, S), np.int64)
        self.births = np.zeros((T, S), np.int64)
        self.onward_abroad_p = np.zeros(T, np.int64)
        self.flow_h = np.zeros((T, len(FLOWS), D, 2), np.int64)
        self.flow_p = np.zeros((T, len(FLOWS), D, 2), np.int64)
        k = len(PROFILE_ATTRS)
        self.movers_sum = np.zeros(k)
        self.movers_sq = np.zeros(k)
        self.stayers_sum = np.zeros(k)
        self.stayers_sq = np.zeros(k)
        self.dest_profile_sum = np.zeros((D, len(DEST_PROFILE_ATTRS)))
        self.dest_profile_n = np.zeros(D, np.int64)
        self.remigrated_from_h = np.zeros(D, np.int64)
        self.remigrated_from_p = np.zeros(D, np.int64)

    # --- recording -----------------------------------------------------------------------
    def flow(self, t: int, name: str, ag: Agents, idx: np.ndarray) -> None:
        """Count households ``idx`` (with their destinations and routes) under flow ``name``."""
        if idx.size == 0:
            return
        f = FLOW_INDEX[name]
        stages_numba.count_flow(self.flow_h[t, f], self.flow_p[t, f],
                                np.asarray(idx, np.int64), ag.dest, ag.direct, ag.children)

    def end_of_month(self, t: int, ag: Agents, prev_state: np.ndarray, prev_dest: np.ndarray,
                     born: np.ndarray, n: int | None = None) -> None:
        """Stocks and transitions at the end of month ``t``.

        Stocks are carried over from the previous month and updated from the few households
        whose state or destination changed, or who had a child (``born``), this month;
        ``recount`` gives the same numbers from all rows. Month 0 starts from a count of
        every row as it started the month. Rows from ``n`` on (not arrived, so unchanged)
        are not visited.
        """
        S = N_STATES
        if t > 0:
            self.stock_h[t] = self.stock_h[t - 1]
            self.stock_p[t] = self.stock_p[t - 1]
            abroad = self.onward_abroad_p[t - 1]
        else:  # the stocks before month 0: every row as it started the month
            children = ag.children.astype(np.int64)
            children[born] -= 1
            self.stock_h[0], self.stock_p[0], abroad = self._count(prev_state, prev_dest,
                                                                   children, ag.direct)
        # one compiled pass moves the households that changed; the transitions count those
        # whose state changed, and those who stayed (the diagonal)
        th = np.zeros((S, S), np.int64)
        tp = np.zeros((S, S), np.int64)
        m = ag.state.size if n is None else n
        self.changed, delta = stages_numba.stock_changes(
            ag.state[:m], ag.dest[:m], prev_state[:m], prev_dest[:m], ag.children[:m],
            ag.direct[:m], np.asarray(born, np.int64), self.n_dest, self.stock_h[t],
            self.stock_p[t], th, tp)
        self.onward_abroad_p[t] = abroad + delta
        self.trans_h[t] = th
        self.trans_p[t] = tp

    def _key(self, state: np.ndarray, dest: np.ndarray) -> np.ndarray:
        state = state.astype(np.intp)
        loc = np.where(state <= State.FIRST_COUNTRY, 0, dest.astype(np.intp) + 1)
        return state * (self.n_dest + 1) + loc

    def recount(self, ag: Agents) -> tuple[np.ndarray, np.ndarray, int]:
        """Stocks (households, persons) and persons abroad after an onward move, from all rows."""
        return self._count(ag.state, ag.dest, ag.children, ag.direct)

    def _count(self, state: np.ndarray, dest: np.ndarray, children: np.ndarray,
               direct: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        S, D = N_STATES, self.n_dest
        persons = children.astype(np.float64) + 1.0
        key = self._key(state, dest)
        h = np.bincount(key, minlength=S * (D + 1)).reshape(S, D + 1)
        p = np.bincount(key, weights=persons, minlength=S * (D + 1)).reshape(S, D + 1)
        away = (state >= State.TRANSIT) & ~direct
        return h, p.astype(np.int64), int(persons[away].sum())

    def yearly_flow(self, name: str, years: np.ndarray, route: int | None = None,
                    unit: str = "persons") -> tuple[np.ndarray, np.ndarray]:
        """Flow ``name`` summed by calendar year: ``(unique years, array (years, D))``.

        ``route`` 0 keeps onward movers, 1 direct claimants, None both; ``unit`` is
        ``"persons"`` or ``"households"``.
        """
        arr = (self.flow_p if unit == "persons" else self.flow_h)[:, FLOWS.index(name)]
        arr = arr.sum(axis=2) if route is None else arr[:, :, route]
        uyears, inv = np.unique(years, return_inverse=True)
        out = np.zeros((uyears.size, arr.shape[1]), dtype=arr.dtype)
        np.add.at(out, inv, arr)
        return uyears, out

    def add_profile(self, group: str, s: np.ndarray, q: np.ndarray, n: int) -> None:
        """Add ``n`` households' sums ``s`` and sums of squares ``q`` (per attribute) to
        the movers' or the stayers' profile."""
        if group == "movers":
            self.movers_sum += s
            self.movers_sq += q
            self.movers_n += n
        else:
            self.stayers_sum += s
            self.stayers_sq += q
            self.stayers_n += n

    def remigrated_from(self, dest: np.ndarray, persons: np.ndarray) -> None:
        """Count households (and their persons) moving on again from destinations ``dest``."""
        if dest.size == 0:
            return
        d = dest.astype(np.int64)
        self.remigrated_from_h += np.bincount(d, minlength=self.n_dest)
        self.remigrated_from_p += np.bincount(d, weights=persons,
                                              minlength=self.n_dest).astype(np.int64)

    # --- tidy tables ---------------------------------------------------------------------
    def tables(self, years: np.ndarray, months: np.ndarray, dests: list[str],
               first_country: str, origin: str) -> dict[str, pd.DataFrame]:
        T, D = self.months, self.n_dest
        out: dict[str, pd.DataFrame] = {}
        # flows: monthly, by destination, flow and route
        t_i, f_i, d_i, r_i = np.meshgrid(np.arange(T), np.arange(len(FLOWS)), np.arange(D),
                                         np.arange(2), indexing="ij")
        flows = pd.DataFrame({
            "year": years[t_i.ravel()], "month": months[t_i.ravel()],
            "destination": np.asarray(dests)[d_i.ravel()],
            "flow": np.asarray(FLOWS)[f_i.ravel()], "route": np.asarray(ROUTES)[r_i.ravel()],
            "persons": self.flow_p.ravel(), "households": self.flow_h.ravel(),
        })
        flows = flows[~((flows.route == "direct") & ~flows.flow.isin(
            ["claims", "repeat_claims", "recognised", "refused"]))].reset_index(drop=True)
        out["flows"] = flows
        yearly = flows.groupby(["year", "destination", "flow", "route"], as_index=False,
                               sort=True)[["persons", "households"]].sum()
        apps = yearly[yearly.flow == "claims"].drop(columns="flow").reset_index(drop=True)
        out["applications"] = apps
        dec = yearly[yearly.flow.isin(["recognised", "refused", "refused_prior_nationality"])]
        dec = dec.pivot_table(index=["year", "destination", "route"], columns="flow",
                              values=["persons", "households"], fill_value=0,
                              aggfunc="sum")
        dec.columns = [f"{b}_{a}" for a, b in dec.columns]
        dec = dec.reset_index()
        for col in ("recognised_persons", "refused_persons", "recognised_households",
                    "refused_households", "refused_prior_nationality_persons",
                    "refused_prior_nationality_households"):
            if col not in dec:
                dec[col] = 0
        decided = dec.recognised_households + dec.refused_households
        dec["grant_rate_main"] = dec.recognised_households / decided.where(decided > 0)
        out["decisions"] = dec
        on = yearly[yearly.route == "onward"]
        dep = on[on.flow == "departures"].set_index(["year", "destination"])["households"]
        bro = on[on.flow == "broker_departures"].set_index(["year", "destination"])["households"]
        brokers = pd.DataFrame({"departures": dep, "broker_departures": bro}).reset_index()
        brokers["broker_share"] = np.where(brokers.departures > 0,
                                           brokers.broker_departures
                                           / brokers.departures.where(brokers.departures > 0, 1),
                                           np.nan)
        out["brokers"] = brokers
        # stocks: monthly, by state and location
        locs = [first_country] + list(dests)
        t_i, s_i, l_i = np.meshgrid(np.arange(T), np.arange(N_STATES), np.arange(D + 1),
                                    indexing="ij")
        stocks = pd.DataFrame({
            "year": years[t_i.ravel()], "month": months[t_i.ravel()],
            "state": np.asarray(STATE_NAMES)[s_i.ravel()],
            "location": np.asarray(locs)[l_i.ravel()],
            "persons": self.stock_p.ravel(), "households": self.stock_h.ravel(),
        })
        valid = np.where(s_i.ravel() <= State.FIRST_COUNTRY, l_i.ravel() == 0, l_i.ravel() > 0)
        stocks = stocks[valid].reset_index(drop=True)
        stocks.loc[stocks.state == "pending", "location"] = origin  # not yet arrived
        out["stocks"] = stocks
        # movers vs stayers
        rows = []
        for group, n, s, q in (("movers", self.movers_n, self.movers_sum, self.movers_sq),
                               ("stayers", self.stayers_n, self.stayers_sum, self.stayers_sq)):
            for k, attr in enumerate(PROFILE_ATTRS):
                mean = s[k] / n if n else np.nan
                var = q[k] / n - mean**2 if n else np.nan
                rows.append({"group": group, "attribute": attr, "mean": mean,
                             "sd": float(np.sqrt(max(var, 0.0))) if n else np.nan, "n": n})
        out["profile"] = pd.DataFrame(rows)
        out["destination_life"] = pd.DataFrame(
            self.life_rows,
            columns=["year", "destination", "generation", "measure", "value", "count"])
        out["destination_profile"] = self.destination_profile_table(dests)
        if self.route_locations:
            out.update(self.route_tables(years, months))
        return out

    def route_tables(self, years: np.ndarray, months: np.ndarray) -> dict[str, pd.DataFrame]:
        """``transit`` (monthly households on the route graph by location and kind of
        journey) and ``journeys`` (completed journeys by year: time in transit, broker share,
        cost)."""
        assert self.transit_h is not None and self.transit_p is not None
        assert self.journeys is not None
        T = years.size
        L = len(self.route_locations)
        names, countries, types = (np.asarray(x, dtype=object)
                                   for x in zip(*self.route_locations, strict=True))
        t_i, k_i, l_i = np.meshgrid(np.arange(T), np.arange(2), np.arange(L), indexing="ij")
        transit = pd.DataFrame({
            "year": years[t_i.ravel()], "month": months[t_i.ravel()],
            "journey": np.asarray(JOURNEY_KINDS)[k_i.ravel()],
            "location": names[l_i.ravel()], "country": countries[l_i.ravel()],
            "type": types[l_i.ravel()],
            "persons": self.transit_p[:T].ravel(), "households": self.transit_h[:T].ravel(),
        })
        sums = pd.DataFrame({
            "year": np.repeat(years, 2), "journey": np.tile(np.asarray(JOURNEY_KINDS), T),
            **{k: self.journeys[:T, :, j].ravel() for j, k in enumerate(JOURNEY_SUMS)},
        }).groupby(["year", "journey"], as_index=False, sort=True).sum()
        n = sums.households.where(sums.households > 0)
        journeys = pd.DataFrame({
            "year": sums.year, "journey": sums.journey,
            "households": sums.households.astype(np.int64),
            "persons": sums.persons.astype(np.int64),
            "mean_months": sums.months / n, "broker_share": sums.broker / n,
            "mean_cost": sums.cost / n,
        })
        return {"transit": transit, "journeys": journeys}

    def destination_profile_table(self, dests: list[str]) -> pd.DataFrame:
        """First movers by destination: mean of each attribute at departure, and their count."""
        n = self.dest_profile_n
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.dest_profile_sum / np.where(n > 0, n, 1)[:, None]
        mean[n == 0] = np.nan
        k = len(DEST_PROFILE_ATTRS)
        return pd.DataFrame({
            "destination": np.repeat(np.asarray(dests, dtype=object), k),
            "attribute": np.tile(np.asarray(DEST_PROFILE_ATTRS, dtype=object), len(dests)),
            "mean": mean.ravel(), "n": np.repeat(n, k),
        })
