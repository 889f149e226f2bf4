"""The route graph: locations, links, dated closures, and travel along them month by month.

A scenario's ``routes:`` section (validated in :mod:`onward.scenario.schema`) is compiled
once into a :class:`RouteGraph` of plain arrays: per link its ends, length, travel time and
cost; per month and link or location whether it is open and how many persons may enter
each location; and every route (a sequence of links without a repeated location) between
the ends of a journey, with the chance that a traveller takes it.

**Route choice.** At each location a traveller picks the next link with the movement
kernel's rule (:func:`onward.engine.kernel.link_weights`): weight = attractiveness of the
next location / (``softening_km`` + link length + the shortest distance from there to the
journey's end), among the links that continue a route to that end. A route's chance is the
product of its choices, so a whole route is drawn once, at departure, with one uniform
number (:func:`onward.engine.kernel.choose` over a table of routes). Journeys a broker
arranges take routes with at least one ``broker_only`` link where one exists; others never
use such links.

**Movement.** Time runs in ticks (:data:`TICKS` per month) so that sums of link times are
exact. A traveller on a link carries the time at which it reaches the link's end (its
remaining distance divided by the link's speed); within each month it crosses as many
links as the month's time allows. Entering a location needs the location open and, where
it has a capacity, room: the persons who may enter a location in a month are capped, and
which households wait is decided by a random draw (stream ``Stage.CAPACITY``). A closed link
stops those on it and those who would enter it; a closed location lets nobody in or out.
Nobody is removed: a traveller who cannot go on waits where it is and tries again the
next month.

Examples
--------
Two routes to the same end, 100 and 140 km long: the weight of each first step is
attractiveness / (softening + distance via it), so the shorter route is taken more often:

>>> w = np.array([1 / (10 + 40 + 60), 1 / (10 + 80 + 60), 1.0, 1.0])  # links 0, 1, 2, 3
>>> [round(float(p), 3) for p in _chances([[0, 2], [1, 3]], w)]
[0.577, 0.423]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from onward.engine import stages_numba
from onward.engine.kernel import Graph, choice_table, choose, link_weights
from onward.engine.rng import Stage, Streams, stream
from onward.engine.state import Agents, State

#: clock ticks per month; link times are whole ticks, so a route's time is an exact sum
TICKS = 1 << 20
#: distinct routes allowed between one start and one end (the graph is meant to be small)
MAX_ROUTES = 5000
#: kinds of journey: to the first country (from the origin) and onward (to a destination)
INBOUND, ONWARD = 0, 1
EMPTY = np.zeros(0, np.int64)
NEVER = np.int64(1) << 60  # a time (ticks) beyond any horizon


class RouteError(ValueError):
    """The route graph cannot be compiled (e.g. too many distinct routes)."""


@dataclass(frozen=True)
class Choice:
    """The routes open to each key (a row) and their chances, as a kernel choice table."""

    graph: Graph  # rows are keys, "locations" beyond them are the routes
    table: np.ndarray
    n_keys: int
    only: np.ndarray  # (n_keys,) the route of a key that has just one, else -1

    @classmethod
    def build(cls, n_keys: int, keys: list[int], routes: list[int], chances: list[float]
              ) -> Choice:
        order = np.lexsort((np.asarray(routes), np.asarray(keys)))  # CSR order already
        k = np.asarray(keys, np.int64)[order]
        r = np.asarray(routes, np.int64)[order]
        w = np.asarray(chances, np.float64)[order]
        g = Graph.from_edges(max(n_keys, int(r.max()) + 1), k, r, np.zeros(k.size))
        single = np.diff(g.indptr)[:n_keys] == 1
        only = np.where(single, g.indices[np.minimum(g.indptr[:n_keys], k.size - 1)], -1)
        return cls(g, choice_table(g, weights=w), n_keys, only.astype(np.int32))

    def draw(self, keys: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The route (its index) drawn for each key with uniform ``u``."""
        keys = np.asarray(keys, np.int64)
        out = self.only[keys]
        many = np.flatnonzero(out < 0)
        if many.size:
            out[many] = choose(keys[many], u[many], self.graph, self.table)
        return out

    def chances(self, key: int) -> dict[int, float]:
        """Route index -> chance, for one key (for checks and documentation)."""
        a, b = self.graph.indptr[key], self.graph.indptr[key + 1]
        edges = self.table[a:b] - key
        p = np.diff(np.concatenate(([0.0], edges)))
        return dict(zip(self.graph.indices[a:b].tolist(), p.tolist(), strict=True))


@dataclass(frozen=True)
class RouteGraph:
    """A compiled route graph (made by :func:`compile_routes`)."""

    names: list[str]
    types: list[str]
    countries: list[str]
    attractiveness: np.ndarray  # (L,)
    link_from: np.ndarray  # (K,) location index
    link_to: np.ndarray  # (K,)
    link_km: np.ndarray  # (K,)
    link_ticks: np.ndarray  # (K,) int64 travel time
    link_cost: np.ndarray  # (K,) months of native wage
    link_broker: np.ndarray  # (K,) bool
    link_mode: list[str]
    open_link: np.ndarray  # (T, K) bool
    open_loc: np.ndarray  # (T, L) bool
    cap: np.ndarray  # (T, L) persons a month who may enter (inf: no limit)
    any_closed: np.ndarray  # (T,) some link closed this month
    any_cap: np.ndarray  # (T,) some location has a finite capacity this month
    wake_link: np.ndarray  # (T + 1, K) first month >= t the link is open (T: never)
    wake_loc: np.ndarray  # (T + 1, L) first month >= t the location is open (T: never)
    capped: np.ndarray  # (T, L) the location has a finite capacity this month
    min_cap: np.ndarray  # (T,) the smallest capacity this month (inf: none)
    to_cap: np.ndarray  # (P, Lmax) ticks from a step's end to entering a capped location
    # the same per step s = route * width + hop (flattened), for the monthly movement
    width: int
    step_link: np.ndarray
    step_from: np.ndarray
    step_to: np.ndarray
    step_ticks: np.ndarray
    step_last: np.ndarray
    step_to_cap: np.ndarray
    links: np.ndarray  # (P, Lmax) int32 link of each step of each route (padded with 0)
    cum: np.ndarray  # (P, Lmax) int64 ticks from the route's start to each link's end
    path_len: np.ndarray  # (P,) links per route
    path_ticks: np.ndarray  # (P,) int64 travel time of the route without waiting
    path_cost: np.ndarray  # (P,) summed link costs
    path_broker: np.ndarray  # (P,) the route uses a broker-only link
    path_start: np.ndarray  # (P,) location
    path_end: np.ndarray  # (P,) location
    first_loc: int
    dest_loc: np.ndarray  # (D,) location of each destination
    inbound: Choice  # key 0: routes from the origin locations to the first country
    onward: Choice  # key 2 d + broker: routes from the first country to destination d

    @property
    def n_locations(self) -> int:
        return len(self.names)

    def route_names(self, p: int) -> list[str]:
        """The locations of route ``p``, start to end."""
        k = self.links[p, : self.path_len[p]]
        return [self.names[self.link_from[k[0]]]] + [self.names[j] for j in self.link_to[k]]

    def routes_table(self) -> pd.DataFrame:
        """Every route with its chance (inbound: key 0; onward: per destination and broker)."""
        rows = []
        for kind, choice in (("inbound", self.inbound), ("onward", self.onward)):
            for key in range(choice.n_keys):
                for p, prob in choice.chances(key).items():
                    rows.append({
                        "journey": kind, "broker_arranged": bool(key % 2) if kind == "onward"
                        else bool(self.path_broker[p]),
                        "route": " -> ".join(self.route_names(p)), "chance": prob,
                        "months": self.path_ticks[p] / TICKS, "cost": self.path_cost[p],
                    })
        return pd.DataFrame(rows)


def _enumerate(L: int, lf: np.ndarray, lt: np.ndarray, usable: np.ndarray, src: int,
               dst: int) -> list[list[int]]:
    """Every route src -> dst (link lists, no location twice) over the usable links."""
    out_links: list[list[int]] = [[] for _ in range(L)]
    into: list[list[int]] = [[] for _ in range(L)]
    for k in np.flatnonzero(usable):
        out_links[lf[k]].append(int(k))
        into[lt[k]].append(int(lf[k]))
    reach = {dst}  # locations from which dst can be reached at all
    todo = [dst]
    while todo:
        for i in into[todo.pop()]:
            if i not in reach:
                reach.add(i)
                todo.append(i)
    routes: list[list[int]] = []
    steps = 0
    stack: list[tuple[int, list[int], frozenset[int]]] = [(src, [], frozenset([src]))]
    while stack:
        here, path, seen = stack.pop()
        steps += 1
        if steps > 50 * MAX_ROUTES:
            raise RouteError(f"routes: the graph between locations {src} and {dst} (in the "
                             "order of routes.locations, from 0) is too tangled to list its "
                             "routes. Fix: remove links that make loops")
        if here == dst:
            routes.append(path)
            if len(routes) > MAX_ROUTES:
                raise RouteError(f"routes: more than {MAX_ROUTES} distinct routes between two "
                                 "locations. Fix: use fewer links (the route graph stands for "
                                 "the main stages of a journey, not a road map)")
            continue
        for k in reversed(out_links[here]):
            j = int(lt[k])
            if j in reach and j not in seen:
                stack.append((j, path + [k], seen | {j}))
    return routes


def _chances(routes: list[list[int]], w: np.ndarray) -> list[float]:
    """Chance of each route when each step picks among the links that continue some route,
    with probability proportional to its weight ``w``."""
    options: dict[tuple[int, ...], set[int]] = {}
    for r in routes:
        for k in range(len(r)):
            options.setdefault(tuple(r[:k]), set()).add(r[k])
    total = {pre: sum(w[x] for x in opts) for pre, opts in options.items()}
    out = []
    for r in routes:
        p = 1.0
        for k in range(len(r)):
            t = total[tuple(r[:k])]
            p *= w[r[k]] / t if t > 0 else 1.0 / len(options[tuple(r[:k])])
        out.append(p)
    return out


def _next_open(is_open: np.ndarray) -> np.ndarray:
    """(T + 1, n): for each month t and column, the first month >= t it is open (T: none)."""
    T = is_open.shape[0]
    out = np.full((T + 1, is_open.shape[1]), T, np.int64)
    for t in range(T - 1, -1, -1):
        out[t] = np.where(is_open[t], t, out[t + 1])
    return out


def compile_routes(sc, T: int) -> RouteGraph:  # sc: Scenario (kept untyped: no import cycle)
    """Compile ``sc.routes`` for a horizon of ``T`` months."""
    r = sc.routes
    start = sc.horizon.start
    names = [x.name for x in r.locations]
    index = {n: i for i, n in enumerate(names)}
    L, K = len(names), len(r.links)
    attr = np.array([x.attractiveness for x in r.locations], np.float64)
    lf = np.array([index[x.from_] for x in r.links], np.int64)
    lt = np.array([index[x.to] for x in r.links], np.int64)
    km = np.array([x.distance_km for x in r.links], np.float64)
    ticks = np.maximum(1, np.rint(np.array([x.travel_months for x in r.links]) * TICKS)
                       ).astype(np.int64)
    cost = np.array([x.cost for x in r.links], np.float64)
    broker = np.array([x.broker_only for x in r.links], bool)
    countries = [x.country for x in r.locations]

    open_link = np.ones((T, K), bool)
    open_loc = np.ones((T, L), bool)
    cap = np.tile(np.array([np.inf if x.capacity is None else x.capacity
                            for x in r.locations], np.float64), (T, 1))
    for cl in r.closures:
        a = max(cl.date.index(start), 0)
        b = T if cl.end is None else min(max(cl.end.index(start), 0), T)
        if b <= a:
            continue
        if cl.what == "link":
            ab = {(index[cl.from_], index[cl.to]), (index[cl.to], index[cl.from_])}
            ks = [k for k in range(K) if (lf[k], lt[k]) in ab]
            open_link[a:b, ks] = False
        elif cl.what == "location":
            i = index[cl.name]
            if cl.capacity is None:
                open_loc[a:b, i] = False
            else:
                cap[a:b, i] = np.minimum(cap[a:b, i], cl.capacity)
        else:
            pair = set(cl.between)
            ks = [k for k in range(K) if {countries[lf[k]], countries[lt[k]]} == pair]
            open_link[a:b, ks] = False

    # shortest distance (km) from every location to every other, over all links
    dist = shortest_path(csr_matrix((km, (lf, lt)), shape=(L, L)), directed=True)
    order = np.lexsort((lt, lf))
    g_sorted = (lf[order], lt[order])

    def weights(target: int) -> np.ndarray:
        """Kernel link weights towards ``target`` (per link, scenario order)."""
        d = km[order] + dist[g_sorted[1], target]
        g = Graph.from_edges(L, g_sorted[0], g_sorted[1], np.where(np.isfinite(d), d, 0.0))
        w = np.empty(K)
        w[order] = link_weights(g, attr, r.softening_km)
        return w

    types = [x.type for x in r.locations]
    first = types.index("first_country")
    dest_loc = np.array([next(i for i, x in enumerate(r.locations)
                              if x.type == "destination" and x.country == code)
                         for code in sc.destination_codes], np.int64)
    all_links = np.ones(K, bool)

    paths: list[list[int]] = []
    pid: dict[tuple[int, ...], int] = {}

    def add(route: list[int]) -> int:
        key = tuple(route)
        if key not in pid:
            pid[key] = len(paths)
            paths.append(route)
        return pid[key]

    # inbound: from any origin location (chosen by attractiveness) to the first country
    origins = [i for i, x in enumerate(types) if x == "origin"]
    share = attr[origins] / attr[origins].sum()
    w_first = weights(first)
    in_keys, in_routes, in_p = [], [], []
    for o, s in zip(origins, share, strict=True):
        routes = _enumerate(L, lf, lt, all_links, o, first)
        for route, p in zip(routes, _chances(routes, w_first), strict=True):
            in_keys.append(0)
            in_routes.append(add(route))
            in_p.append(s * p)
    # onward: first country -> each destination, plain (no broker-only link) or arranged
    on_keys, on_routes, on_p = [], [], []
    for d, loc in enumerate(dest_loc):
        w = weights(int(loc))
        routes = _enumerate(L, lf, lt, all_links, first, int(loc))
        plain = [x for x in routes if not broker[x].any()]
        brokered = [x for x in routes if broker[x].any()] or routes
        for b, subset in ((0, plain), (1, brokered)):
            for route, p in zip(subset, _chances(subset, w), strict=True):
                on_keys.append(2 * d + b)
                on_routes.append(add(route))
                on_p.append(p)

    P = len(paths)
    Lmax = max(len(x) for x in paths)
    links = np.zeros((P, Lmax), np.int32)
    cum = np.full((P, Lmax), np.iinfo(np.int64).max, np.int64)
    for p, route in enumerate(paths):
        links[p, : len(route)] = route
        cum[p, : len(route)] = np.cumsum(ticks[route])
    path_len = np.array([len(x) for x in paths], np.int32)
    # ticks from the end of each step to entering a location that ever has a capacity
    ever = np.isfinite(cap).any(axis=0)
    to_cap = np.full((P, Lmax), NEVER, np.int64)
    for p, route in enumerate(paths):
        nxt = NEVER
        for h in range(len(route) - 1, -1, -1):
            if ever[lt[route[h]]]:
                nxt = 0
            to_cap[p, h] = nxt
            nxt = min(NEVER, nxt + ticks[route[h]])
    return RouteGraph(
        names=names, types=types, countries=countries, attractiveness=attr,
        link_from=lf.astype(np.int32), link_to=lt.astype(np.int32), link_km=km,
        link_ticks=ticks, link_cost=cost, link_broker=broker,
        link_mode=[x.mode for x in r.links],
        open_link=open_link, open_loc=open_loc, cap=cap,
        any_closed=~open_link.all(axis=1) | ~open_loc.all(axis=1),
        any_cap=np.isfinite(cap).any(axis=1),
        wake_link=_next_open(open_link), wake_loc=_next_open(open_loc),
        capped=np.isfinite(cap), min_cap=cap.min(axis=1), to_cap=to_cap,
        width=Lmax, step_link=links.ravel(), step_from=lf[links].ravel().astype(np.int32),
        step_to=lt[links].ravel().astype(np.int32), step_ticks=ticks[links].ravel(),
        step_last=(np.arange(Lmax)[None, :] == path_len[:, None] - 1).ravel(),
        step_to_cap=to_cap.ravel(),
        links=links, cum=cum, path_len=path_len,
        path_ticks=cum[np.arange(P), path_len - 1],
        path_cost=np.array([cost[x].sum() for x in paths]),
        path_broker=np.array([bool(broker[x].any()) for x in paths]),
        path_start=lf[links[:, 0]].astype(np.int32),
        path_end=lt[links[np.arange(P), path_len - 1]].astype(np.int32),
        first_loc=first, dest_loc=dest_loc,
        inbound=Choice.build(1, in_keys, in_routes, in_p),
        onward=Choice.build(2 * len(dest_loc), on_keys, on_routes, on_p),
    )


class Transit:
    """Travellers on the route graph of one run: inbound households (origin -> first
    country, state ``pending``) and onward ones (first country -> destination, state
    ``transit``).

    Columns are indexed by household row; ``active`` lists the rows on the graph. Each
    inbound household's route is drawn at the start, and it sets out early enough to reach
    the first country in its scheduled arrival month when nothing holds it up.

    ``step`` is the household's route and position on it (``route * width + hop``): it is on
    that step's link (``moving``) or waits at the link's start. ``t_next`` is the time it
    reaches the link's end, or the earliest time it may set out on it (one held by a closure
    sleeps until the month the closure ends), so a household whose ``t_next`` lies beyond
    the current month costs nothing that month. ``held`` marks one that reached a link's end
    but was not let in. For the stocks a household counts at the start of its current link.
    """

    def __init__(self, rg: RouteGraph, ag: Agents, seed: int, streams: Streams):
        n = ag.n
        self.rg = rg
        self.streams = streams
        self.L = L = rg.n_locations
        self.step = np.full(n, -1, np.int64)
        self.moving = np.zeros(n, bool)
        self.held = np.zeros(n, bool)
        self.any_held = False
        self.t_next = np.zeros(n, np.int64)
        self.start = np.zeros(n, np.int32)
        self.offset = np.where(ag.direct, L, 0).astype(np.int64)  # kind * L, for stocks
        self.persons = 1.0 + ag.children.astype(np.float64)
        self.active = EMPTY
        self.reached_first = EMPTY
        self.reached_dest = EMPTY
        #: a month with no closure, no binding capacity and nobody held travels in one
        #: compiled pass (stages_numba.travel_waves); False: the NumPy loop (tests compare)
        self.compiled_waves = True
        #: households that reach the first country over the route graph
        self.routed = ~ag.direct & (ag.arrive >= 0)
        rows = np.flatnonzero(self.routed)
        u = stream(seed, Stage.ROUTES, 0).random(rows.size)
        p = rg.inbound.draw(np.zeros(rows.size, np.int64), u).astype(np.int64)
        # set out so as to arrive in the scheduled month: floor(start + travel) = arrive
        start = ag.arrive[rows].astype(np.int64) - rg.path_ticks[p] // TICKS
        # waiting at the origin, ready at the start of the month it sets out in; one that
        # set out before the horizon is where its route has taken it by month 0
        hop = np.zeros(rows.size, np.int64)
        t_next = np.maximum(start, 0) * TICKS
        early = np.flatnonzero(start < 0)
        if early.size:
            pe = p[early]
            hop[early] = (rg.cum[pe] < -start[early, None] * TICKS).sum(axis=1)
            t_next[early] = start[early] * TICKS + rg.cum[pe, hop[early]]
            self.moving[rows[early]] = True
        self.step[rows] = p * rg.width + hop
        self.t_next[rows] = t_next
        self.start[rows] = start
        self.offset[rows] = INBOUND * L
        order = np.argsort(start, kind="stable")
        self._in_rows = rows[order]
        self._in_start = start[order]
        #: households set out by the end of month t: the first _in_upto[t] of _in_rows
        self._in_upto = np.searchsorted(self._in_start, np.arange(rg.any_closed.size),
                                        side="right")
        self._in_next = 0

    @property
    def link(self) -> np.ndarray:
        """The current (or next) link of every household (meaningful on the graph only)."""
        return self.rg.step_link[np.maximum(self.step, 0)]

    # --- the monthly step -----------------------------------------------------------------
    def move(self, t: int, ag: Agents, rec) -> None:
        """Travel during month ``t``; sets ``reached_first`` and ``reached_dest``."""
        rg = self.rg
        t0, t1 = t * TICKS, (t + 1) * TICKS
        k = int(self._in_upto[t])
        if k > self._in_next:
            self.active = np.concatenate([self.active, self._in_rows[self._in_next:k]])
            rec.inbound_started[t] += k - self._in_next
            self._in_next = k
        A = self.active
        self.reached_first = self.reached_dest = EMPTY
        if A.size == 0:
            return
        tn = self.t_next[A]
        closed = bool(rg.any_closed[t])
        if closed:
            # those on a closed link make no progress this month
            on = np.flatnonzero(self.moving[A] & ~self.held[A] & (tn > t0))
            frozen = on[~rg.open_link[t, rg.step_link[self.step[A[on]]]]]
            tn[frozen] += TICKS
            self.t_next[A[frozen]] = tn[frozen]
        sub = np.flatnonzero(tn < t1)
        if sub.size == 0:
            return
        rows = A[sub]
        tn = np.maximum(tn[sub], t0)  # who waited since an earlier month goes on now
        s, mv = self.step[rows], self.moving[rows]
        track = closed or self.any_held or bool(rg.any_cap[t])
        held = self.held[rows] if track else None
        if closed:
            # one that reached a closed link's end before it closed stays there
            tn[mv & ~rg.open_link[t, rg.step_link[s]]] = t1
        done: list[np.ndarray] = []
        # capacities can only bind if more persons than the smallest one can reach a
        # location with a capacity this month
        capped = None
        if rg.any_cap[t]:
            soonest = tn + np.where(mv, 0, rg.step_ticks[s]) + rg.step_to_cap[s]
            if self.persons[rows[soonest < t1]].sum() > rg.min_cap[t]:
                capped = rg.capped[t]
                used = np.zeros(self.L)
        if (self.compiled_waves and not closed and capped is None
                and (held is None or not held.any())):
            # nothing in anyone's way this month: one compiled pass does the waves below
            fin = stages_numba.travel_waves(tn, mv, s, t1, rg.step_last, rg.step_ticks)
            done = [fin] if fin.size else []
            a = b = EMPTY
        else:
            a = np.flatnonzero(mv & (tn < t1))
            b = np.flatnonzero(~mv)
        while a.size or b.size:
            if a.size:
                # reach the link's end: enter its location if open and with room
                loc = rg.step_to[s[a]]
                ok = rg.open_loc[t, loc] if closed else None
                if capped is not None:
                    c = capped[loc]
                    if c.any():
                        ok = self._admit(t, loc, c if ok is None else c & ok,
                                         np.ones(a.size, bool) if ok is None else ok,
                                         rows[a], used)
                e = a if ok is None else a[ok]
                last = rg.step_last[s[e]]
                if last.any():
                    done.append(e[last])
                    e = e[~last]
                s[e] += 1
                mv[e] = False
                if held is not None:
                    held[e] = False
                    if ok is not None and not ok.all():
                        no = a[~ok]
                        held[no] = True
                        self.any_held = True
                        # kept out by a closed location: sleep until it opens (a full one:
                        # next month)
                        shut = no[~rg.open_loc[t, loc[~ok]]]
                        tn[shut] = np.maximum(tn[shut],
                                              rg.wake_loc[t + 1, rg.step_to[s[shut]]] * TICKS)
                b = np.concatenate([b, e]) if b.size else e
            if b.size == 0:
                break
            # set out on the next link if it and the location are open
            if closed:
                nxt = rg.step_link[s[b]]
                here = rg.link_from[nxt]
                ok = rg.open_link[t, nxt] & rg.open_loc[t, here]
                if not ok.all():
                    no = ~ok
                    # held by a closure: sleep until the link and the location are open
                    tn[b[no]] = np.maximum(rg.wake_link[t + 1, nxt[no]],
                                           rg.wake_loc[t + 1, here[no]]) * TICKS
                    b = b[ok]
            mv[b] = True
            tn[b] += rg.step_ticks[s[b]]
            a = b[tn[b] < t1]
            b = EMPTY
        self.t_next[rows], self.moving[rows], self.step[rows] = tn, mv, s
        if held is not None:
            self.held[rows] = held
        if done:
            fin = np.concatenate(done) if len(done) > 1 else done[0]
            self._finish(rows[fin], s[fin] // rg.width, t, ag, rec)
            keep = np.ones(A.size, bool)
            keep[sub[fin]] = False
            self.active = A[keep]

    def _admit(self, t: int, loc: np.ndarray, capped: np.ndarray, ok: np.ndarray,
               rows: np.ndarray, used: np.ndarray) -> np.ndarray:
        """Who of those reaching ``loc`` may enter (``capped``: at a capacity this month;
        ``ok``: the location is open), given the persons who entered this month (``used``)."""
        cap = self.rg.cap[t]
        lim = np.flatnonzero(capped)
        where = loc[lim]
        persons = self.persons[rows[lim]]
        want = np.bincount(where, weights=persons, minlength=used.size)
        if (used + want <= cap).all():  # room for all: no draw needed
            used += want
            return ok
        # in a random order, a household enters while fewer persons than the capacity have
        # entered this month (so a household larger than the capacity still passes alone)
        u = self.streams(Stage.CAPACITY).random(lim.size)
        order = np.lexsort((u, where))
        w, pers = where[order], persons[order]
        cum = np.cumsum(pers)
        first = np.flatnonzero(np.concatenate([[True], w[1:] != w[:-1]]))
        base = np.repeat(cum[first] - pers[first], np.diff(np.append(first, w.size)))
        admit = np.empty(lim.size, bool)
        admit[order] = used[w] + cum - pers - base < cap[w]
        used += np.bincount(where[admit], weights=persons[admit], minlength=used.size)
        out = ok.copy()
        out[lim[~admit]] = False
        return out

    def _finish(self, rows: np.ndarray, p: np.ndarray, t: int, ag: Agents, rec) -> None:
        """Households ``rows`` that reached the end of their routes ``p`` this month."""
        rg = self.rg
        onward = self.offset[rows] > 0
        # households, persons, months on the way, broker-arranged, cost (JOURNEY_SUMS)
        stages_numba.journey_sums(rec.journeys[t], np.asarray(rows, np.int64), onward,
                                  np.asarray(p, np.int64), t + 1.0, self.persons, self.start,
                                  ag.via_broker, rg.path_broker, rg.path_cost)
        self.step[rows] = -1
        self.reached_first = rows[~onward]
        self.reached_dest = rows[onward]

    # --- end of the month -----------------------------------------------------------------
    def end_of_month(self, t: int, ag: Agents, rec) -> None:
        """Put this month's onward departures on their routes and record the stocks.

        Those who left the first country in month ``t`` (or moved on again from a
        destination) set out from the first country's location at the start of ``t + 1``.
        ``rec.changed`` holds the rows whose state or destination changed this month.
        """
        rg, L = self.rg, self.L
        ch = rec.changed
        new = ch[(ag.state[ch] == int(State.TRANSIT))] if ch is not None else EMPTY
        if new.size:  # (a household in transit changes state only when it arrives)
            key = 2 * ag.dest[new].astype(np.int64) + ag.via_broker[new]
            p = rg.onward.draw(key, self.streams(Stage.ROUTES).random(new.size))
            self.step[new] = p.astype(np.int64) * rg.width
            self.moving[new] = False
            self.held[new] = False
            self.t_next[new] = (t + 1) * TICKS
            self.start[new] = t + 1
            self.persons[new] = 1.0 + ag.children[new]
            self.offset[new] = ONWARD * L
            self.active = np.concatenate([self.active, new])
        # bincount of each household's cell (kind * L + location), and weighted by persons
        h, p = stages_numba.transit_stocks(self.active, self.offset, rg.step_from, self.step,
                                           self.persons, 2 * L)
        rec.transit_h[t] = h.reshape(2, L)
        rec.transit_p[t] = p.reshape(2, L)
        # conservation: everyone in state transit is on the graph
        on_graph = int(rec.transit_h[t, ONWARD].sum())
        if on_graph != int(rec.stock_h[t, State.TRANSIT].sum()):
            raise RuntimeError(f"month {t}: households in transit on the route graph "
                               f"({on_graph}) differ from those in state transit "
                               f"({int(rec.stock_h[t, State.TRANSIT].sum())})")
