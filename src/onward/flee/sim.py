"""A Flee 3.1 run, vectorised: agents are integer arrays, one day is a few array passes.

Each day follows Flee's driver: conflicts for the day, spawning from the day's increase of
the UNHCR total (minus the refugee debt), spawn-weight refresh, closures, then
``Ecosystem.evolve`` — every agent at a location may set out (move chance of its
location; route drawn over the candidate paths of :mod:`onward.flee.routes` with Flee's
weight ``(score / (softening + km)) * fill``), then every agent on a link advances by the
day's speed; an agent that arrives with distance to spare evolves again at once, and so
on. Finally camp counts are compared with the camp series.

Agents are rows of arrays: ``loc`` (location, or the start of the link while
travelling), ``link`` (-1 at a location), ``progress`` (km on the link), a route
(``route[:, k]``, ``route_pos``, ``route_len``), ``places`` (places travelled),
``recent`` and ``moved`` (km) and ``doomed`` (on a link when it closed: Flee sends such
agents back to the link's start).

>>> from onward.flee import read_flee_folder, simulate_flee        # doctest: +SKIP
>>> run = simulate_flee(read_flee_folder("mali2012"), seed=1)      # doctest: +SKIP
>>> run.table[["Day", "Fassala-Mbera sim", "Fassala-Mbera data"]]  # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd

from onward.engine.kernel import choice_table, choose
from onward.flee.errors import FleeError
from onward.flee.reader import FleeCase
from onward.flee.routes import Paths, enumerate_paths
from onward.flee.series import field as series_field


@dataclass(frozen=True)
class SpawnSchedule:
    """The seed-independent part of a run: per day the raw UNHCR total, the number of new
    agents and the refugee debt, plus the day-0 camp agents and the observed camp counts."""

    raw: np.ndarray        # get_field("total", t)
    new: np.ndarray        # agents spawned on day t
    debt: np.ndarray       # refugee debt after day t
    initial: np.ndarray    # agents placed in each camp on day 0 (camp order)
    observed: np.ndarray   # days x camps, get_field(camp, t)


def spawn_schedule(case: FleeCase, days: int) -> SpawnSchedule:
    """Flee 3.1's data-driven spawning counts (independent of the seed)."""
    t = np.arange(days)
    raw = series_field(case.total, t)
    new = np.zeros(days, dtype=np.int64)
    debt = np.zeros(days, dtype=np.int64)
    owed = 0
    for d in range(days):
        diff = int(raw[0]) if d == 0 else int(raw[d] - raw[d - 1])
        n = diff - owed
        if d == 0 and case.settings.insert_day0:
            n = 0
        if n < 0:
            owed = -n
            n = 0
        elif owed > 0:
            owed = 0
        new[d] = n
        debt[d] = owed
    names = [case.loc_names[c] for c in case.camps]
    observed = np.stack([series_field(case.camp_series[nm], t) for nm in names], axis=1) \
        if names else np.zeros((days, 0), dtype=np.int64)
    if case.settings.insert_day0 and days:
        initial = np.asarray([int(series_field(case.camp_series[nm], np.zeros(1))[0])
                              for nm in names], dtype=np.int64)
    else:
        initial = np.zeros(len(names), dtype=np.int64)
    return SpawnSchedule(raw, new, debt, np.maximum(initial, 0), observed)


@dataclass
class FleeRun:
    """The result of :func:`simulate_flee`: ``table`` has Flee's out.csv columns."""

    case: FleeCase
    seed: int
    days: int
    table: pd.DataFrame
    engine_seconds: float
    agents: int
    agent_steps: int
    camp_names: list[str] = field(default_factory=list)


class _State:
    """Location and link state that Flee changes during a run."""

    def __init__(self, case: FleeCase):
        s = case.settings
        self.case = case
        self.conflict = case.conflict.copy()
        self.movechance = case.movechance.copy()
        self.camp = case.is_camp.copy()
        self.town = case.is_town.copy()
        self.idp = case.idpcamp.copy()
        self.pop = case.pop.copy()
        self.toc = np.full(case.n_locations, -1, dtype=np.int64)  # time of conflict
        self.open = np.ones(len(case.graph.indices), dtype=bool)
        self.src = case.graph.sources()
        self.dst = case.graph.indices.astype(np.int64)
        self.country = np.asarray(case.country, dtype=object)
        self.settings = s
        self.paths: Paths | None = None
        self.cap = case.capacity.astype(np.float64)
        self.no_cap = self.cap < 1
        self.buf_cap = s.capacity_buffer * self.cap
        self.cap_span = np.where(self.no_cap, 1.0, self.cap * (1.0 - s.capacity_buffer))

    def rebuild_paths(self) -> None:
        self.paths = enumerate_paths(self.case.graph, self.open, self.case.is_marker,
                                     self.settings.awareness_level)
        n = self.case.n_locations
        e = np.flatnonzero(self.open)
        key = self.src[e] * n + self.dst[e]
        # the first open link per (from, to) pair, in CSR order
        order = np.argsort(key, kind="stable")
        key, e = key[order], e[order]
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        self.edge_key = key[first]
        self.edge_id = e[first]
        if n <= 2048:  # a dense lookup is one indexing operation
            self.edge_mat = np.full((n, n), -1, dtype=np.int64)
            self.edge_mat[self.edge_key // n, self.edge_key % n] = self.edge_id
        else:
            self.edge_mat = None
        self.path_degree = self.paths.graph.degree
        self.single_hop = self.paths.width == 1
        src = self.paths.graph.sources()
        self.path_edge = self.edge_between(src, self.paths.end.astype(np.int64))
        # reach[i, j]: some candidate route from i ends at j
        self.reach = np.zeros((n, n), dtype=bool)
        self.reach[self.paths.graph.sources(), self.paths.end] = True

    def edge_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The open link a -> b, or -1."""
        if self.edge_mat is not None:
            return self.edge_mat[a, b]
        if len(self.edge_key) == 0:
            return np.full(len(a), -1, dtype=np.int64)
        key = a.astype(np.int64) * self.case.n_locations + b
        pos = np.minimum(np.searchsorted(self.edge_key, key), len(self.edge_key) - 1)
        return np.where(self.edge_key[pos] == key, self.edge_id[pos], -1)

    def scores(self, t: int) -> np.ndarray:
        s = self.settings
        score = np.where(self.case.foreign, s.foreign_weight, 1.0)
        score = score * np.where(self.camp, s.camp_weight, 1.0)
        c = self.conflict > 0.0
        dec = s.decay(t - self.toc)
        score = score * np.where(c, s.conflict_weight ** (dec * np.where(c, self.conflict, 0)),
                                 1.0)
        if s.use_pop_for_loc_weight:
            popw = np.minimum(1.0, self.pop.astype(np.float64)) ** s.pop_power_for_loc_weight
            score = score * np.where(self.camp, 1.0, popw)
        return score

    def spawn_weights(self, t: int) -> np.ndarray:
        c = self.conflict > 0.0
        dec = self.settings.decay(t - self.toc)
        return np.where(c, self.pop * np.where(c, self.conflict, 0) * dec, 0.0)

    def fill(self, count: np.ndarray) -> np.ndarray:
        """Flee's capacity multiplier: 1 up to buffer x capacity, 0 at capacity, linear
        between; 1 where the capacity is below 1."""
        n = count.astype(np.float64)
        mid = np.minimum(1.0 - (n - self.buf_cap) / self.cap_span, 1.0)
        return np.where(self.no_cap, 1.0, np.where(n >= self.cap, 0.0, mid))

    def move_chance(self) -> np.ndarray:
        s = self.settings
        size = np.maximum(self.pop, self.case.capacity).astype(np.float64)
        return self.movechance * (size / s.movechance_pop_base) ** s.movechance_pop_scale_factor


def check_days(case: FleeCase, days: int | None = None) -> None:
    """Refuse a run of ``days`` days (default: sim_period's Length) that the folder cannot
    feed: fewer than one day, or fewer rows of conflicts.csv than days (Flee 3.1 crashes).
    ``onward validate`` asks this too (it said ok to a folder ``onward run`` refused)."""
    days = case.length if days is None else int(days)
    if days < 1:
        raise FleeError([f"input_csv/sim_period.csv:1: Length: {days} days. Fix: run at "
                         "least one day (--days N)"])
    if case.conflict_values.shape[0] < days:
        raise FleeError([f"input_csv/conflicts.csv:{case.conflict_values.shape[0] + 1}: rows: "
                         f"{case.conflict_values.shape[0]} days of conflicts for a {days}-day "
                         "run (Flee 3.1 crashes). Fix: add a row per day or run fewer days"])


def simulate_flee(case: FleeCase, days: int | None = None, seed: int = 1) -> FleeRun:
    """Run ``case`` for ``days`` days (default: sim_period's Length) like Flee 3.1."""
    s = case.settings
    days = case.length if days is None else int(days)
    check_days(case, days)
    sched = spawn_schedule(case, days)
    rng = np.random.Generator(np.random.SFC64(np.random.SeedSequence([int(seed), 0xF1EE])))
    n_total = int(sched.initial.sum() + sched.new.sum())
    n_loc = case.n_locations
    g = case.graph
    st = _State(case)
    st.rebuild_paths()

    loc = np.zeros(n_total, dtype=np.int32)
    link = np.full(n_total, -1, dtype=np.int64)
    progress = np.zeros(n_total)
    places = np.ones(n_total, dtype=np.int32)
    recent = np.zeros(n_total)
    moved = np.zeros(n_total)
    doomed = np.zeros(n_total, dtype=bool)
    width = max(st.paths.width, 1)
    route = np.full((n_total, width), -1, dtype=np.int32)
    route_pos = np.zeros(n_total, dtype=np.int32)
    route_len = np.zeros(n_total, dtype=np.int32)
    n = 0
    for c, k in zip(case.camps, sched.initial, strict=True):
        loc[n:n + k] = c
        n += int(k)

    speed = np.where(np.isnan(case.edge_speed), s.max_move_speed, case.edge_speed)
    any_walk = bool((case.edge_walk > 0).any())
    camps = np.asarray(case.camps, dtype=np.int64)
    sim_counts = np.zeros((days, len(camps)), dtype=np.int64)
    total_agents = np.zeros(days, dtype=np.int64)
    agent_steps = 0
    cols = case.conflict_cols
    cv = case.conflict_values
    known = np.asarray(cols, dtype=np.int64) >= 0
    by_name = {nm: i for i, nm in enumerate(case.loc_names)}

    # agents at each location (not on a link), kept up to date as agents move
    here_count = np.bincount(loc[:n], minlength=n_loc).astype(np.int64)
    cache: dict[str, object] = {}

    def routes_table(score: np.ndarray, fill: np.ndarray) -> np.ndarray:
        """Choice table over candidate paths; rebuilt only when an input changed."""
        p = st.paths
        key = (id(p), score.tobytes(), fill.tobytes())
        if cache.get("key") != key:
            w = ((s.weight_softening + score[p.end])
                 / (s.distance_softening + p.graph.distance) ** s.distance_power
                 * fill[p.end]) ** s.weight_power
            cache["key"] = key
            cache["table"] = choice_table(p.graph, weights=w)
        return cache["table"]  # type: ignore[return-value]

    def evolve(idx: np.ndarray, force: np.ndarray | None, t: int, score: np.ndarray,
               mc: np.ndarray) -> np.ndarray:
        """Agents ``idx`` (at a location, in creation order) may set out; returns those who
        boarded a link.

        Flee evolves agents one by one, so an agent leaving a full camp frees room for the
        agents after it. Where departures could move a place's fill across Flee's
        thresholds, the movers are processed in creation order in segments that end at
        each mover standing there, with the fill recomputed between segments (usually
        one segment).
        """
        here = loc[idx]
        chance = mc[here]
        if force is not None:
            chance = np.where(force & st.town[here], 1.0, chance)
        go = rng.random(len(idx)) < chance
        idx = idx[go]
        if len(idx) == 0:
            return idx
        # places where this pass's departures could move the fill across Flee's two
        # thresholds (0.5: destination dropped; 0: full); smaller fill changes only nudge
        # route weights and are applied after the pass
        leaving = np.bincount(loc[idx], minlength=n_loc)
        f0, f1 = st.fill(here_count), st.fill(here_count - leaving)
        cross = ((f0 < 0.5) & (f1 >= 0.5)) | ((f0 <= 0.0) & (f1 > 0.0))
        tight = cross[loc[idx]]
        if tight.any():
            # ... and only if some mover here could head for that place
            origins = np.flatnonzero(leaving)
            tight &= st.reach[origins].any(axis=0)[loc[idx]]
        cuts = np.flatnonzero(tight) + 1
        if len(cuts) == 0 or (len(cuts) == 1 and cuts[0] == len(idx)):
            return depart(idx, score)
        parts = []
        lo = 0
        for hi in [*cuts.tolist(), len(idx)]:
            if hi > lo:
                parts.append(depart(idx[lo:hi], score))
            lo = hi
        return np.concatenate(parts)

    def depart(idx: np.ndarray, score: np.ndarray) -> np.ndarray:
        """Movers ``idx`` pick a route if they have none and board its next link."""
        nonlocal route, width
        fill = st.fill(here_count)
        p = st.paths
        if st.single_hop and not (route_pos[idx] < route_len[idx]).any():
            # every route is one link, chosen and taken (or dropped) at once
            movers = idx[st.path_degree[loc[idx]] > 0]
            if len(movers) == 0:
                return movers
            pid = choose(loc[movers], rng.random(len(movers)), p.graph,
                         routes_table(score, fill))
            end = p.end[pid]
            ok = ~(st.camp[end] & (fill[end] < 0.5))
            board = movers[ok]
            here_count[:] -= np.bincount(loc[board], minlength=n_loc)
            link[board] = st.path_edge[pid[ok]]
            progress[board] = 0.0
            return board
        need = idx[route_pos[idx] >= route_len[idx]]
        if len(need):
            need = need[st.path_degree[loc[need]] > 0]
        if len(need):
            table = routes_table(score, fill)
            pid = choose(loc[need], rng.random(len(need)), p.graph, table)
            if p.width > width:
                route = np.pad(route, ((0, 0), (0, p.width - width)), constant_values=-1)
                width = p.width
            route[need, :] = -1
            route[need, :p.width] = p.nodes[pid]
            route_len[need] = p.length[pid]
            route_pos[need] = 0
        has = idx[route_pos[idx] < route_len[idx]]
        nxt = route[has, route_pos[has]]
        last = route[has, route_len[has] - 1]
        e = st.edge_between(loc[has], nxt)
        # Flee drops the route, and stays, when its destination is a camp at fill < 0.5
        full = st.camp[last] & (fill[last] < 0.5)
        ok = (e >= 0) & ~full
        bad = has[~ok]
        route_len[bad] = 0
        route_pos[bad] = 0
        board = has[ok]
        here_count[:] -= np.bincount(loc[board], minlength=n_loc)
        link[board] = e[ok]
        progress[board] = 0.0
        route_pos[board] += 1
        return board

    t0 = time.perf_counter()
    for t in range(days):
        # 1. conflicts of the day
        v = cv[t]
        prev = cv[t - 1] if t > 0 else np.zeros_like(v)
        start = (v > 0.000001) & ((t == 0) | (prev < 0.000001))
        stop = (v < 0.000001) & (t > 0) & (prev == 1)
        # Flee refreshes spawn weights when a known zone starts or any column stops
        refreshed = bool((start & known).any() or stop.any())
        for j in np.flatnonzero((start | stop) & known):
            ix = cols[j]
            if start[j]:
                st.movechance[ix] = s.conflict_movechance
                st.conflict[ix] = v[j]
                st.town[ix] = False
                st.toc[ix] = t
            else:
                st.movechance[ix] = s.default_movechance
                st.conflict[ix] = -1.0
                st.town[ix] = True
        # 2. spawning from the UNHCR total (weights as last refreshed)
        k = int(sched.new[t])
        if k:
            w = st.spawn_weights(t if (refreshed or t == 0) else t - 1)
            tot = w.sum()
            if not tot > 0:
                raise FleeError([f"input_csv/conflicts.csv:{t + 2}: day {t}: {k} new agents "
                                 "but no conflict zone with population to spawn them (Flee "
                                 "3.1 fails an assertion). Fix: give a conflict zone a "
                                 "population or start a conflict"])
            per = rng.multinomial(k, w / tot)
            if s.take_from_population:
                st.pop -= per
                if (st.pop < 0).any():
                    bad = case.loc_names[int(np.flatnonzero(st.pop < 0)[0])]
                    raise FleeError([f"input_csv/locations.csv:1: population: {bad} runs out "
                                     f"of people on day {t} with take_from_population (Flee "
                                     "3.1 fails an assertion). Fix: raise its population or "
                                     "set take_from_population: false"])
            # Flee draws spawn places one agent at a time: the day's agents are interleaved
            loc[n:n + k] = rng.permutation(np.repeat(np.arange(n_loc, dtype=np.int32), per))
            here_count += per
            n += k
        # 3. closures of the day
        changed = False
        for c in case.closures:
            for when, close in ((c.start, True), (c.end, False)):
                if t != when:
                    continue
                if c.kind in ("camp", "idpcamp"):
                    j = by_name[c.name1]
                    st.conflict[j] = -1.0
                    if close:
                        st.movechance[j] = s.default_movechance
                        st.camp[j], st.idp[j], st.town[j] = False, False, True
                    else:
                        idp = c.kind == "idpcamp"
                        st.movechance[j] = s.idpcamp_movechance if idp else s.camp_movechance
                        st.camp[j], st.town[j] = True, False
                        st.idp[j] = st.idp[j] or idp
                    continue
                if c.kind == "country":
                    a, b = st.country[st.src], st.country[st.dst]
                    sel = ((a == c.name1) & (b == c.name2)) | ((a == c.name2) & (b == c.name1))
                elif c.kind == "location":
                    j = by_name[c.name1]
                    sel = (st.src == j) | (st.dst == j)
                else:  # link: Flee 3.1 acts on name2 -> name1 only
                    sel = (st.src == by_name[c.name2]) & (st.dst == by_name[c.name1])
                if close:
                    hit = sel & st.open
                    if hit.any():
                        on = link[:n] >= 0
                        doomed[:n] |= on & hit[np.where(on, link[:n], 0)]
                        st.open &= ~hit
                        changed = True
                else:
                    hit = sel & ~st.open
                    if hit.any():
                        st.open |= hit
                        changed = True
        if changed:
            st.rebuild_paths()
        # 4. evolve: set out, then travel (chained hops while the day's km last)
        score = st.scores(t)
        mc = st.move_chance()
        at = np.flatnonzero(link[:n] < 0)
        agent_steps += n
        evolve(at, None, t, score, mc)
        active = np.flatnonzero(link[:n] >= 0)
        while len(active):
            e = link[active]
            sp = speed[e]
            if s.start_on_foot:
                sp = np.where(places[active] == 1, s.max_walk_speed, sp)
            if any_walk:
                sp = np.where(rng.random(len(active)) < case.edge_walk[e], s.max_walk_speed,
                              sp)
            progress[active] += sp
            moved[active] += sp
            dist = g.distance[e]
            arrived = progress[active] > dist
            a = active[arrived]
            if len(a) == 0:
                break
            ea, spa = e[arrived], sp[arrived]
            places[a] += 1
            moved[a] += dist[arrived] - progress[a]
            back = doomed[a]
            # a closed link returns its travellers to its start, with no further move
            loc[a] = np.where(back, st.src[ea], st.dst[ea])
            here_count[:] += np.bincount(loc[a], minlength=n_loc)
            link[a] = -1
            doomed[a] = False
            more = a[~back & (moved[a] < spa)]
            if len(more) == 0:
                break
            force = None
            if s.avoid_short_stints:
                force = (recent[more] + moved[more] / s.max_move_speed) / 2.0 < 0.5
            active = evolve(more, force, t, score, mc)
        recent[:n] = (recent[:n] + moved[:n] / s.max_move_speed) / 2.0
        moved[:n] = 0.0
        # 5. compare with the camp series
        sim_counts[t] = here_count[camps]
        total_agents[t] = n
    engine = time.perf_counter() - t0
    names = [case.loc_names[c] for c in case.camps]
    table = out_table(case, names, sim_counts, sched, total_agents)
    return FleeRun(case=case, seed=seed, days=days, table=table, engine_seconds=engine,
                   agents=n, agent_steps=agent_steps, camp_names=names)


def out_table(case: FleeCase, names: list[str], sim: np.ndarray, sched: SpawnSchedule,
              total_agents: np.ndarray) -> pd.DataFrame:
    """Flee's out.csv columns for a run."""
    days = len(total_agents)
    obs = sched.observed
    cols: dict[str, object] = {
        "Day": np.arange(days),
        "Date": [(case.start + timedelta(days=d)).isoformat() for d in range(days)],
    }
    for j, nm in enumerate(names):
        o = obs[:, j].astype(np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.where(o < 0.00001, 0.0, np.round(np.abs(sim[:, j] / o - 1), 4))
        cols[f"{nm} sim"] = sim[:, j]
        cols[f"{nm} data"] = obs[:, j]
        cols[f"{nm} error"] = rel
    raw = sched.raw
    pos = raw > 0
    abs_err = np.abs(sim - obs).sum(axis=1)
    cols["Total error"] = np.where(pos, abs_err / np.where(pos, raw, 1), 0.0)
    cols["refugees in camps (UNHCR)"] = np.where(pos, obs.sum(axis=1), 0)
    cols["total refugees (simulation)"] = total_agents
    cols["raw UNHCR refugee count"] = np.where(pos, raw, 0)
    cols["refugees in camps (simulation)"] = sim.sum(axis=1)
    cols["refugee_debt"] = np.where(pos, sched.debt, 0)
    return pd.DataFrame(cols)
