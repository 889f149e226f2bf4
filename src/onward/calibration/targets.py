"""Observed targets and the summary statistics a simulation is compared with.

The fitting code sees targets only through :func:`fitting_targets`, which drops every
held-out year before anything else happens: the posterior cannot depend on them (a test
corrupts held-out data and checks that the posterior does not move).

Targets (chosen in the scenario's ``calibration.targets``):

``first_claims``
    persons per destination and year (UNHCR N + V). A printed 5 is the interval [1, 5].
``uk_grant_rates``
    UK initial grant rate of main applicants per year (Home Office).
``refugee_stocks``
    year-end refugees per destination (UNHCR; small counts masked the same way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from onward.calibration import CalibrationError
from onward.engine.model import SimulationResult
from onward.engine.state import State
from onward.options import option
from onward.scenario import Scenario

#: weight of each target family in the distance
WEIGHTS = {"first_claims": 1.0, "uk_grant_rates": 1.0, "refugee_stocks": 0.5}
#: smallest total of a count family (guards an empty or all-zero family)
MIN_COUNT_SCALE = 5.0
#: scale of grant-rate differences
RATE_SCALE = 0.25
UK = "GBR"


@dataclass(frozen=True)
class Target:
    """One observed cell: family, destination, year, value and the interval it stands for."""

    family: str
    destination: str
    year: int
    observed: float
    lower: float
    upper: float


class TargetSet:
    """Observed cells for a set of years, with the weight of each in the distance."""

    def __init__(self, cells: list[Target]):
        self.cells = cells
        df = self.frame()
        self.keys = [(c.family, c.destination, c.year) for c in cells]
        self.lower = np.array([c.lower for c in cells], dtype=np.float64)
        self.upper = np.array([c.upper for c in cells], dtype=np.float64)
        n_cells = df.groupby(["family", "destination"]).size().to_dict() if len(df) else {}
        totals = df.groupby("family")["observed"].sum().to_dict() if len(df) else {}
        # a count family contributes its absolute relative difference, sum |sim - obs| over
        # its cells divided by the sum observed, the score that `onward score` reports, so
        # each cell weighs by the people it stands for; a rate series contributes its mean
        # scaled difference. Families weigh as WEIGHTS says.
        self.weights = np.array([
            WEIGHTS[c.family] / (n_cells[(c.family, c.destination)] * RATE_SCALE)
            if c.family == "uk_grant_rates"
            else WEIGHTS[c.family] / max(totals[c.family], MIN_COUNT_SCALE)
            for c in cells], dtype=np.float64)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([c.__dict__ for c in self.cells],
                            columns=["family", "destination", "year", "observed", "lower",
                                     "upper"])

    @property
    def years(self) -> list[int]:
        return sorted({c.year for c in self.cells})

    def distance(self, sim: np.ndarray) -> float:
        """Weighted mean scaled distance of ``sim`` (aligned with ``keys``) to the intervals."""
        below = np.maximum(self.lower - sim, 0.0)
        above = np.maximum(sim - self.upper, 0.0)
        return float(np.sum(self.weights * (below + above)))


def _targets(sc: Scenario, years: list[int]) -> list[Target]:
    from onward import data

    dests = sc.destination_codes
    other = "OTH" if "OTH" in dests else "__none__"
    cells: list[Target] = []
    wanted = set(years)
    own = sc.calibration.observed
    # the packaged series count North Koreans (Scenario.packaged_population); any other
    # scenario's family without counts of its own has no data here (the command line says
    # it is not fitted), where a new case was fitted to North Koreans' claims
    packaged = sc.packaged_population
    for fam in ("first_claims", "refugee_stocks"):  # the scenario's own counts
        if own is not None and fam in sc.calibration.targets and getattr(own, fam):
            cells += [Target(fam, d, y, obs, lo, hi)
                      for d, y, obs, lo, hi in own.cells(fam) if y in wanted]
    if packaged and "first_claims" in sc.calibration.targets and not (own and own.first_claims):
        fc = data.first_claims(dests, years=sorted(wanted),
                               other_excludes=tuple(sc.calibration.other_excludes),
                               other_code=other)
        for r in fc.itertuples():
            if int(r.year) in wanted:
                cells.append(Target("first_claims", r.destination, int(r.year),
                                    float(r.observed), float(r.lower), float(r.upper)))
    if packaged and "uk_grant_rates" in sc.calibration.targets and UK in dests:
        gr = data.uk_grant_rates(years=sorted(wanted))
        for r in gr.itertuples():
            if int(r.year) in wanted and (r.grants + r.refusals) > 0:
                rate = float(r.grant_rate)
                cells.append(Target("uk_grant_rates", UK, int(r.year), rate, rate, rate))
    if packaged and "refugee_stocks" in sc.calibration.targets and not (
            own and own.refugee_stocks):
        rs = data.refugee_stocks([d for d in dests], years=sorted(wanted),
                                 other_excludes=tuple(sc.calibration.other_excludes),
                                 other_code=other)
        for r in rs.itertuples():
            if int(r.year) in wanted:
                v = float(r.refugees)
                lo, hi = (1.0, 5.0) if v == 5 else (v, v)
                cells.append(Target("refugee_stocks", r.destination, int(r.year), v, lo, hi))
    return cells


def fitting_targets(sc: Scenario, years: list[int] | None = None) -> TargetSet:
    """Targets for fitting: only calibration years, never a held-out one.

    Raises
    ------
    ValueError
        If ``years`` includes a held-out year, or no target cell falls in the years.
    """
    years = sorted(years if years is not None else sc.calibration.years)
    first, last = sc.horizon.start.year, sc.horizon.end.year
    out = [y for y in years if not first <= y <= last]
    if out:
        from onward.scenario.schema import _span

        raise CalibrationError(
            f"scenario '{sc.name}': calibration years {_span(out)} are outside its horizon "
            f"{first}-{last}. Fix: set calibration.years (or "
            f"{option('years', flag='--calibration-years')}) inside it, "
            "or move horizon.start or horizon.end")
    leak = sorted(set(years) & set(sc.calibration.held_out))
    if leak:
        raise CalibrationError(f"calibration years {leak} are held out; fitting never sees "
                               "them. Fix: fit other years, or move the split "
                               "(calibration.held_out)")
    cells = _targets(sc, years)
    if not cells:
        raise CalibrationError(
            f"scenario '{sc.name}': no observed target in years {years[0]}-{years[-1]}. The "
            "package has data for the flagship's countries only (nk-onward, 2000-2015). Fix: "
            "give the scenario's own counts in calibration.observed (README, 'Calibrating "
            "your own case'), or calibrate other years")
    return TargetSet(cells)


def scoring_targets(sc: Scenario, years: list[int]) -> TargetSet | None:
    """Targets for scoring any years, held-out ones included (never used for fitting)."""
    cells = _targets(sc, sorted(years))
    return TargetSet(cells) if cells else None


def summary_statistics(res: SimulationResult, targets: TargetSet) -> np.ndarray:
    """The simulated value of every target cell, aligned with ``targets.keys``."""
    years = res.compiled.years()
    out = np.zeros(len(targets.keys))
    cache: dict[str, dict[tuple[str, int], float]] = {}
    for k, (fam, dest, year) in enumerate(targets.keys):
        if fam not in cache:
            cache[fam] = _family(fam, res, years)
        out[k] = cache[fam].get((dest, year), 0.0)
    return out


def _family(fam: str, res: SimulationResult, years: np.ndarray
            ) -> dict[tuple[str, int], float]:
    rec = res.recorder
    dests = res.compiled.destinations
    out: dict[tuple[str, int], float] = {}
    if fam == "first_claims":  # persons, all routes
        uyears, tot = rec.yearly_flow("claims", years)
        for k, y in enumerate(uyears):
            for j, d in enumerate(dests):
                out[(d, int(y))] = float(tot[k, j])
    elif fam == "uk_grant_rates":  # main applicants (households) who came onward
        if UK in dests:
            j = dests.index(UK)
            uyears, g = rec.yearly_flow("recognised", years, 0, "households")
            _, r = rec.yearly_flow("refused", years, 0, "households")
            for k, y in enumerate(uyears):
                n = g[k, j] + r[k, j]
                out[(UK, int(y))] = float(g[k, j] / n) if n > 0 else float("nan")
    elif fam == "refugee_stocks":
        for y in np.unique(years):
            t = int(np.flatnonzero(years == y)[-1])
            stock = rec.stock_p[t, State.RECOGNISED, 1:]
            for j, d in enumerate(dests):
                out[(d, int(y))] = float(stock[j])
    return out
