"""Destinations side by side: who goes where, when, and with what outcome.

For each destination, over ``n`` replicates (seeds derived from the master seed):

who
    The mean, at departure, of the first movers who chose it (households leaving the first
    country for the first time): skill (education), funds (before paying the journey),
    children, network degree, the broker-mediated share, the share who conceal their
    first-country stay, the age and the female share of the head; and their number.
when
    The median departure year and the departures (persons) in each period of ``period``
    years, counting every departure from the first country.
outcome
    The recognition share of first decisions on onward claims (households); the refused
    onward claimants who returned to the first country; those who moved on again from the
    destination to another one (refused claimants at once, irregular migrants later). Both
    in persons, and per person who departed for the destination.

Each measure is summarised by the median and the 90% interval across replicates. The
per-job tables are stored as ``experiment_destination_profile`` and
``experiment_destination_outcomes``, the summary as ``destination_summary``.

Examples
--------
>>> from onward.experiments.destinations import destinations, plot_destinations
>>> res = destinations("nk-onward", n=20, seed=1)  # doctest: +SKIP
>>> res.wide.loc["GBR", "skill"]  # doctest: +SKIP
>>> plot_destinations(res, "reports/destinations.png")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from onward.analysis.numbers import count_text
from onward.engine.model import SimulationResult
from onward.engine.recorder import FLOWS
from onward.experiments.ensemble import (
    _posterior_draws,
    _scenario_jobs,
    _store_summary,
    count_of,
    extend_horizon,
    scenario_record,
)
from onward.experiments.runner import (
    experiment_id,
    job_table,
    quantile_bands,
    run_jobs,
)
from onward.options import option
from onward.scenario import Scenario, load_scenario
from onward.store import Store

if TYPE_CHECKING:
    from onward.calibration.abc import Posterior

#: Measure names of the "who" aspect, from the engine's attribute names.
WHO = {"skill": "skill", "funds": "funds", "children": "children", "degree": "degree",
       "via_broker": "broker_share", "concealed": "concealed_share", "age": "age",
       "female": "female_share"}
OUTCOME = ("recognition_share", "returns", "return_rate", "remigrations", "remigration_rate")

#: what each measure counts: "who" is first movers at departure (households, heads'
#: traits), "when" every departure (persons), "outcome" onward claimants
MEASURE_UNIT = {
    "movers": "households", "skill": "0-1", "funds": "months of wage",
    "children": "per household", "degree": "ties", "broker_share": "share of households",
    "concealed_share": "share of households", "age": "years, of the head",
    "female_share": "share of heads", "median_year": "year", "departures": "persons",
    "recognition_share": "share of first decisions, households", "returns": "persons",
    "return_rate": "per person departed", "remigrations": "persons",
    "remigration_rate": "per person departed",
}


def measure_unit(measure: str) -> str:
    """The unit of a destinations measure ("departures 2000-2004" counts persons)."""
    return MEASURE_UNIT.get(measure, "persons" if measure.startswith("departures") else "")


def destination_tables(res: SimulationResult) -> dict[str, pd.DataFrame]:
    """Per-job extra tables (the runner's ``extra`` hook): mover profile and outcomes."""
    c, rec = res.compiled, res.recorder
    prof = res.tables()["destination_profile"]
    years = c.years()
    fi = {name: FLOWS.index(name) for name in FLOWS}
    dep_h = rec.flow_h[:, fi["departures"], :, 0]  # month x destination, onward route
    rows = []
    for j, d in enumerate(c.destinations):
        monthly = dep_h[:, j]
        total = int(monthly.sum())
        if total:
            cum = np.cumsum(monthly)
            median_year = float(years[int(np.searchsorted(cum, total / 2.0))])
        else:
            median_year = np.nan
        rows.append({
            "destination": d,
            "departures_households": total,
            "departures_persons": int(rec.flow_p[:, fi["departures"], j, 0].sum()),
            "median_year": median_year,
            "recognised_households": int(rec.flow_h[:, fi["recognised"], j, 0].sum()),
            "refused_households": int(rec.flow_h[:, fi["refused"], j, 0].sum()),
            "returns_persons": int(rec.flow_p[:, fi["returns"], j, 0].sum()),
            "remigrations_persons": int(rec.remigrated_from_p[j]),
        })
    return {"destination_profile": prof.reset_index(drop=True),
            "destination_outcomes": pd.DataFrame(rows)}


@dataclass
class DestinationsResult:
    experiment_id: str
    destinations: list[str]
    values: pd.DataFrame  # replicate, destination, aspect, measure, value
    summary: pd.DataFrame  # destination, aspect, measure, median, q05, q95, n
    departures: pd.DataFrame  # per year and destination: median, q05, q25, q75, q95, n

    def __repr__(self) -> str:  # one line (the dataclass's printed every DataFrame)
        return (f"DestinationsResult({self.experiment_id!r}: {self.destinations}, "
                f"{count_of(self.replicates, 'replicate')}; see .wide, .summary, "
                ".departures, .values)")

    @property
    def replicates(self) -> int:
        """The number of replicates the measures are taken over."""
        return int(self.values.replicate.nunique()) if len(self.values) else 0

    @property
    def years(self) -> tuple[int, int]:
        """The first and last year of the runs (every departure in them counts)."""
        d = self.departures
        return (int(d.year.min()), int(d.year.max())) if len(d) else (0, 0)

    @property
    def wide(self) -> pd.DataFrame:
        """One row per destination; each measure's median, ``<m>_q05`` and ``<m>_q95``."""
        s = self.summary
        order = list(dict.fromkeys(s.measure))
        parts = []
        for suffix, col in (("", "median"), ("_q05", "q05"), ("_q95", "q95")):
            p = s.pivot(index="destination", columns="measure", values=col)[order]
            parts.append(p.add_suffix(suffix))
        out = pd.concat(parts, axis=1)
        cols = [f"{m}{suf}" for m in order for suf in ("", "_q05", "_q95")]
        return out[cols].reindex(self.destinations)


def _periods(years: list[int], start: int, length: int) -> dict[int, str]:
    out = {}
    for y in years:
        a = start + (y - start) // length * length
        b = min(a + length - 1, max(years))
        out[y] = f"departures {a}-{b}" if a != b else f"departures {a}"
    return out


def _measures(values: pd.DataFrame, prof: pd.DataFrame, outc: pd.DataFrame,
              periods: dict[int, str]) -> pd.DataFrame:
    rows: list[tuple[int, str, str, str, float]] = []
    for r in prof.itertuples(index=False):
        if r.attribute in WHO:
            rows.append((r.replicate, r.destination, "who", WHO[r.attribute], float(r.mean)))
    first = prof.drop_duplicates(["replicate", "destination"])
    for r in first.itertuples(index=False):
        rows.append((r.replicate, r.destination, "who", "movers", float(r.n)))
    for r in outc.itertuples(index=False):
        dec = r.recognised_households + r.refused_households
        dep = r.departures_persons
        rows += [
            (r.replicate, r.destination, "when", "median_year", float(r.median_year)),
            (r.replicate, r.destination, "when", "departures", float(dep)),
            (r.replicate, r.destination, "outcome", "recognition_share",
             r.recognised_households / dec if dec else np.nan),
            (r.replicate, r.destination, "outcome", "returns", float(r.returns_persons)),
            (r.replicate, r.destination, "outcome", "return_rate",
             r.returns_persons / dep if dep else np.nan),
            (r.replicate, r.destination, "outcome", "remigrations",
             float(r.remigrations_persons)),
            (r.replicate, r.destination, "outcome", "remigration_rate",
             r.remigrations_persons / dep if dep else np.nan),
        ]
    dep = values[values.output == "departures"].copy()
    dep["measure"] = dep.year.map(periods)
    per = dep.groupby(["replicate", "destination", "measure"], as_index=False).value.sum()
    rows += [(r.replicate, r.destination, "when", r.measure, float(r.value))
             for r in per.itertuples(index=False)]
    return pd.DataFrame(rows, columns=["replicate", "destination", "aspect", "measure",
                                       "value"])


def destinations(scenario: str | Path | Scenario, n: int = 20, seed: int = 1, *,
                 period: int = 5, posterior: str | Posterior | None = None,
                 until: int | None = None,
                 workers: int | None = None, scheduler: str | None = None,
                 store: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None) -> DestinationsResult:
    """Run ``n`` replicates and compare destinations by who goes, when, and the outcome."""
    t0 = time.perf_counter()
    from onward.arguments import check_type, posterior_arg

    posterior = posterior_arg(posterior)
    check_type(n, "n", "whole")
    if n < 1:
        raise ValueError(f"{option('n', flag='-n')} must be at least 1")
    check_type(period, "period", "whole")
    if period < 1:
        raise ValueError(f"{option('period')} must be at least 1 year")
    st = Store(store)
    sc = extend_horizon(load_scenario(scenario), until)
    draws, post = _posterior_draws(posterior, n, seed, st)
    jobs, left_out = _scenario_jobs([sc], draws, seed, "replicate", posterior, st)
    exp = experiment_id("destinations", jobs, ["departures"], posterior=posterior)
    meta = {"posterior": posterior, **post, "n": n, "master_seed": seed, "until": until}
    values = run_jobs(exp, "destinations-job", jobs, ["departures"], store=st, workers=workers,
                      scheduler=scheduler, meta=meta, progress=progress,
                      extra=destination_tables)
    prof = job_table(st, exp, "destination_profile")
    outc = job_table(st, exp, "destination_outcomes")
    years = sorted(int(y) for y in values.year.unique())
    periods = _periods(years, sc.horizon.start.year, period)
    vals = _measures(values, prof, outc, periods)
    dests = sc.destination_codes
    order = (["movers", *WHO.values(), "median_year", "departures",
              *dict.fromkeys(periods[y] for y in years), *OUTCOME])
    vals["d_i"] = vals.destination.map({d: i for i, d in enumerate(dests)})
    vals["m_i"] = vals.measure.map({m: i for i, m in enumerate(order)})
    vals = (vals.sort_values(["d_i", "m_i", "replicate"]).drop(columns=["d_i", "m_i"])
            .reset_index(drop=True))
    g = vals.groupby(["destination", "aspect", "measure"], sort=False).value
    summary = pd.DataFrame({"median": g.median(), "q05": g.quantile(0.05),
                            "q95": g.quantile(0.95), "n": g.count()}).reset_index()
    dep = quantile_bands(values[values.output == "departures"], ["year", "destination"])
    _store_summary(st, "destinations", exp, "destination_summary", summary,
                   {"scenario": sc.name, "seed": seed, **meta,
                    "wall_seconds": time.perf_counter() - t0,
                    **scenario_record([sc], left_out)})
    return DestinationsResult(exp, dests, vals, summary, dep)


def interval_text(measure: str, median: float, q05: float, q95: float) -> str:
    """``median [q05-q95]`` of one measure, as the terminal and the report both show it:
    counts and years whole (2010, not 2.01e+03), ages, degrees and funds to one decimal,
    shares and rates to two; ``-`` for no value."""
    if not np.isfinite(median):
        return "-"
    if measure in ("movers", "median_year", "departures", "returns",
                   "remigrations") or measure.startswith("departures "):
        return f"{count_text(median)} [{count_text(q05)}-{count_text(q95)}]"
    fmt = ".1f" if measure in ("age", "degree", "funds") else ".2f"
    return f"{median:{fmt}} [{q05:{fmt}}-{q95:{fmt}}]"


def _clean(x: Any) -> float | None:
    x = float(x)
    return round(x, 6) if np.isfinite(x) else None


def destinations_json(res: DestinationsResult) -> dict[str, Any]:
    """``{"experiment_id", "replicates", "years": [first, last], "destinations":
    [{destination, aspect, measure, unit, median, q05, q95}, ...], "departures": [{year,
    destination, median, q05, q95}, ...]}``: the measures cover every departure of the
    run's years (``years``)."""
    first, last = res.years
    return {
        "experiment_id": res.experiment_id,
        "replicates": res.replicates,
        "years": [first, last],
        "destinations": [
            {"destination": r.destination, "aspect": r.aspect, "measure": r.measure,
             "unit": measure_unit(r.measure),
             "median": _clean(r.median), "q05": _clean(r.q05), "q95": _clean(r.q95)}
            for r in res.summary.itertuples(index=False)],
        "departures": [
            {"year": int(r.year), "destination": r.destination, "median": _clean(r.median),
             "q05": _clean(r.q05), "q95": _clean(r.q95)}
            for r in res.departures.sort_values(["year", "destination"]).itertuples()],
    }


_LABELS = {"skill": "skill (education, 0-1)", "funds": "funds (months of wage)",
           "children": "children", "degree": "network degree",
           "broker_share": "broker-mediated share", "concealed_share": "conceal first country",
           "age": "age of the head", "female_share": "female share",
           "recognition_share": "recognition share", "return_rate": "returns per departure",
           "remigration_rate": "re-migrations per departure"}


def plot_destinations(res: DestinationsResult, path: str | Path) -> list[Path]:
    """Draw the comparison to ``path`` (PNG) and the same name with ``.svg``; return both."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = destinations_figure(res.destinations, res.summary, res.departures,
                              int(res.values.replicate.nunique()))
    out = [path.with_suffix(".png"), path.with_suffix(".svg")]
    for p in out:
        fig.savefig(p, dpi=120, metadata={"Date": None} if p.suffix == ".svg" else None)
    plt.close(fig)
    return out


def destinations_figure(dests: list[str], summary: pd.DataFrame, departures: pd.DataFrame,
                        replicates: int) -> Any:
    """The comparison as one figure: who goes (first movers' profile), when (departures
    per year) and with what outcome, per destination (median and 90% interval)."""
    import matplotlib.pyplot as plt

    import onward.viz.style  # noqa: F401  (Agg outside Jupyter, no display needed)

    s = summary.set_index(["destination", "measure"])
    x = np.arange(len(dests))
    who = list(WHO.values())
    fig = plt.figure(figsize=(16, 11), layout="constrained")
    grid = fig.add_gridspec(3, 4)

    def dots(ax: Any, measure: str, shift: float = 0.0, color: str = "C0",
             label: str | None = None) -> None:
        med = np.array([s["median"].get((d, measure), np.nan) for d in dests], dtype=float)
        lo = np.array([s["q05"].get((d, measure), np.nan) for d in dests], dtype=float)
        hi = np.array([s["q95"].get((d, measure), np.nan) for d in dests], dtype=float)
        err = np.vstack([np.clip(med - lo, 0, None), np.clip(hi - med, 0, None)])
        ax.errorbar(x + shift, med, yerr=np.nan_to_num(err), fmt="o", color=color,
                    ecolor="0.5", capsize=3, label=label)
        ax.set_xticks(x, dests, rotation=90 if len(dests) > 6 else 0, fontsize=8)
        ax.set_title(_LABELS.get(measure, measure), fontsize=10)
        ax.grid(axis="y", alpha=0.3)

    for k, m in enumerate(who):
        dots(fig.add_subplot(grid[k // 4, k % 4]), m)
    ax = fig.add_subplot(grid[2, 0:2])
    dep = departures
    for k, d in enumerate(dests):
        g = dep[dep.destination == d].sort_values("year")
        ax.plot(g.year, g["median"], color=f"C{k % 10}", label=d)
        ax.fill_between(g.year, g.q05, g.q95, color=f"C{k % 10}", alpha=0.15, linewidth=0)
    ax.set_title("departures per year (persons): median and 90% band", fontsize=10)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    dots(fig.add_subplot(grid[2, 2]), "recognition_share")
    ax = fig.add_subplot(grid[2, 3])
    dots(ax, "return_rate", -0.12, "C1", "returns")
    dots(ax, "remigration_rate", 0.12, "C2", "moved on again")
    ax.set_title("returns and moves on again, per person departed", fontsize=10)
    ax.legend(fontsize=7)
    fig.suptitle(f"Who goes where, when, and with what outcome ({replicates}"
                 " replicates; dots: median, bars: 90% interval)")
    return fig
