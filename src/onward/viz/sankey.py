"""Routes as a Sankey (alluvial) diagram: origin -> first country -> destination -> outcome.

Matplotlib has no alluvial plot, so the bands are drawn here as cubic Bezier paths.
:func:`route_links` turns a run's ``flows`` and ``stocks`` into the links (persons over
the whole run); :func:`routes_sankey` draws them; :func:`draw_sankey` draws any columns
of nodes and links.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch, Rectangle
from matplotlib.path import Path as MPath

from onward.analysis.numbers import count_text
from onward.viz.style import DARK, GREEN, GREY, ORANGE, RED, STYLE, dest_color

OUTCOMES = ("recognised", "refused, returned", "refused, stayed or moved on",
            "no first decision yet")
OUTCOME_COLORS = dict(zip(OUTCOMES, (GREEN, ORANGE, RED, GREY), strict=True))
#: the source of the first country's second inflow: refused claimants sent or gone back
BACK = "back after a refusal"


def _place(stocks: pd.DataFrame, state: str, default: str) -> str:
    loc = stocks.loc[stocks.state == state, "location"]
    return str(loc.iloc[0]) if len(loc) else default


def route_links(flows: pd.DataFrame, stocks: pd.DataFrame) -> pd.DataFrame:
    """Links of the route diagram in persons, totals over the run.

    Columns: ``source``, ``target``, ``persons``, ``column`` (0: origin -> first country
    or direct; 1: -> destination or "stayed"; 2: destination -> outcome).

    * origin -> first country: persons who arrived there, with the children born there
      (persons still there at the end plus onward departures, less those who came back);
    * "back after a refusal" -> first country: refused claimants who returned or were
      removed to it (someone who left twice is counted in both departures: the links
      after the first country are moves, not heads);
    * origin -> "direct": first claims by people who never lived in the first country;
    * first country -> destination: onward departures; -> "stayed": the final stock;
    * destination -> outcome: first decisions (recognised; refused, split into those who
      went back to the first country and the rest) and the remainder without a first
      decision by the end (in transit, waiting, or moved on). When re-migrants make a
      destination's decisions exceed its inflow, decisions are scaled to the inflow.
    """
    first = _place(stocks, "first_country", "first country")
    origin = _place(stocks, "pending", "origin")
    tot = flows.groupby(["flow", "route", "destination"]).persons.sum()

    def get(flow: str, route: str | None = None) -> pd.Series:
        if route is None:
            s = tot.loc[flow] if flow in tot.index.get_level_values(0) else pd.Series(
                dtype=float)
            return s.groupby(level="destination").sum() if len(s) else s
        try:
            return tot.loc[(flow, route)]
        except KeyError:
            return pd.Series(dtype=float)

    dests = list(dict.fromkeys(flows.destination))
    dep = get("departures", "onward").reindex(dests, fill_value=0)
    direct = get("claims", "direct").reindex(dests, fill_value=0)
    rec = get("recognised").reindex(dests, fill_value=0).astype(float)
    ref = get("refused").reindex(dests, fill_value=0).astype(float)
    back = (get("returns", "onward").reindex(dests, fill_value=0)
            + get("removals", "onward").reindex(dests, fill_value=0)).astype(float)
    last = stocks[(stocks.year == stocks.year.max())]
    last = last[last.month == last.month.max()]
    stayed = float(last.loc[last.state == "first_country", "persons"].sum())
    kor, dir_node, stay = (f"{first} (first country)", "direct (never lived there)",
                           f"stayed in {first}")
    came_back = float(back.sum())
    rows: list[tuple[str, str, float, int]] = [
        # arrivals (and births there): what left or stayed, less what came back (the link
        # was stayed + departures, 44,123 persons for the flagship's ~34,500 arrivals)
        (origin, kor, stayed + float(dep.sum()) - came_back, 0),
        (BACK, kor, came_back, 0),
        (origin, dir_node, float(direct.sum()), 0),
        (kor, stay, stayed, 1),
    ]
    order = (dep + direct).sort_values(ascending=False).index.tolist()
    order = [d for d in order if d != "OTH"] + [d for d in order if d == "OTH"]
    for d in order:
        rows.append((kor, d, float(dep[d]), 1))
        rows.append((dir_node, d, float(direct[d]), 1))
    for d in order:
        inflow = float(dep[d] + direct[d])
        r, f = float(rec[d]), float(ref[d])
        if r + f > inflow > 0:
            r, f = r * inflow / (r + f), f * inflow / (r + f)
        b = min(float(back[d]), f)
        rows += [(d, OUTCOMES[0], r, 2), (d, OUTCOMES[1], b, 2), (d, OUTCOMES[2], f - b, 2),
                 (d, OUTCOMES[3], max(inflow - r - f, 0.0), 2)]
    out = pd.DataFrame(rows, columns=["source", "target", "persons", "column"])
    return out[out.persons > 0].reset_index(drop=True)


def _band(x0: float, x1: float, y0a: float, y0b: float, y1a: float, y1b: float) -> MPath:
    """A band from the interval [y0a, y0b] at x0 to [y1a, y1b] at x1 (top to bottom)."""
    xm = (x0 + x1) / 2
    verts = [(x0, y0a), (xm, y0a), (xm, y1a), (x1, y1a), (x1, y1b), (xm, y1b), (xm, y0b),
             (x0, y0b), (x0, y0a)]
    codes = [MPath.MOVETO, MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.LINETO,
             MPath.CURVE4, MPath.CURVE4, MPath.CURVE4, MPath.CLOSEPOLY]
    return MPath(verts, codes)


def draw_sankey(ax: plt.Axes, columns: Sequence[Sequence[str]], links: pd.DataFrame,
                colors: dict[str, str], labels: dict[str, str] | None = None,
                column_titles: Sequence[str] = (), gap: float = 0.028,
                node_width: float = 0.018) -> None:
    """Draw nodes (``columns``: node names, top to bottom) and ``links`` (source, target,
    persons) on ``ax``. Links take the colour of their destination-side node unless the
    target is in the last column (then the source's colour). Patches carry
    ``gid="link:SOURCE->TARGET"`` and ``gid="node:NAME"``."""
    labels = labels or {}
    value: dict[str, float] = {}
    for col in columns:
        for n in col:
            value[n] = max(links.loc[links.source == n, "persons"].sum(),
                           links.loc[links.target == n, "persons"].sum())
    height = max(sum(value[n] for n in col) for col in columns)
    most = max(len(col) for col in columns)
    scale = (1.0 - gap * (most - 1)) / height if height > 0 else 0.0
    xs = np.linspace(0.0, 1.0 - node_width, len(columns))
    top: dict[str, float] = {}
    x_of: dict[str, float] = {}
    for x, col in zip(xs, columns, strict=True):
        used = sum(value[n] for n in col) * scale + gap * (len(col) - 1)
        y = 1.0 - (1.0 - used) / 2  # centre each column vertically
        for n in col:
            top[n], x_of[n] = y, float(x)
            h = value[n] * scale
            ax.add_patch(Rectangle((x, y - h), node_width, h, color=colors.get(n, DARK),
                                   lw=0, gid=f"node:{n}"))
            y -= h + gap
    out_used = dict.fromkeys(value, 0.0)
    in_used = dict.fromkeys(value, 0.0)
    pos = {n: (i, j) for i, col in enumerate(columns) for j, n in enumerate(col)}
    ordered = links.assign(_t=[pos[t] for t in links.target], _s=[pos[s] for s in links.source])
    last_col = len(columns) - 1
    for r in ordered.sort_values(["_s", "_t"]).itertuples():
        h = r.persons * scale
        y0 = top[r.source] - out_used[r.source]
        out_used[r.source] += h
        # incoming bands are stacked in the order of their sources
        y1 = top[r.target] - in_used_before(ordered, r, pos, scale)
        color = colors.get(r.source if pos[r.target][0] == last_col else r.target, GREY)
        ax.add_patch(PathPatch(_band(x_of[r.source] + node_width, x_of[r.target], y0, y0 - h,
                                     y1, y1 - h), facecolor=color, alpha=0.42, lw=0,
                               gid=f"link:{r.source}->{r.target}"))
        in_used[r.target] += h
    for n, (i, _j) in pos.items():
        h = value[n] * scale
        # (decisions scaled to a destination's inflow are not whole: a half goes up)
        text = labels.get(n, n) + f"  {count_text(value[n], ',')}"
        ax.text(x_of[n] + node_width + 0.006 if i < last_col else x_of[n] + node_width + 0.006,
                top[n] - h / 2, text, va="center", ha="left", fontsize=7.5, color=DARK,
                bbox={"boxstyle": "square,pad=0.08", "fc": "white", "ec": "none",
                      "alpha": 0.65} if i < last_col else None)
    for x, t in zip(xs, column_titles, strict=False):
        ax.text(x, 1.03, t, ha="left", va="bottom", fontsize=8, color="#555555",
                fontweight="bold")
    ax.set_xlim(-0.01, 1.18)
    ax.set_ylim(-0.02, 1.06)
    ax.axis("off")


def in_used_before(links: pd.DataFrame, row: object, pos: dict[str, tuple[int, int]],
                   scale: float) -> float:
    """Height already taken at ``row.target`` by incoming links from earlier sources."""
    same = links[(links.target == row.target)]
    before = same[[pos[s] < pos[row.source] for s in same.source]]
    return float(before.persons.sum()) * scale


def routes_sankey(flows: pd.DataFrame, stocks: pd.DataFrame, title: str | None = None
                  ) -> Figure:
    """Routes of everyone who arrived: origin -> first country (or straight to a claim)
    -> destination (or stayed) -> outcome, in persons over the whole run."""
    for arg, table, col in (("flows", flows, "flow"), ("stocks", stocks, "state")):
        if col not in table.columns:
            raise ValueError(f"routes_sankey: {arg} has no '{col}' column (columns "
                             f"{list(table.columns)}). Fix: pass a run's flows and stocks "
                             "tables, in that order")
    links = route_links(flows, stocks)
    cols: list[list[str]] = [[], [], [], []]
    for r in links.itertuples():
        for name, c in ((r.source, r.column), (r.target, r.column + 1)):
            if name not in cols[c]:
                cols[c].append(name)
    cols[3] = [o for o in OUTCOMES if o in cols[3]]
    colors = {n: dest_color(n, i) for i, n in enumerate(cols[2])}
    colors.update(OUTCOME_COLORS)
    colors.update({n: "#555555" for n in cols[0] + cols[1]})
    stay = [n for n in cols[2] if n.startswith("stayed in")]
    colors.update({n: "#8fa8c8" for n in stay})
    first = [n for n in cols[1] if n.endswith("(first country)")]
    colors.update({n: "#1f5a96" for n in first})
    colors[BACK] = ORANGE
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 5.0))
        draw_sankey(ax, cols, links, colors,
                    column_titles=("origin", "first country", "destination", "outcome"))
        if first:
            where = _place(stocks, "first_country", "the first country")
            ax.text(0.0, -0.035, f"origin -> {where}: arrivals, with the children born in "
                    f"{where}; {BACK}: refused claimants who returned or were removed to "
                    f"{where}", transform=ax.transAxes, ha="left", va="top", fontsize=7,
                    color="#555555")
        years = f"{int(flows.year.min())}-{int(flows.year.max())}"
        ax.set_title(title or f"Routes, {years} (persons; moves counted each time)",
                     loc="left")
        fig.tight_layout()
    return fig


__all__ = ["OUTCOMES", "draw_sankey", "route_links", "routes_sankey"]
