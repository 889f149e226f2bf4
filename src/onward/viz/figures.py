"""Figures of runs and experiments, each a function of tidy tables returning a Figure.

Every function takes the tables a run writes (``applications``, ``stocks``, ``profile``,
``brokers``, ``flows``; see :mod:`onward.engine.recorder`) or an experiment's ``bands`` /
``values``, and returns a :class:`matplotlib.figure.Figure`; :func:`onward.viz.save`
writes it as PNG and SVG. Nothing here runs a simulation.

Examples
--------
>>> import onward
>>> from onward import viz
>>> res = onward.simulate("nk-onward", seed=1)  # doctest: +SKIP
>>> fig = viz.uk_applications(res.applications, viz.observed_claims("nk-onward"))  # doctest: +SKIP
>>> viz.save(fig, "uk_applications")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from onward.analysis.numbers import count_text
from onward.viz.style import (
    BLUE,
    DARK,
    GREY,
    ORANGE,
    STATE_COLORS,
    STYLE,
    dest_color,
    thousands,
    year_runs,
)

OBS_BAR = "#b3b3b3"
BAND_COLS = ["year", "destination", "median", "q05", "q25", "q75", "q95", "n"]
#: Last year of observed target data the package holds; later years are withheld.
LAST_OBSERVED_YEAR = 2015
#: Readable names of profile attributes.
ATTRIBUTE_LABELS = {
    "skill": "education and skills (0-1)", "funds": "savings (months of wages)",
    "degree": "network ties (degree)", "income": "income (x native mean)",
    "satisfaction": "life satisfaction", "drive": "drive (0-1)",
    "frustration": "frustrated mobility (0-1)", "aspiration": "aspiration (0-1)",
    "children": "children", "age": "age", "female": "share women",
}


# --- inputs -----------------------------------------------------------------------------------


def as_bands(sim: pd.DataFrame, output: str = "applications") -> pd.DataFrame:
    """Simulated yearly counts as bands: year, destination, median, q05, q25, q75, q95, n.

    Accepts a run's ``applications`` table (persons summed over routes; the "bands" of one
    run collapse onto its line, ``n == 1``), a ``summary_applications`` table
    (``simulated``), an ensemble's ``values`` (quantiles over replicates) or its
    ``bands`` (used as they are). ``output`` selects rows of experiment tables.
    """
    df = sim
    if "output" in df.columns:
        df = df[df.output == output]
    if "flow" in df.columns:  # a run's flows table: every kind of flow, summed, is no count
        raise ValueError("this is a run's flows table (a 'flow' column: departures, claims, "
                         "decisions, ...). Fix: pass the applications table "
                         "(res.applications, or res.tables()['applications'])")
    if {"median", "q05", "q95"} <= set(df.columns):
        out = df.copy()
        if "n" not in out.columns:
            out["n"] = np.nan
        return out[BAND_COLS].sort_values(["destination", "year"]).reset_index(drop=True)
    if {"replicate", "value"} <= set(df.columns):
        g = df.groupby(["year", "destination"]).value
        out = pd.DataFrame({"median": g.median(), "q05": g.quantile(0.05),
                            "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                            "q95": g.quantile(0.95), "n": g.count()}).reset_index()
        return out[BAND_COLS].sort_values(["destination", "year"]).reset_index(drop=True)
    col = "persons" if "persons" in df.columns else "simulated" if "simulated" in df.columns \
        else None
    if col is None:
        raise ValueError("simulated table needs a 'persons', 'simulated', 'value' (with "
                         f"'replicate') or 'median' column; got {list(df.columns)}")
    tot = df.groupby(["year", "destination"], as_index=False)[col].sum()
    out = tot.rename(columns={col: "median"})
    for q in ("q05", "q25", "q75", "q95"):
        out[q] = out["median"]
    out["n"] = 1
    return out[BAND_COLS].astype({"median": float}).sort_values(
        ["destination", "year"]).reset_index(drop=True)


def _period_total(sim: pd.DataFrame, bands: pd.DataFrame, destination: str, start: int,
                  last: int, multi: bool, years: Any = None) -> tuple[float, str]:
    """The simulated total over ``start``-``last`` (only ``years`` of them, if given: those
    with an observed row) and how it was taken: with replicates, the median of their totals
    (what ``onward compare`` reports as a period's median); from bands alone, the sum of
    the yearly medians, and said so (the two differ: 997 against 1,020 for an ensemble of
    6)."""
    def within(year: pd.Series) -> pd.Series:
        return year.between(start, last) if years is None else year.isin(list(years))

    if multi and {"replicate", "value"} <= set(sim.columns):
        rows = sim[(sim.destination == destination) & within(sim.year)]
        if "output" in rows.columns:
            rows = rows[rows.output == "applications"]
        totals = rows.groupby("replicate").value.sum()
        return float(totals.median()), " (median of the replicates' totals)"
    yearly = float(bands[within(bands.year)]["median"].sum())
    return yearly, " (sum of the yearly medians)" if multi else ""


def observed_claims(scenario: Any = "nk-onward") -> pd.DataFrame:
    """Observed first claims for the scenario's destinations (empty for made-up countries).

    Columns year, destination, observed, lower, upper, masked; a masked UNHCR count
    (printed 5) is the interval [lower, upper].
    """
    from onward.analysis.runs import observed_first_claims
    from onward.scenario import load_scenario

    sc = load_scenario(scenario)
    return observed_first_claims(sc)


def has_article_figure(scenario: Any) -> bool:
    """Whether the article's figure (North Koreans' UK first claims, UNHCR's bars) belongs
    in a scenario's report: a scenario of the packaged North Korean population
    (``population.inflow.source: data``) without counts of its own and with the UK as a
    destination. Any other scenario with a GBR got a figure titled for North Koreans over
    2000-2015, whatever its people and years."""
    if scenario is None or "GBR" not in scenario.destination_codes:
        return False
    own = scenario.calibration.observed
    return scenario.packaged_population and not (own and own.first_claims)


def last_observed_year(scenario: Any) -> int:
    """The last year whose observed first claims a scenario's figures draw: its own counts'
    last year (``calibration.observed``), else the packaged data's (2015; later years are
    withheld on purpose)."""
    own = getattr(getattr(scenario, "calibration", None), "observed", None)
    if own is not None and own.first_claims:
        return max(int(y) for series in own.first_claims.values() for y in series)
    return LAST_OBSERVED_YEAR


def observed_label(scenario: Any) -> str:
    """What the observed points are, for legends: the scenario's own source, or UNHCR's."""
    own = getattr(getattr(scenario, "calibration", None), "observed", None)
    if own is not None and own.first_claims:
        text = " ".join(own.source.split())
        return text if len(text) <= 40 else text[:39] + "…"
    return "UNHCR first claims"


def _observed(obs: pd.DataFrame | None, until: int) -> pd.DataFrame:
    cols = ["year", "destination", "observed", "lower", "upper"]
    if obs is None or obs.empty:
        return pd.DataFrame(columns=cols)
    o = obs.copy()
    if "lower" not in o.columns:
        o["lower"] = o.observed
    if "upper" not in o.columns:
        o["upper"] = o.observed
    # observed data after the last packaged year are withheld on purpose: never draw them
    return o[o.year <= until][cols].astype({"year": int})


# --- yearly applications by destination --------------------------------------------------------


def _draw_bands(ax: plt.Axes, b: pd.DataFrame, color: str = BLUE, label: str | None = None
                ) -> None:
    y = b.year.to_numpy()
    if len(b) and np.nanmax(b.n.to_numpy(dtype=float), initial=1) > 1:
        ax.fill_between(y, b.q05, b.q95, color=color, alpha=0.15, lw=0, zorder=3)
        ax.fill_between(y, b.q25, b.q75, color=color, alpha=0.30, lw=0, zorder=3)
    ax.plot(y, b["median"].to_numpy(dtype=float), color=color, lw=1.6, label=label,
            gid="simulated", zorder=4)


def _draw_observed(ax: plt.Axes, o: pd.DataFrame) -> None:
    exact = o[o.lower == o.upper]
    masked = o[o.lower != o.upper]
    ax.plot(exact.year, exact.observed, "o", ms=3.6, color=DARK, zorder=5, gid="observed")
    if len(masked):
        ax.vlines(masked.year, masked.lower, masked.upper, color=ORANGE, lw=2.2, zorder=5,
                  gid="observed_masked")


def _shade_years(ax: plt.Axes, held_out: Sequence[int], after: int | None, xmax: float
                 ) -> None:
    for start, end in year_runs(list(held_out)):
        ax.axvspan(start - 0.5, end + 0.5, color=GREY, alpha=0.35, lw=0, zorder=0)
    if after is not None and xmax > after + 0.5:
        ax.axvspan(after + 0.5, xmax + 0.5, color="#e8eef5", lw=0, zorder=0)


def _grid_size(ncols: int, nrows: int, extra: float) -> tuple[float, float]:
    """Inches of a grid of per-destination panels: one panel alone is drawn at twice the
    size (it sat small in the middle of a report's page), the legend's room below."""
    scale = 2.0 if ncols * nrows == 1 else 1.0
    return 3.3 * ncols * scale, 2.3 * nrows * scale + extra


def _legend_columns(handles: list[Any], width_in: float, most: int = 4) -> int:
    """As many legend columns as fit the figure's width (a long label, such as a scenario's
    own data source, pushed a row of 3 or 4 past both edges)."""
    chars = [len(h.get_label()) + 6 for h in handles]  # the marker and the gap
    room = width_in * 13  # characters of the legend's font per inch, roughly
    for ncol in range(min(most, len(handles)), 1, -1):
        widest = [max(chars[c::ncol]) for c in range(ncol)]
        if sum(widest) <= room:
            return ncol
    return 1


def _legend_below(fig: Figure, handles: list[Any], **where: Any) -> float:
    """Put the legend under a grid of panels (``where``: more of ``fig.legend``'s placing),
    in as many columns as fit; return the part of the figure's height to leave it (the
    bottom of tight_layout's rect): about a fifth of an inch a row."""
    ncol = _legend_columns(handles, fig.get_figwidth())
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False, **where)
    rows = -(-len(handles) // ncol)
    return min((0.12 + 0.19 * rows) / fig.get_figheight(), 0.4)


def _check_destinations(dests: Sequence[str], bands: pd.DataFrame) -> None:
    """Refuse destinations the simulated table does not hold (an empty panel said nothing)."""
    have = list(dict.fromkeys(bands.destination))
    missing = [d for d in dests if d not in have]
    if missing:
        raise ValueError(f"no simulated rows for {', '.join(missing)}: the table holds "
                         f"{', '.join(map(str, have)) or 'no destination'}. Fix: choose "
                         "destinations the scenario has")


def _legend_handles(multi: bool, held: bool, continuation: bool, masked: bool,
                    source: str | None = "UNHCR first claims") -> list[Any]:
    h: list[Any] = [plt.Line2D([], [], color=BLUE, lw=1.6,
                               label="simulated median" if multi else "simulated (one run)")]
    if multi:
        h += [Patch(color=BLUE, alpha=0.45, label="50% band"),
              Patch(color=BLUE, alpha=0.15, label="90% band")]
    if source is not None:  # None: no observed points drawn
        h.append(plt.Line2D([], [], color=DARK, marker="o", ls="", ms=3.6,
                            label=f"observed ({source})"))
    if masked:
        h.append(plt.Line2D([], [], color=ORANGE, lw=2.2,
                            label="observed, masked count (an interval)"))
    if held:
        h.append(Patch(color=GREY, alpha=0.35, label="held-out years (never fitted)"))
    if continuation:
        h.append(Patch(color="#e8eef5", label="simulated only (data withheld)"))
    return h


#: an argument left out (where None means something of its own)
_UNSET: Any = object()


def applications_by_destination(sim: pd.DataFrame, observed: pd.DataFrame | None = None, *,
                                destinations: Sequence[str] | None = None,
                                held_out: Sequence[int] | None = None,
                                last_observed: Any = _UNSET,
                                start: int | None = None, title: str | None = None,
                                source: str | None = None,
                                scenario: Any = None) -> Figure:
    """Yearly asylum applications per destination: simulated bands over observed points.

    Parameters
    ----------
    sim : a run's ``applications``, or an ensemble's ``values``/``bands`` (see
        :func:`as_bands`)
    observed : first claims (year, destination, observed, lower, upper); masked counts
        are drawn as vertical intervals. Years after ``last_observed`` are never drawn.
    destinations : panels to draw (default: every destination of ``sim``)
    held_out : years shaded as held out (not fitted)
    last_observed : the last observed year drawn (default 2015, the packaged data's);
        None: no year is shaded as simulated only
    start : first year shown (default: the first simulated year)
    source : what the observed points are, for the legend (default UNHCR first claims)
    scenario : a scenario (or its name or path) whose own observed counts, held-out years,
        last observed year and source fill what is not given: ``scenario="toy"`` draws
        toy's made-up counts as such, where the defaults are the packaged data's
    """
    if scenario is not None:
        from onward.scenario import load_scenario

        sc = load_scenario(scenario)
        observed = observed_claims(sc) if observed is None else observed
        held_out = sc.calibration.held_out if held_out is None else held_out
        if last_observed is _UNSET:
            last_observed = last_observed_year(sc) if len(observed) else None
        source = observed_label(sc) if source is None else source
    held_out = () if held_out is None else held_out
    last_observed = LAST_OBSERVED_YEAR if last_observed is _UNSET else last_observed
    source = "UNHCR first claims" if source is None else source
    bands = as_bands(sim)
    if start is not None:
        bands = bands[bands.year >= start]
    obs = _observed(observed, LAST_OBSERVED_YEAR if last_observed is None else last_observed)
    dests = list(destinations) if destinations else list(dict.fromkeys(bands.destination))
    _check_destinations(dests, bands)
    multi = bool((bands.n.fillna(1) > 1).any())
    ncols = 3 if len(dests) > 4 else max(1, min(2, len(dests)))
    nrows = int(np.ceil(len(dests) / ncols))
    xmax = float(bands.year.max()) if len(bands) else 0.0
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=_grid_size(ncols, nrows, 0.7),
                                 squeeze=False, sharex=True)
        for ax, d in zip(axes.flat, dests, strict=False):
            _shade_years(ax, held_out, last_observed, xmax)
            _draw_bands(ax, bands[bands.destination == d], BLUE)
            _draw_observed(ax, obs[obs.destination == d])
        _finish_grid(axes, dests, "applications per year\n(persons)")
        has_masked = bool((obs.lower != obs.upper).any()) if len(obs) else False
        handles = _legend_handles(multi, bool(held_out),
                                  last_observed is not None and xmax > last_observed,
                                  has_masked, source if len(obs) else None)
        bottom = _legend_below(fig, handles, bbox_to_anchor=(0.5, 0.0))
        fig.suptitle(title or "First asylum applications by destination: simulated"
                     + (" vs observed" if len(obs) else ""), x=0.01, ha="left",
                     fontweight="bold")
        fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def uk_applications(sim: pd.DataFrame, observed: pd.DataFrame | None = None, *,
                    destination: str = "GBR", start: int = 2000,
                    last_observed: int = LAST_OBSERVED_YEAR,
                    held_out: Sequence[int] = (), title: str | None = None) -> Figure:
    """The article's figure and its continuation: yearly applications by North Koreans in
    the UK, observed 2000-``last_observed`` (bars) with the simulated median and bands
    over 2000 to the end of the run; years after ``last_observed`` are simulated only.

    Song's article shows UK applications 2000-2015 ("over a thousand applications"); this
    figure reproduces it from the packaged UNHCR first claims and continues it with the
    model. Observed data after 2015 are withheld on purpose and never drawn. It belongs to
    the flagship (:func:`has_article_figure`); for another scenario draw
    ``applications_by_destination(sim, scenario=...)``.
    """
    bands = as_bands(sim)
    _check_destinations([destination], bands)
    b = bands[(bands.destination == destination) & (bands.year >= start)]
    obs = _observed(observed, last_observed)
    o = obs[(obs.destination == destination) & (obs.year >= start)]
    multi = bool((b.n.fillna(1) > 1).any())
    xmax = float(b.year.max()) if len(b) else float(last_observed)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 3.6))
        _shade_years(ax, held_out, last_observed, xmax)
        ax.bar(o.year, o.observed, width=0.72, color=OBS_BAR, edgecolor="white",
               label=f"observed (UNHCR first claims, {start}-{last_observed})", zorder=2,
               gid="observed_bars")
        masked = o[o.lower != o.upper]
        if len(masked):
            ax.vlines(masked.year, masked.lower, masked.upper, color=ORANGE, lw=2.2, zorder=4)
        _draw_bands(ax, b, BLUE)
        ax.set_xlim(start - 0.6, xmax + 0.6)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MultipleLocator(5))
        ax.xaxis.set_minor_locator(MultipleLocator(1))
        ax.set_ylabel("asylum applications per year (persons)")
        ax.set_xlabel("year")
        top = ax.get_ylim()[1]
        if xmax > last_observed:
            ax.text((last_observed + 0.5 + xmax + 0.5) / 2, top * 0.97,
                    "continuation:\nsimulated only", ha="center", va="top", fontsize=8,
                    color="#41597a")
        tot_obs = float(o[o.year <= last_observed].observed.sum())
        # both totals over the years with an observed row, so that they compare
        seen_years = sorted(int(y) for y in o.year.unique() if start <= y <= last_observed)
        tot_sim, how = _period_total(sim, b, destination, start, last_observed, multi,
                                     seen_years if len(o) else None)
        seen = f"observed {tot_obs:,.0f}, " if len(o) else ""  # none given: no "observed 0"
        span = f"{start}-{last_observed}"
        if len(o) and seen_years != list(range(start, last_observed + 1)):
            span = (f"{seen_years[0]}-{seen_years[-1]}" if seen_years == list(
                range(seen_years[0], seen_years[-1] + 1)) else f"{len(seen_years)} years "
                f"with data, {seen_years[0]}-{seen_years[-1]}") if seen_years else span
        ax.text(0.01, 0.97, f"{span}: {seen}simulated "
                f"{count_text(tot_sim, ',')}" + how, transform=ax.transAxes,
                ha="left", va="top", fontsize=8, color=DARK)
        handles = [Patch(color=OBS_BAR, label="observed (UNHCR first claims)")] if len(o) \
            else []
        handles += _legend_handles(multi, bool(held_out), False, len(masked) > 0)[
            : 3 if multi else 1]
        if held_out:
            handles.append(Patch(color=GREY, alpha=0.35, label="held-out years"))
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, 0.9),
                  frameon=False)
        where = "North Koreans' asylum applications in the UK" if destination == "GBR" \
            else f"Asylum applications in {destination}"
        ax.set_title(title or f"{where}, {start}-{last_observed} and after")
        fig.tight_layout()
    return fig


# --- stocks -------------------------------------------------------------------------------------


def stocks_by_state(stocks: pd.DataFrame) -> Figure:
    """Persons by state over time: living in the first country (left) and abroad by state
    (right: in transit, awaiting a decision, recognised, irregular), monthly."""
    s = stocks[stocks.state != "pending"]
    wide = s.groupby(["year", "month", "state"]).persons.sum().unstack("state").fillna(0)
    t = wide.index.get_level_values(0) + (wide.index.get_level_values(1) - 1) / 12.0
    abroad = [c for c in ("transit", "claimant", "recognised", "irregular") if c in wide]
    labels = {"transit": "in transit", "claimant": "awaiting a decision",
              "recognised": "recognised (protection)", "irregular": "refused, irregular",
              "first_country": "first country"}
    with plt.rc_context(STYLE):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.2, 3.2))
        if "first_country" in wide:
            a1.plot(t, wide["first_country"], color=STATE_COLORS["first_country"], lw=1.6,
                    gid="first_country")
            a1.fill_between(t, 0, wide["first_country"], color=STATE_COLORS["first_country"],
                            alpha=0.12, lw=0)
        a1.set_title("Living in the first country")
        for c in abroad:
            a2.plot(t, wide[c], color=STATE_COLORS[c], lw=1.6, label=labels[c], gid=c)
        a2.set_title("Abroad, by state")
        a2.legend(frameon=False, loc="upper left")
        for ax in (a1, a2):
            ax.set_ylim(bottom=0)
            ax.set_xlabel("year")
            ax.yaxis.set_major_formatter(FuncFormatter(thousands))
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        a1.set_ylabel("persons (end of month)")
        fig.tight_layout()
    return fig


# --- movers vs stayers ---------------------------------------------------------------------------


def movers_vs_stayers(profile: pd.DataFrame,
                      attributes: Sequence[str] = ("skill", "funds", "degree", "income",
                                                   "satisfaction")) -> Figure:
    """The selection effect: mean (bar) and standard deviation (whisker) of each attribute
    for movers at departure and for residents who never moved (sampled at each year's
    end), with the standardised difference d = (movers - stayers) / pooled s.d."""
    p = profile.set_index(["attribute", "group"])
    attrs = [a for a in attributes if (a, "movers") in p.index and (a, "stayers") in p.index]
    if not attrs:
        have = sorted(set(profile.attribute)) if "attribute" in profile.columns else []
        raise ValueError(f"none of {list(attributes)} is profiled for both movers and "
                         f"stayers. Fix: choose among {', '.join(have) or 'no attribute'} "
                         "(the run's profile table)")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(attrs), figsize=(1.75 * len(attrs) + 0.4, 2.9),
                                 squeeze=False)
        for ax, a in zip(axes[0], attrs, strict=True):
            m, s = p.loc[(a, "movers")], p.loc[(a, "stayers")]
            means = [float(m["mean"]), float(s["mean"])]
            sds = [float(m["sd"]), float(s["sd"])]
            ax.bar([0, 1], means, yerr=sds, width=0.62, color=[BLUE, GREY],
                   error_kw={"lw": 1, "capsize": 3, "ecolor": "#555555"}, gid=a)
            pooled = np.sqrt((sds[0] ** 2 + sds[1] ** 2) / 2)
            d = (means[0] - means[1]) / pooled if pooled > 0 else np.nan
            ax.set_xticks([0, 1], ["movers", "stayers"])
            ax.set_title(f"{ATTRIBUTE_LABELS.get(a, a)}\nd = {d:+.2f}", fontsize=8.5,
                         fontweight="normal", loc="center")
            ax.set_ylim(bottom=0)
        n1 = int(p.loc[(attrs[0], "movers"), "n"]) if attrs else 0
        n0 = int(p.loc[(attrs[0], "stayers"), "n"]) if attrs else 0
        fig.suptitle(f"Who moves on: movers at departure (n = {n1:,} households) vs stayers "
                     f"at each year's end (n = {n0:,} household-years); mean ± s.d.",
                     x=0.01, ha="left", fontweight="bold")
        fig.tight_layout()
    return fig


# --- brokers -----------------------------------------------------------------------------------


def broker_share(brokers: pd.DataFrame, top: int = 3, min_departures: int = 10) -> Figure:
    """Share of onward departures arranged by a broker, per year: all destinations (thick),
    the ``top`` destinations by departures (thin), departures as grey bars (right axis).
    Shares are drawn only for years with at least ``min_departures`` departures (households),
    where a share means something."""
    yearly = brokers.groupby("year")[["departures", "broker_departures"]].sum()
    yearly = yearly[yearly.departures > 0]
    enough = yearly[yearly.departures >= min_departures]
    share = enough.broker_departures / enough.departures
    by_dest = brokers.groupby("destination").departures.sum().sort_values(ascending=False)
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 3.3))
        ax2 = ax.twinx()
        ax2.bar(yearly.index, yearly.departures, color=GREY, alpha=0.45, width=0.8,
                zorder=0, gid="departures")
        ax2.set_ylabel("onward departures per year (households)", color="#777777")
        ax2.spines["right"].set_visible(True)
        ax2.yaxis.set_major_formatter(FuncFormatter(thousands))
        ax.set_zorder(ax2.get_zorder() + 1)
        ax.patch.set_visible(False)
        for i, d in enumerate(by_dest.index[:top]):
            b = brokers[(brokers.destination == d) & (brokers.departures >= min_departures)]
            ax.plot(b.year, b.broker_share, color=dest_color(d, i), lw=0.9, alpha=0.8,
                    label=d, gid=f"share_{d}")
        ax.plot(share.index, share.to_numpy(), color=DARK, lw=2.0, marker="o", ms=2.8,
                label="all destinations", gid="share_all")
        ax.set_ylim(0, 1.02)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0%}"))
        ax.set_ylabel("share arranged by a broker")
        ax.set_xlabel("year")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=8))
        ax.legend(frameon=False, loc="upper left", ncol=2)
        total = yearly.broker_departures.sum() / yearly.departures.sum() if len(yearly) else 0
        # households: `compare --output broker_share` weighs persons, under the same name
        ax.set_title(f"Moves mediated by brokers: {total:.0%} of all onward departures "
                     "(households)")
        fig.tight_layout()
    return fig


# --- comparisons ----------------------------------------------------------------------------


def compare_scenarios(values: pd.DataFrame, output: str = "applications", *,
                      destinations: Sequence[str] | None = None,
                      years: tuple[int, int] | None = None,
                      observed: pd.DataFrame | None = None,
                      last_observed: int = LAST_OBSERVED_YEAR,
                      period: tuple[int, int] | None = None) -> Figure:
    """Scenarios side by side: per destination, the median and 90% band of ``output`` over
    replicates for each scenario (``label``) of a comparison's ``values``; optionally the
    observed first claims (up to ``last_observed``) as points, and the years the effects
    are summed over (``period``) shaded."""
    v = values[values.output == output]
    if years is not None:
        v = v[v.year.between(*years)]
    labels = list(dict.fromkeys(v.label))
    dests = list(destinations) if destinations else list(dict.fromkeys(v.destination))
    # (orange marks masked observed counts: no scenario is drawn in it)
    palette = [BLUE, "#1b7837", "#6a3d9a", "#b2182b", "#8c510a"]
    obs = _observed(observed, last_observed)
    ncols = 3 if len(dests) > 4 else max(1, min(2, len(dests)))
    nrows = int(np.ceil(len(dests) / ncols))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(nrows, ncols, figsize=_grid_size(ncols, nrows, 0.6),
                                 squeeze=False, sharex=True)
        for ax, d in zip(axes.flat, dests, strict=False):
            if period is not None:
                ax.axvspan(period[0] - 0.5, period[1] + 0.5, color=GREY, alpha=0.25, lw=0,
                           zorder=0, gid="period")
            for i, lab in enumerate(labels):
                b = as_bands(v[(v.label == lab) & (v.destination == d)], output)
                c = palette[i % len(palette)]
                ax.fill_between(b.year, b.q05, b.q95, color=c, alpha=0.15, lw=0)
                ax.plot(b.year, b["median"], color=c, lw=1.5, gid=f"median:{lab}")
            if output == "applications" and len(obs):
                _draw_observed(ax, obs[obs.destination == d])
        from onward.experiments.runner import output_unit

        # a stock counts persons at the year's end and a share is 0-1, not "per year"
        _finish_grid(axes, dests, f"{output.replace('_', ' ')}\n({output_unit(output)})")
        n = int(v.replicate.nunique()) if "replicate" in v.columns else 0
        handles = [plt.Line2D([], [], color=palette[i % len(palette)], lw=1.5,
                              label=f"{lab}: median, 90% band") for i, lab in enumerate(labels)]
        if output == "applications" and len(obs):
            handles.append(plt.Line2D([], [], color=DARK, marker="o", ls="", ms=3.6,
                                      label="observed"))
            if (obs.lower != obs.upper).any():
                handles.append(plt.Line2D([], [], color=ORANGE, lw=2.2,
                                          label="observed, masked count (an interval)"))
        if period is not None:
            handles.append(Patch(color=GREY, alpha=0.25,
                                 label=f"{period[0]}-{period[1]}: the effects' period"))
        bottom = _legend_below(fig, handles)
        fig.suptitle(f"{output.replace('_', ' ').capitalize()} by scenario ({n} paired "
                     "replicates each)", x=0.01, ha="left", fontweight="bold")
        fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


__all__ = ["ATTRIBUTE_LABELS", "LAST_OBSERVED_YEAR", "applications_by_destination",
           "last_observed_year", "observed_label",
           "as_bands", "broker_share", "compare_scenarios", "movers_vs_stayers", "observed_claims",
           "stocks_by_state", "uk_applications"]


def _finish_grid(axes, dests: list[str], ylabel: str) -> None:
    """Titles, axes from zero and whole-year ticks on a grid of per-destination panels;
    panels beyond the destinations are hidden."""
    for ax, d in zip(axes.flat, dests, strict=False):
        ax.set_title(d)
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    for ax in list(axes.flat)[len(dests):]:
        ax.set_visible(False)
    nrows, ncols = axes.shape
    for k in range(min(len(dests), nrows * ncols)):
        r, col = divmod(k, ncols)
        if r + 1 < nrows and (r + 1) * ncols + col >= len(dests):
            # the panel below is hidden: this one is the bottom of its column, so it shows
            # the years (shared x axes label only the last row)
            axes[r, col].tick_params(labelbottom=True)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
