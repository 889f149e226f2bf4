"""Flee-style validation figure: per-camp simulated vs observed counts, and the ARD curve.

>>> from onward.flee import flee_validation_figure          # doctest: +SKIP
>>> fig = flee_validation_figure(run.table, title="mali2012")  # doctest: +SKIP
>>> fig.savefig("mali2012.png")                               # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from onward.flee.metrics import ard_curves, camp_names


def flee_validation_figure(table: pd.DataFrame, title: str | None = None,
                           references: Sequence[pd.DataFrame] = (),
                           reference_label: str = "Flee 3.1") -> Figure:
    """A matplotlib Figure: one panel per camp (simulated vs observed over days) and a
    last panel with the daily ARD, unrescaled and rescaled.

    ``table`` is an out.csv-like table (``FleeRun.table`` or Flee's own out.csv read with
    pandas). ``references`` are further tables (for example Flee's own runs over several
    seeds) drawn as a grey band of their simulated counts and ARD.
    """
    names = camp_names(table)
    panels = len(names) + 1
    ncol = min(4, panels)
    nrow = math.ceil(panels / ncol)
    fig = Figure(figsize=(3.6 * ncol, 2.8 * nrow), layout="constrained")
    axes = fig.subplots(nrow, ncol, squeeze=False).ravel()
    day = table["Day"].to_numpy() if "Day" in table else np.arange(len(table))
    for ax, c in zip(axes, names, strict=False):
        if references:
            ref = np.stack([r[f"{c} sim"].to_numpy()[:len(day)] for r in references])
            ax.fill_between(day[:ref.shape[1]], ref.min(axis=0), ref.max(axis=0),
                            color="0.75", label=f"{reference_label} ({len(references)} runs)")
        ax.plot(day, table[f"{c} data"], color="k", lw=1.5, label="observed (UNHCR)")
        ax.plot(day, table[f"{c} sim"], color="tab:blue", lw=1.2, label="simulated")
        ax.set_title(c, fontsize=10)
        ax.set_xlabel("day")
        ax.set_ylabel("agents")
    ax = axes[len(names)]
    ard, ard_r = ard_curves(table)
    if references:
        for i, r in enumerate(references):
            ra, _ = ard_curves(r)
            ax.plot(np.arange(len(ra)), ra, color="0.7", lw=0.8,
                    label=f"{reference_label} ARD" if i == 0 else None)
    ax.plot(day, ard, color="tab:red", lw=1.5, label=f"ARD (mean {ard.mean():.3f})")
    ax.plot(day, ard_r, color="tab:orange", lw=1.5,
            label=f"ARD rescaled (mean {ard_r.mean():.3f})")
    ax.set_title("averaged relative difference", fontsize=10)
    ax.set_xlabel("day")
    ax.legend(fontsize=7)
    axes[0].legend(fontsize=7)
    for ax in axes[panels:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig
