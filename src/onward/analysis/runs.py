"""Run a scenario, write its tables to the store, and summarise it against the data.

Comparing simulated with observed counts is scoring, so this module may read every year
of the target series; the engine and (later) the fitting code never do.
"""

from __future__ import annotations

import functools
import hashlib
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onward.engine.compile import compile_scenario
from onward.engine.model import SimulationResult, simulate_compiled
from onward.scenario import Scenario, scenario_hash, scenario_to_yaml

#: the attributes of the selection effect (`onward run`'s table and its --json); aspiration
#: (movers' at departure, stayers' at the year end) is among them although the decision
#: reads it: its difference is the largest, and leaving it out hid that
SELECTION_ATTRS = ("funds", "skill", "degree", "satisfaction", "income", "frustration",
                   "aspiration")


#: the parts of onward whose code or data shape a simulation's numbers
# the parts whose code shapes numbers: runs (engine, rules, scenario, data), experiments,
# and calibration (its distance, targets and sampler decide a posterior, and a posterior
# supplies the parameters of --posterior runs)
_CODE_PARTS = ("engine", "rules", "scenario", "data", "experiments", "calibration")


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """A hash of the source and packaged data that shape a run's numbers (16 hex digits).

    The version number stays "0.1.0" through every commit of a checkout, so stored
    experiment jobs would be reused after a change to the engine (the same command gave
    the old numbers); the experiment id includes this hash instead, and every run records
    it. Files are read in sorted order, as bytes, with their paths relative to the package.
    """
    import onward

    root = Path(onward.__file__).parent
    h = hashlib.sha256()
    for part in _CODE_PARTS:
        for f in sorted((root / part).rglob("*")):
            if f.is_file() and f.suffix in (".py", ".csv", ".yaml", ".json", ".md") \
                    and "__pycache__" not in f.parts:
                h.update(f.relative_to(root).as_posix().encode() + b"\0")
                h.update(f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions of onward, Python and the libraries that shape a run's numbers, and
    :func:`code_hash` as ``onward_code``."""
    import duckdb
    import numba
    import pydantic
    import scipy

    import onward

    return {
        "onward": onward.__version__,
        "onward_code": code_hash(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,  # compiles the engine's monthly stages
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "pydantic": pydantic.__version__,
        "duckdb": duckdb.__version__,
    }


def observed_first_claims(sc: Scenario) -> pd.DataFrame:
    """Observed first claims (persons) per year and destination of the scenario.

    Empty when the scenario's inflow does not come from the packaged data (made-up
    countries have no observations).
    """
    own = sc.calibration.observed
    if own is not None and own.first_claims:  # the scenario's own counts
        rows = [(y, d, obs, lo, hi, lo != hi)
                for d, y, obs, lo, hi in own.cells("first_claims")]
        return pd.DataFrame(rows, columns=["year", "destination", "observed", "lower",
                                           "upper", "masked"])
    if not sc.packaged_population:
        return pd.DataFrame(columns=["year", "destination", "observed", "lower", "upper",
                                     "masked"])
    from onward import data

    other = [c for c in sc.destination_codes if c == "OTH"]
    return data.first_claims(
        sc.destination_codes, other_excludes=tuple(sc.calibration.other_excludes),
        other_code=other[0] if other else "OTH")


def applications_summary(sc: Scenario, res: SimulationResult) -> pd.DataFrame:
    """Simulated (all routes) vs observed first claims for every simulated year."""
    apps = res.applications.groupby(["year", "destination"], as_index=False)["persons"].sum()
    direct = res.applications[res.applications.route == "direct"].groupby(
        ["year", "destination"])["persons"].sum().rename("direct")
    apps = apps.rename(columns={"persons": "simulated"}).merge(
        direct.reset_index(), on=["year", "destination"], how="left")
    obs = observed_first_claims(sc)[["year", "destination", "observed", "lower", "upper"]]
    obs = obs.astype({"year": "int64", "destination": "object", "observed": "float64",
                      "lower": "float64", "upper": "float64"})
    out = apps.merge(obs, on=["year", "destination"], how="left")
    out["held_out"] = out.year.isin(sc.calibration.held_out)
    return out.sort_values(["year", "destination"]).reset_index(drop=True)


def claim_totals(summary: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """First claims per destination summed over ``years``, simulated against observed.

    ``summary`` has a row per (year, destination) with ``simulated`` and, where a data row
    exists, ``observed``, ``lower`` and ``upper`` (:func:`applications_summary`). The
    simulated total that the ratio uses is summed over the same cells as the observed one
    (``simulated``: the years with a data row for that destination), so that a destination
    with data in one year of three is not set three years against one;
    ``simulated_all_years`` sums every year. ``observed`` counts a masked count at its
    upper end and ``observed_lower`` at its lower end (UNHCR's 5 as 5 and as 1; a
    scenario's own ``[1, 5]``, whose point value is its midpoint 3, as 5 and 1), so the
    ratio lies between ``ratio`` (observed at its upper end) and ``ratio_lower_observed``.
    """
    part = summary[summary.year.isin(years)]
    dests = list(dict.fromkeys(part.destination))
    with_data = part[part.observed.notna()]
    g = with_data.groupby("destination")

    def end(column: str) -> pd.Series:  # an interval's end, the point value without one
        if column not in with_data:
            return with_data.observed
        return with_data[column].fillna(with_data.observed)

    out = pd.DataFrame({
        "simulated": g["simulated"].sum(),
        "observed": end("upper").groupby(with_data.destination).sum(),
        "observed_lower": end("lower").groupby(with_data.destination).sum(),
    }).reindex(dests)
    out["ratio"] = out.simulated / out.observed.where(out.observed > 0)
    out["ratio_lower_observed"] = out.simulated / out.observed_lower.where(
        out.observed_lower > 0)
    out["simulated_all_years"] = part.groupby("destination").simulated.sum().reindex(dests)
    out.index.name = "destination"
    return out.reset_index()


def observed_cell_text(observed: float, lower: float | None = None,
                       upper: float | None = None) -> str:
    """One year's observed count as the CLI's and the report's yearly tables show it:
    ``-`` without a data row; ``lo-hi`` where the cell is an interval whose point value is
    not its upper end (a scenario's own ``[1, 5]``; UNHCR's row that mixes new claims with
    appeals, ``[0, 5]`` with point value 0); else the point value, so UNHCR's masked 5
    reads 5, as printed (the tables' captions say what a 5 stands for).

    >>> observed_cell_text(float("nan")), observed_cell_text(12, 12, 12)
    ('-', '12')
    >>> observed_cell_text(5, 1, 5), observed_cell_text(0, 0, 5), observed_cell_text(3, 1, 5)
    ('5', '0-5', '1-5')
    """
    if observed != observed:
        return "-"
    lo = observed if lower is None or lower != lower else lower
    hi = observed if upper is None or upper != upper else upper
    if lo != hi and observed != hi:
        return f"{int(lo)}-{int(hi)}"
    return str(int(observed))


def claim_total_text(r: Any, thousands: bool = True) -> tuple[str, str]:
    """A row of :func:`claim_totals` as the CLI and the report print it: the observed total
    (``lo-hi`` where a masked count makes a range) and the ratio (``a-b``, or ``a+`` where
    the observed total may be 0); ``("-", "-")`` without a data row."""
    if r.observed != r.observed:
        return "-", "-"
    lo, hi = int(r.observed_lower), int(r.observed)
    n = "{:,}" if thousands else "{}"
    observed = n.format(hi) if lo == hi else f"{n.format(lo)}-{n.format(hi)}"
    if hi == 0:
        return observed, "-"
    ratio = f"{r.ratio:.2f}"
    if lo != hi:
        ratio += f"-{r.ratio_lower_observed:.2f}" if lo else "+"
    return observed, ratio


def selection_summary(res: SimulationResult) -> pd.DataFrame:
    """Movers vs stayers: means and the standardised difference of each attribute."""
    prof = res.tables()["profile"]
    wide = prof.pivot(index="attribute", columns="group", values=["mean", "sd", "n"])
    rows = []
    for attr in SELECTION_ATTRS:
        m1, m0 = wide.loc[attr, ("mean", "movers")], wide.loc[attr, ("mean", "stayers")]
        s1, s0 = wide.loc[attr, ("sd", "movers")], wide.loc[attr, ("sd", "stayers")]
        pooled = float(np.sqrt((s1**2 + s0**2) / 2)) if np.isfinite(s1 + s0) else np.nan
        rows.append({"attribute": attr, "movers": float(m1), "stayers": float(m0),
                     "std_difference": (m1 - m0) / pooled if pooled and pooled > 0 else np.nan})
    return pd.DataFrame(rows)


def run_and_store(sc: Scenario, seed: int | None = None, store: str | Path | None = None,
                  overrides: dict[str, float] | None = None,
                  progress: Callable[[int, int], None] | None = None,
                  write: bool = True, posterior: str | None = None
                  ) -> tuple[str | None, SimulationResult]:
    """Simulate ``sc`` and write one row set to the store; returns ``(run_id, result)``.
    ``posterior`` names the calibration whose mean the ``overrides`` are (recorded).

    Only this (parent) process writes, in one transaction after the run finished, so a
    crash or Ctrl-C mid-run leaves every earlier run intact and no half-written run.
    """
    from onward.store import Store

    t0 = time.perf_counter()
    c = compile_scenario(sc, overrides=overrides, seed=seed)
    res = simulate_compiled(c, progress=progress, generator=sc.network.generator)
    if not write:
        return None, res
    tables = {k: v for k, v in res.tables().items() if k in sc.outputs}
    tables["summary_applications"] = applications_summary(sc, res)
    meta: dict[str, Any] = {
        "kind": "run",
        "scenario": sc.name,
        "scenario_hash": scenario_hash(sc),
        "seed": c.seed,
        "versions": versions(),
        "engine_seconds": res.engine_seconds,
        "wall_seconds": time.perf_counter() - t0,
        "stage_seconds": res.stage_seconds,
        "overrides": overrides or {},
        "scenario_yaml": scenario_to_yaml(sc),
    }
    if posterior:
        meta["posterior"] = posterior
    run_id = Store(store).write_run(meta, tables)
    return run_id, res
