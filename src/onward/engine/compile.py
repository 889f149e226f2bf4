"""Compile a scenario once into the arrays the engine steps through.

Policy events become per-month parameter arrays here, before the run: the engine then
reads ``p["integration.discrimination_rate"][t]`` and never looks at dates or events.
Inflows become persons per year. Nothing here reads target (observed) data.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from onward.engine.routes import compile_routes
from onward.scenario.parameters import DESTINATION_PARAMETERS, GLOBAL_PARAMETERS
from onward.scenario.schema import Scenario, near_target


class OverrideError(ValueError):
    """A parameter override names an unknown parameter or an inadmissible value."""


@dataclass
class Compiled:
    """Everything the engine needs, as plain arrays. Made by :func:`compile_scenario`."""

    months: int  # the horizon: the population is built for all of it
    run_months: int  # months actually simulated (fewer when a run stops early)
    start_year: int
    start_month: int
    destinations: list[str]
    first_country: str
    origin: str
    glob: dict[str, np.ndarray]  # name -> (T,)
    dest: dict[str, np.ndarray]  # name -> (T, D)
    initial: float  # persons present at month 0
    initial_female_share: float
    inflow: dict[int, float]  # year -> persons arriving
    female_share: dict[int, float]  # year -> share of arrivals who are women
    attributes: Any  # schema.Attributes
    rule: str
    capability_gating: bool
    information_gating: bool
    seed: int
    extra: dict[str, Any] = field(default_factory=dict)
    routes: Any = None  # routes.RouteGraph, or None without a route graph

    @property
    def n_dest(self) -> int:
        return len(self.destinations)

    def year_of(self, t: int) -> int:
        return self.start_year + (self.start_month - 1 + t) // 12

    def years(self, months: int | None = None) -> np.ndarray:
        """The calendar year of each simulated month (of the first ``months``; default
        ``run_months``)."""
        n = self.run_months if months is None else months
        return self.start_year + (self.start_month - 1 + np.arange(n)) // 12

    def month_of(self, t: int) -> int:
        return (self.start_month - 1 + t) % 12 + 1


def _inflows(sc: Scenario) -> tuple[float, float, dict[int, float], dict[int, float]]:
    """Persons at the start and arriving per year, with female shares."""
    infl = sc.population.inflow
    years = sc.horizon.years
    if infl.source == "inline":
        assert infl.values is not None
        values = {int(y): float(v) for y, v in infl.values.items()}
        initial = float(infl.initial or 0.0)
        female0 = infl.initial_female_share if infl.initial_female_share is not None else 0.5
        shares: dict[int, float] = {}
    else:
        from onward import data

        ini, arr = data.arrival_series(str(infl.table))
        values = {int(r.year): float(r.arrivals) for r in arr.itertuples()}
        shares = {int(r.year): float(r.female_share) for r in arr.itertuples()}
        initial = float(ini["total"]) if infl.initial is None else float(infl.initial)
        female0 = float(ini["female"]) / float(ini["total"])
        if infl.initial_female_share is not None:
            female0 = infl.initial_female_share
    known = sorted(y for y in values if y in years)
    out: dict[int, float] = {}
    for y in years:
        if y in values:
            out[y] = values[y]
        elif known and y > known[-1]:
            if infl.projection == "hold_last":
                out[y] = values[known[-1]]
            elif infl.projection == "mean_last_3":
                out[y] = float(np.mean([values[k] for k in known[-3:]]))
            else:
                out[y] = 0.0
        else:
            out[y] = 0.0
    fs_default = float(np.mean(list(shares.values()))) if shares else 0.5
    fshare = {y: shares.get(y, shares[known[-1]] if shares and known else fs_default)
              for y in years}
    attr_fs = sc.population.attributes.female_share
    if attr_fs != "data":
        fshare = {y: float(attr_fs.value) for y in years}  # type: ignore[union-attr]
    dep = sc.routes.departures if sc.routes is not None else None
    if dep is not None:
        # with a route graph, the inflow data up to data_until are arrivals it reproduces;
        # later departures from the origin are projected and the closures decide arrivals
        base = [y for y in years if y <= dep.data_until]
        if base:
            last = base[-3:] if dep.projection == "mean_last_3" else base[-1:]
            persons = float(np.mean([out[y] for y in last]))
            share = float(np.mean([fshare[y] for y in last]))
            for y in years:
                if y > dep.data_until:
                    out[y] = persons
                    if attr_fs == "data":  # a fixed share stays as the scenario sets it
                        fshare[y] = share
    return initial, female0, out, fshare


def compile_scenario(sc: Scenario, overrides: dict[str, float] | None = None,
                     seed: int | None = None, until: int | None = None, *,
                     static: dict[str, Any] | None = None) -> Compiled:
    """Turn a validated scenario (plus parameter overrides) into per-month arrays.

    Parameters
    ----------
    sc : Scenario
    overrides : dict, optional
        ``{"parameters.integration.glass_ceiling": 0.8, "destinations.XYZ.detection": 0.5}``;
        replaces the base value before events apply (used by calibration and experiments).
    seed : int, optional
        Overrides the scenario's seed.
    until : int, optional
        Stop at the end of this year (calibration simulates only the years it scores).
    static : dict, optional
        A cache for what depends on the scenario alone, not on overrides, seed or
        ``until`` (the inflows and the route graph, ~6 ms): pass the same dict on every
        call for one scenario (a calibration compiles it once per proposal). It holds the
        scenario it was filled for and is refilled for any other; do not change the
        scenario in place while reusing it.
    """
    check_whole("seed", seed, 0, 2**63 - 1)
    check_whole("until", until, None, None)
    T = sc.horizon.months
    run_months = T
    if until is not None and not sc.horizon.start.year <= until <= sc.horizon.end.year:
        raise ValueError(
            f"until {until} is outside {sc.name}'s horizon {sc.horizon.start.year}-"
            f"{sc.horizon.end.year}; here until stops a run early (a year inside the horizon). "
            "Fix: give a year inside it; to run past the horizon's end, extend it (horizon: "
            "end in the scenario, or ensemble/compare with until=)")
    if until is not None:
        run_months = max(1, min(T, (until - sc.horizon.start.year) * 12 + 13
                                - sc.horizon.start.month))
    dests = sc.destination_codes
    glob = {k: np.full(T, sc.param(k), dtype=np.float64) for k in GLOBAL_PARAMETERS}
    dest = {
        k: np.array([[sc.destinations[c].params[k].value for c in dests]] * T, dtype=np.float64)
        for k in DESTINATION_PARAMETERS
    }
    leads = {ev.id: ev.lead_months.value for ev in sc.events
             if ev.id and ev.lead_months is not None}
    from onward.arguments import check_type

    check_type(overrides, "overrides", "mapping", optional=True,
               example="give {'destinations.DEST.detection': 0.5}: a number for each "
               "parameter path")
    for target, value in (overrides or {}).items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
            raise OverrideError(f"override {target}: {value!r} is not a number. Fix: give "
                                "a number (not text), e.g. 0.5")
        if target.startswith("events."):
            leads[_event_lead(target, sc, value)] = float(value)
            continue
        arr, col = _locate(target, glob, dest, dests)
        if not np.isfinite(value):
            raise OverrideError(f"override {target}: value must be finite")
        _check_bounds(target, float(value))
        if col is None:
            arr[:] = value
        else:
            arr[:, col] = value
    _check_shares(glob, overrides or {})

    def start(ev: Any) -> int:  # the month the change takes effect: its date less its lead
        lead = leads.get(ev.id, 0.0) if ev.id else 0.0
        return max(0, ev.date.index(sc.horizon.start) - int(round(lead)))

    for ev in sorted(sc.events, key=start):
        t0 = start(ev)
        arr, col = _locate(ev.target, glob, dest, dests)
        sl = (slice(t0, None),) if col is None else (slice(t0, None), col)
        if ev.op == "set":
            arr[sl] = ev.value
        else:
            arr[sl] = arr[sl] * ev.value
    # scaled values must stay admissible
    for k, spec in GLOBAL_PARAMETERS.items():
        lo, hi = spec.bounds()
        glob[k] = np.clip(glob[k], lo if lo is not None else -np.inf,
                          hi if hi is not None else np.inf)
    for k, spec in DESTINATION_PARAMETERS.items():
        lo, hi = spec.bounds()
        dest[k] = np.clip(dest[k], lo if lo is not None else -np.inf,
                          hi if hi is not None else np.inf)
    if static is None:
        static = {}
    if static.get("scenario") is not sc:
        static.clear()
        static["scenario"] = sc
        static["inflows"] = _inflows(sc)
        static["routes"] = None if sc.routes is None else compile_routes(sc, T)
    initial, female0, inflow, fshare = static["inflows"]
    return Compiled(
        months=T,
        run_months=run_months,
        start_year=sc.horizon.start.year,
        start_month=sc.horizon.start.month,
        destinations=dests,
        first_country=sc.first_country,
        origin=sc.origin,
        glob=glob,
        dest=dest,
        initial=initial,
        initial_female_share=female0,
        inflow=inflow,
        female_share=fshare,
        attributes=sc.population.attributes,
        rule=sc.decision.rule,
        capability_gating=sc.decision.capability_gating,
        information_gating=sc.decision.information_gating,
        seed=sc.seed if seed is None else int(seed),
        routes=static["routes"],
    )


def check_whole(name: str, value: object, lo: int | None, hi: int | None,
                what: str = "a whole number", optional: bool = True) -> None:
    """Refuse a seed, year or count that is not a whole number in range (``seed=7.5`` ran
    as 7 and was stored as 7; ``seed=-1`` ran as 2**64 - 1 and was stored as -1); None
    passes when ``optional`` (the default applies)."""
    if value is None and optional:
        return
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ok and (lo is None or value >= lo) and (hi is None or value <= hi):
        return
    span = "" if lo is None else f" from {lo} to {hi:,}" if hi is not None else f" >= {lo}"
    if not ok:  # of the wrong type: a TypeError (still a ValueError, as it was)
        from onward.arguments import ArgumentTypeError

        raise ArgumentTypeError(f"{name} {value!r}: give {what}{span} (an int, not "
                                f"{type(value).__name__})")
    raise ValueError(f"{name} {value!r}: give {what}{span}")


def _event_lead(target: str, sc: Scenario, value: float) -> str:
    """Check an ``events.<id>.lead_months`` override; return the event id."""
    from onward.scenario.schema import MAX_LEAD_MONTHS

    parts = target.split(".")
    ids = [ev.id for ev in sc.events if ev.id]
    if len(parts) != 3 or parts[2] != "lead_months" or parts[1] not in ids:
        raise OverrideError(f"{target}: not an event lead; write events.<id>.lead_months with "
                            f"an event id of this scenario ({', '.join(ids) or 'none'})")
    if not (np.isfinite(value) and 0 <= value <= MAX_LEAD_MONTHS):
        raise OverrideError(f"{target}: a lead must be a number of months in "
                            f"[0, {MAX_LEAD_MONTHS}], not {value}")
    return parts[1]


def _check_bounds(target: str, value: float) -> None:
    """Refuse an override outside the parameter's hard bounds (a scenario file with that
    value would not validate; the engine would otherwise clip it silently)."""
    parts = target.split(".")
    spec = (GLOBAL_PARAMETERS.get(f"{parts[1]}.{parts[2]}") if parts[0] == "parameters"
            else DESTINATION_PARAMETERS.get(parts[2]))
    if spec is None or spec.admits(value):
        return
    lo, hi = spec.bounds()
    lo_s = "-inf" if lo is None else f"{lo:g}"
    hi_s = "inf" if hi is None else f"{hi:g}"
    what = spec.unit if spec.unit == spec.kind else f"{spec.kind}, {spec.unit}"
    raise OverrideError(f"override {target} = {value:g} is outside [{lo_s}, {hi_s}] "
                        f"({what}). Fix: give a value inside that range")


def _check_shares(glob: dict[str, np.ndarray], overrides: dict[str, float]) -> None:
    """Refuse overrides that make the shares of the refused who return and who move on
    again sum above 1 (a scenario file with those values would not validate)."""
    keys = ("after_decision.refused_return", "after_decision.refused_remigrate")
    if not any(f"parameters.{k}" in overrides for k in keys):
        return
    ret, again = (float(glob[k][0]) for k in keys)
    if ret + again > 1:
        raise OverrideError(
            f"override: parameters.{keys[0]} + parameters.{keys[1]} = {ret:g} + {again:g} "
            f"= {ret + again:g} > 1 (they are shares of the refused). Fix: lower one of them")


def _locate(target: str, glob: dict[str, np.ndarray], dest: dict[str, np.ndarray],
            dests: list[str]) -> tuple[np.ndarray, int | None]:
    parts = target.split(".")
    if len(parts) == 3 and parts[0] == "parameters":
        key = f"{parts[1]}.{parts[2]}"
        if key in glob:
            return glob[key], None
    if len(parts) == 3 and parts[0] == "destinations" and parts[2] in dest:
        if parts[1] not in dests:
            raise OverrideError(f"{target}: destination {parts[1]} is not in this scenario "
                                f"({', '.join(dests)})")
        return dest[parts[2]], dests.index(parts[1])
    full = f"parameters.{target}"
    near = near_target(target, dests)
    fix = (f"write {full}" if len(parts) == 2 and full.split(".", 1)[1] in glob
           else f"did you mean {near}?" if near
           else "write parameters.<group>.<name> or destinations.<ISO3>.<name>")
    raise OverrideError(f"{target}: not a parameter. Fix: {fix}")
