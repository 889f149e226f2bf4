"""Figures of a stored calibration: posterior marginals and pairs, fit vs observed, epsilon.

Every function writes a PNG and an SVG next to each other (the suffix of ``path`` is
replaced) and returns the two paths. Matplotlib runs on the non-interactive Agg backend.

Examples
--------
>>> from onward.calibration.plots import write_calibration_figures
>>> write_calibration_figures("demo", None, "figures")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import matplotlib

if "ipykernel" not in sys.modules:  # keep a notebook's inline backend
    matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from onward.calibration import PosteriorWarning  # noqa: E402
from onward.calibration.abc import Posterior  # noqa: E402
from onward.viz.style import year_runs  # noqa: E402

STYLE = {
    "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "xtick.labelsize": 8,
    "ytick.labelsize": 8, "legend.fontsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "svg.fonttype": "none", "figure.dpi": 100,
}
BLUE, ORANGE, GREY, DARK = "#1f5a96", "#d9661f", "#bdbdbd", "#222222"
DPI = 200


def short_name(path: str) -> str:
    """A readable title from a dotted parameter path.

    >>> short_name("parameters.integration.glass_ceiling")
    'integration: glass ceiling'
    >>> short_name("destinations.GBR.recognition_rate")
    'GBR: recognition rate'
    """
    parts = [p for p in path.split(".") if p]
    if parts and parts[0] in {"parameters", "destinations", "population", "network"}:
        parts = parts[1:] or parts
    parts = [p.replace("_", " ") for p in parts]
    if len(parts) == 1:
        return parts[0]
    return f"{parts[-2]}: {parts[-1]}"


def _save(fig: Figure, path: str | Path) -> list[Path]:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.with_suffix("") if path.suffix.lower() in {".png", ".svg", ".pdf"} else path
    out = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    fig.savefig(out[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(out[1], bbox_inches="tight")
    plt.close(fig)
    return out


def _weights(post: Posterior) -> np.ndarray:
    w = np.asarray(post.weights, dtype=np.float64)
    return w / w.sum() if w.sum() > 0 else np.full(len(w), 1.0 / max(len(w), 1))


def _grid(n: int, ncols: int = 3) -> tuple[int, int]:
    ncols = max(1, min(ncols, n))
    return math.ceil(n / ncols), ncols


def posterior_marginals(post: Posterior, priors: dict[str, tuple[float, float]] | None,
                        path: str | Path) -> list[Path]:
    """Weighted histogram of each parameter, over its prior range when given, with the
    posterior mean (solid) and 90% credible interval (shaded) marked."""
    cols = list(post.particles.columns)
    w = _weights(post)
    mean, lo, hi = post.mean(), post.quantile(0.05), post.quantile(0.95)
    with plt.rc_context(STYLE):
        nrows, ncols = _grid(len(cols))
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.0 * ncols, 2.3 * nrows),
                                 squeeze=False)
        for ax, c in zip(axes.flat, cols, strict=False):
            x = post.particles[c].to_numpy(dtype=np.float64)
            rng = tuple(priors[c]) if priors and c in priors else (float(x.min()),
                                                                    float(x.max()))
            if rng[1] <= rng[0]:
                rng = (rng[0] - 0.5, rng[0] + 0.5)
            ax.hist(x, bins=25, range=rng, weights=w, density=True, color=BLUE, alpha=0.75,
                    edgecolor="white", linewidth=0.4)
            ax.axvspan(lo[c], hi[c], color=ORANGE, alpha=0.15, lw=0, zorder=0)
            ax.axvline(mean[c], color=ORANGE, lw=1.5)
            if priors and c in priors:
                ax.axhline(1.0 / (rng[1] - rng[0]), color=GREY, lw=1, ls="--")
            ax.set_xlim(*rng)
            ax.set_title(f"{short_name(c)}\nmean {mean[c]:.3g}, 90% [{lo[c]:.3g}, {hi[c]:.3g}]")
            ax.set_yticks([])
        for ax in list(axes.flat)[len(cols):]:
            ax.set_visible(False)
        handles = [Patch(color=BLUE, alpha=0.75, label="posterior"),
                   plt.Line2D([], [], color=ORANGE, lw=1.5, label="mean"),
                   Patch(color=ORANGE, alpha=0.15, label="90% credible interval")]
        if priors:
            handles.append(plt.Line2D([], [], color=GREY, ls="--", label="prior (uniform)"))
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
                   bbox_to_anchor=(0.5, -0.02))
        fig.suptitle(f"Calibration '{post.name}': posterior marginals "
                     f"(generation {post.generation}, ε = {post.epsilon:.3g})")
        fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _save(fig, path)


def _narrowest(post: Posterior, priors: dict[str, tuple[float, float]] | None,
               k: int) -> list[str]:
    cols = list(post.particles.columns)
    if not priors or len(cols) <= k:
        return cols[:k]
    lo, hi = post.quantile(0.05), post.quantile(0.95)

    def ratio(c: str) -> float:
        if c not in priors or priors[c][1] <= priors[c][0]:
            return math.inf
        return (hi[c] - lo[c]) / (priors[c][1] - priors[c][0])

    chosen = sorted(cols, key=ratio)[:k]
    return [c for c in cols if c in chosen]


def posterior_pairs(post: Posterior, path: str | Path, max_params: int = 6,
                    priors: dict[str, tuple[float, float]] | None = None) -> list[Path]:
    """Pairs plot of up to ``max_params`` parameters (those whose 90% interval is narrowest
    relative to the prior when ``priors`` is given, else the first ones): weighted
    histograms on the diagonal, particles below it with size and opacity by weight."""
    cols = _narrowest(post, priors, max_params)
    w = _weights(post)
    rel = w / w.max() if w.max() > 0 else w
    order = np.argsort(rel)  # heaviest drawn last (on top)
    sizes = 4 + 30 * rel[order]
    colors = np.zeros((len(w), 4))
    colors[:, :3] = matplotlib.colors.to_rgb(BLUE)
    colors[:, 3] = 0.15 + 0.75 * rel
    colors = colors[order]
    n = len(cols)

    def lims(c: str) -> tuple[float, float]:
        if priors and c in priors and priors[c][1] > priors[c][0]:
            return float(priors[c][0]), float(priors[c][1])
        x = post.particles[c].to_numpy(dtype=np.float64)
        pad = 0.05 * (x.max() - x.min() or 1.0)
        return float(x.min() - pad), float(x.max() + pad)

    with plt.rc_context(STYLE):
        size = max(1.7, min(2.4, 12.0 / max(n, 1)))
        fig, axes = plt.subplots(n, n, figsize=(size * n + 0.6, size * n + 0.6),
                                 squeeze=False)
        for i, ci in enumerate(cols):
            for j, cj in enumerate(cols):
                ax = axes[i, j]
                if j > i:
                    ax.set_visible(False)
                    continue
                xj = post.particles[cj].to_numpy(dtype=np.float64)
                if i == j:
                    ax.hist(xj, bins=20, range=lims(cj), weights=w, color=BLUE, alpha=0.75,
                            edgecolor="white", linewidth=0.4)
                    ax.set_yticks([])
                else:
                    xi = post.particles[ci].to_numpy(dtype=np.float64)
                    ax.scatter(xj[order], xi[order], s=sizes, c=colors, linewidths=0)
                    ax.set_ylim(*lims(ci))
                ax.set_xlim(*lims(cj))
                if i == n - 1:
                    ax.set_xlabel(short_name(cj))
                else:
                    ax.set_xticklabels([])
                if j == 0 and i > 0:
                    ax.set_ylabel(short_name(ci))
                elif i != j:
                    ax.set_yticklabels([])
                ax.tick_params(axis="x", labelrotation=30)
        fig.suptitle(f"Calibration '{post.name}': posterior pairs (point size and opacity "
                     "by weight)")
        fig.align_labels()
        fig.tight_layout()
    return _save(fig, path)


def fitted_vs_observed(bands: pd.DataFrame, observed: pd.DataFrame | None,
                       calibration_years: list[int], held_out_years: list[int],
                       path: str | Path, destinations: list[str] | None = None) -> list[Path]:
    """Per destination: predictive median with 50% and 90% bands, observed first claims
    (a masked UNHCR count, printed 5, drawn as the interval [1, 5]), held-out years shaded.

    ``bands`` has columns year, destination, median, q05, q25, q75, q95; ``observed`` has
    destination, year, observed and optionally lower, upper (and family, filtered to
    ``first_claims``).
    """
    obs = observed if observed is not None else pd.DataFrame(
        columns=["destination", "year", "observed", "lower", "upper"])
    if "family" in obs.columns:
        obs = obs[obs.family == "first_claims"]
    obs = obs.copy()
    if "lower" not in obs.columns:
        obs["lower"] = obs.observed
    if "upper" not in obs.columns:
        obs["upper"] = obs.observed
    dests = list(destinations) if destinations else list(dict.fromkeys(bands.destination))
    years = set(calibration_years) | set(held_out_years)
    held = sorted(held_out_years)
    with plt.rc_context(STYLE):
        nrows, ncols = _grid(len(dests), 3 if len(dests) > 4 else 2)
        fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 2.5 * nrows),
                                 squeeze=False)
        for ax, d in zip(axes.flat, dests, strict=False):
            b = bands[bands.destination == d].sort_values("year")
            if years:
                b = b[b.year.between(min(years), max(years))]
            y = b.year.to_numpy()
            ax.fill_between(y, b.q05, b.q95, color=BLUE, alpha=0.15, lw=0)
            ax.fill_between(y, b.q25, b.q75, color=BLUE, alpha=0.30, lw=0)
            ax.plot(y, b["median"], color=BLUE, lw=1.5)
            for start, end in year_runs(held):
                ax.axvspan(start - 0.5, end + 0.5, color=GREY, alpha=0.35, lw=0, zorder=0)
                ax.text((start + end) / 2, 0.97, "held out", transform=ax.get_xaxis_transform(),
                        ha="center", va="top", fontsize=7, color="#555555")
            o = obs[obs.destination == d]
            exact = o[(o.lower == o.upper)]
            masked = o[(o.lower != o.upper)]
            ax.plot(exact.year, exact.observed, "o", ms=3.5, color=DARK, zorder=3)
            if len(masked):
                ax.vlines(masked.year, masked.lower, masked.upper, color=ORANGE, lw=2,
                          zorder=3)
            ax.set_title(d)
            xs = np.concatenate([y, o.year.to_numpy(dtype=np.float64)])
            if xs.size:
                ax.set_xlim(xs.min() - 0.4, xs.max() + 0.4)
            ax.set_ylim(bottom=0)
            ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_thousands))
        for ax in list(axes.flat)[len(dests):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("first claims per year")
        handles = [plt.Line2D([], [], color=BLUE, lw=1.5, label="predictive median"),
                   Patch(color=BLUE, alpha=0.45, label="50% interval"),
                   Patch(color=BLUE, alpha=0.15, label="90% interval"),
                   plt.Line2D([], [], color=DARK, marker="o", ls="", ms=3.5,
                              label="observed"),
                   plt.Line2D([], [], color=ORANGE, lw=2,
                              label="observed, an interval (masked counts)")]
        if held:
            handles.append(Patch(color=GREY, alpha=0.35, label="held-out years"))
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6),
                   frameon=False, bbox_to_anchor=(0.5, -0.02))
        fig.suptitle("First claims: posterior predictive vs observed")
        fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def _thousands(v: float, _pos: Any = None) -> str:
    return f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}"


def _plain(v: float, _pos: Any = None) -> str:
    return f"{v:g}"


def _minor_2_5(v: float, _pos: Any = None) -> str:
    """Label only the 2x and 5x minor ticks of a log axis."""
    if v <= 0:
        return ""
    lead = round(v / 10 ** math.floor(math.log10(v)), 6)
    return f"{v:g}" if lead in (2.0, 5.0) else ""




def epsilon_trace(generations_df: pd.DataFrame, path: str | Path) -> list[Path]:
    """Epsilon (log scale where it spans a decade) and acceptance rate per generation."""
    g = generations_df.sort_values("generation")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.0, 3.0))
        gen = g.generation.to_numpy()
        eps = g.epsilon.to_numpy(dtype=np.float64)
        ax.plot(gen, eps, "o-", color=BLUE, ms=4, label="epsilon")
        ax.set_xlabel("generation")
        ax.set_ylabel("epsilon", color=BLUE)
        fin = eps[np.isfinite(eps)]
        # log scale only where epsilon spans a decade: within one, a log axis has no
        # labelled tick and a small fall looks large
        if fin.size and np.all(fin > 0) and fin.max() / fin.min() >= 10:
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_plain))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(_minor_2_5))
        elif fin.size:
            ax.set_ylim(0, fin.max() * 1.1)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if gen.size:
            ax.set_xlim(gen.min() - 0.5, gen.max() + 0.5)
        handles = ax.get_lines()
        if "acceptance_rate" in g.columns:
            ax2 = ax.twinx()
            ax2.spines["right"].set_visible(True)
            ax2.plot(gen, g.acceptance_rate.to_numpy(dtype=np.float64), "s--", color=ORANGE,
                     ms=3.5, label="acceptance rate")
            ax2.set_ylabel("acceptance rate", color=ORANGE)
            ax2.set_ylim(bottom=0)
            handles = handles + ax2.get_lines()
        ax.legend(handles=handles, loc="upper right", frameon=False)
        title = "ABC-SMC: epsilon and acceptance rate"
        if "total_simulations" in g.columns and len(g):
            title += f" ({int(g.total_simulations.iloc[-1]):,} simulations)"
        ax.set_title(title)
        fig.tight_layout()
    return _save(fig, path)


def _priors(gens: pd.DataFrame) -> dict[str, tuple[float, float]] | None:
    try:
        free = json.loads(gens.settings.iloc[0]).get("free", {})
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return {k: (float(v[0]), float(v[1])) for k, v in free.items()} or None


def write_calibration_figures(name: str, store: Any, out_dir: str | Path,
                              score_result: dict[str, Any] | None = None, draws: int = 20,
                              seed: int = 1, scenario: Any = None) -> list[Path]:
    """Write all four figures of calibration ``name`` into ``out_dir``; return the paths.

    Runs :func:`onward.calibration.score.score` (``draws`` posterior-predictive runs) when
    ``score_result`` is not given. ``scenario`` defaults to the one calibrated.
    """
    from onward.calibration.abc import (
        fitted_not_held_out,
        fitted_scenario,
        load_posterior,
        stored_generations,
    )
    from onward.calibration.targets import scoring_targets
    from onward.scenario import load_scenario
    from onward.store import Store

    st = store if isinstance(store, Store) else Store(store)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        if score_result is not None:  # (its score, which read this posterior, warned
            # already: `onward score NAME --figures DIR` printed each warning twice)
            warnings.simplefilter("ignore", PosteriorWarning)
        post = load_posterior(name, st)
    gens = stored_generations(st, name)
    priors = _priors(gens)
    if score_result is None:
        from onward.calibration.score import score

        score_result = score(scenario, name, draws=draws, seed=seed, store=st.path)
    sc = fitted_scenario(name, st) if scenario is None else load_scenario(scenario)
    sc = fitted_not_held_out(sc, name, st)  # (as score reads the split)
    cal, held = sorted(sc.calibration.years), sorted(sc.calibration.held_out)
    obs = scoring_targets(sc, cal + held)
    frame = obs.frame() if obs is not None else None
    paths: list[Path] = []
    paths += posterior_marginals(post, priors, out / f"{name}_posterior_marginals")
    paths += posterior_pairs(post, out / f"{name}_posterior_pairs", priors=priors)
    paths += fitted_vs_observed(score_result["bands"], frame, cal, held,
                                out / f"{name}_fitted_vs_observed",
                                destinations=list(sc.destination_codes))
    paths += epsilon_trace(gens, out / f"{name}_epsilon_trace")
    return paths


__all__ = ["posterior_marginals", "posterior_pairs", "fitted_vs_observed", "epsilon_trace",
           "write_calibration_figures", "short_name"]
