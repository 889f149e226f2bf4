"""The dashboard's flows chart: simulated first claims per destination, observed overlaid.

Figures are built with :class:`matplotlib.figure.Figure` directly (not ``pyplot``), which
keeps no global state and so is safe to draw from several sessions' threads at once.
"""

from __future__ import annotations

import math
import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

SIM_COLOUR = "#1f5f99"
OBS_COLOUR = "#222222"


def _year_of(date: str) -> float:
    parts = [int(p) for p in date.split("-")]
    return parts[0] + ((parts[1] - 1) / 12 if len(parts) > 1 else 0.0)


def _masked(obs: pd.DataFrame) -> pd.Series:
    """Which observed counts are UNHCR's masked 1-5: the ``masked`` column where there is
    one, else a ``lower`` below ``upper`` (a stored run's table has only those)."""
    if "masked" in obs:
        return obs["masked"].fillna(False).astype(bool)
    if {"lower", "upper"} <= set(obs.columns):
        return (obs["lower"] < obs["upper"]).fillna(False)
    return pd.Series(False, index=obs.index)


def flows_figure(flows: pd.DataFrame, title: str = "", event_date: str | None = None,
                 columns: int = 3) -> Figure:
    """Small multiples: one panel per destination, simulated line vs observed points.

    Parameters
    ----------
    flows : table with ``year``, ``destination``, ``simulated`` and optionally
        ``observed``, ``lower``, ``upper`` (an observed count masked by UNHCR is drawn as
        its interval) and ``held_out`` (held-out years are shaded).
    title : shown above the panels
    event_date : a moved policy date, marked on every panel
    """
    dests = list(dict.fromkeys(flows["destination"]))
    n = max(len(dests), 1)
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    # the run's description can be long (every changed value): wrapped to the figure's
    # width, with room above the panels for its lines (one long line was cut at both ends)
    heading = textwrap.wrap(f"{title} (first asylum claims per year, persons)" if title
                            else "First asylum claims per year (persons)",
                            width=int(3.4 * cols * 11))
    height = 2.0 * rows + 0.75 + 0.2 * len(heading)
    fig = Figure(figsize=(3.4 * cols, height), dpi=90)
    # Fixed margins, not a constrained layout: the layout solver costs more than the drawing.
    fig.subplots_adjust(left=0.05, right=0.99, top=1 - (0.3 + 0.2 * len(heading)) / height,
                        bottom=0.45 / height, hspace=0.35, wspace=0.18)
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    for ax, dest in zip(axes, dests, strict=False):
        d = flows[flows["destination"] == dest].sort_values("year")
        ax.plot(d["year"], d["simulated"], color=SIM_COLOUR, lw=1.6, label="simulated")
        if "held_out" in d and d["held_out"].any():
            held = d.loc[d["held_out"].astype(bool), "year"]
            ax.axvspan(held.min() - 0.5, held.max() + 0.5, color="#f0e0c0", lw=0,
                       label="held out")
        if "observed" in d and d["observed"].notna().any():
            o = d[d["observed"].notna()]
            masked = _masked(o)
            exact = o[~masked]
            if len(exact):
                ax.plot(exact["year"], exact["observed"], "o", ms=3, color=OBS_COLOUR,
                        label="observed")
            m = o[masked]
            if len(m):  # an interval, not a dot at UNHCR's printed 5
                ax.vlines(m["year"], m["lower"], m["upper"], color=OBS_COLOUR, lw=1.5,
                          label="observed 1-5 (masked)")
        if event_date:
            ax.axvline(_year_of(event_date), color="#b03030", ls="--", lw=1,
                       label="moved policy date")
        ax.set_title(dest, fontsize=9, loc="left")
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5, integer=True))
        # from 0 with room above the highest point: a nearly flat series sat on the frame
        # (autoscale's top margin is 5% of the range, not of the values)
        ax.set_ylim(0, max(ax.get_ylim()[1], 1.0) * 1.08)
        ax.yaxis.get_major_formatter().set_useOffset(False)
    for ax in axes[len(dests):]:
        ax.set_visible(False)
    legend: dict[str, object] = {}
    for ax in axes[:len(dests)]:
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            legend.setdefault(label, h)
    if legend:
        fig.legend(list(legend.values()), list(legend), loc="lower center",
                   ncols=len(legend), fontsize=8, frameon=False)
    # the unit stays when a run's description replaces the default title
    fig.suptitle("\n".join(heading), fontsize=10)
    return fig
