"""Score a calibration on the years it was fitted to and on the years it never saw.

Posterior-predictive ensembles: parameter sets drawn by weight from the last generation,
each run over the whole horizon with its own seed; per (year, destination) cell the median
and the 50% and 90% predictive intervals are compared with the observed first claims.

Metrics, for calibration years and held-out years separately, overall (the scenario's
named destinations, i.e. all but the aggregate ``OTH``) and per destination:

``ard``
    sum over cells with a data row of |median - observed| / sum of observed (cells
    without a data row are skipped, not counted as zero). A masked UNHCR count (printed
    5, meaning 1-5) counts as the nearest point of [1, 5].
``mase``
    mean absolute error of the median, scaled by the mean absolute year-on-year change of
    the observed series over the calibration years (the in-sample naive forecast).
``coverage50``, ``coverage90``
    share of cells whose observed interval meets the predictive interval.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onward.arguments import check_type, posterior_arg
from onward.calibration import CalibrationError
from onward.calibration.abc import (
    Posterior,
    fitted_not_held_out,
    fitted_scenario,
    load_posterior,
    stored_settings,
)
from onward.calibration.targets import scoring_targets
from onward.engine.compile import compile_scenario
from onward.engine.model import simulate_compiled
from onward.options import command, option
from onward.scenario import Scenario, load_scenario
from onward.store import Store

AGGREGATE = "OTH"


def predictive(sc: Scenario, post: Posterior, n: int, seed: int,
               until: int | None = None,
               progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run ``n`` posterior draws; return first claims per (draw, year, destination) and the
    simulated stock of people who left the first country, per (draw, month)."""
    draws = post.draw(n, seed)
    rows = []
    abroad = []
    ss = np.random.SeedSequence([seed, 0xC0DE]).generate_state(n)
    for i, pars in enumerate(draws):
        c = compile_scenario(sc, overrides=pars, seed=int(ss[i]), until=until)
        res = simulate_compiled(c, generator=sc.network.generator, profiles=False)
        uyears, tot = res.recorder.yearly_flow("claims", c.years())
        for k, y in enumerate(uyears):
            for j, d in enumerate(c.destinations):
                rows.append((i, int(y), d, float(tot[k, j])))
        abroad.append(res.recorder.onward_abroad_p.copy())
        if progress:
            progress(i + 1, n)
    ens = pd.DataFrame(rows, columns=["draw", "year", "destination", "simulated"])
    return {"claims": ens, "abroad": np.array(abroad), "compiled": c}


def bands(ens: pd.DataFrame) -> pd.DataFrame:
    """Median and 50%/90% intervals per (year, destination)."""
    g = ens.groupby(["year", "destination"]).simulated
    return pd.DataFrame({
        "median": g.median(), "q05": g.quantile(0.05), "q25": g.quantile(0.25),
        "q75": g.quantile(0.75), "q95": g.quantile(0.95),
    }).reset_index()


def _metrics(cells: pd.DataFrame, scale: dict[str, float]) -> dict[str, Any]:
    def block(df: pd.DataFrame) -> dict[str, float | None]:
        if df.empty:
            return {"ard": None, "mase": None, "coverage50": None, "coverage90": None}
        lo, hi, med = df.lower.to_numpy(), df.upper.to_numpy(), df["median"].to_numpy()
        err = np.maximum(lo - med, 0) + np.maximum(med - hi, 0)
        obs_sum = df.observed.sum()
        sc = np.array([scale.get(d, np.nan) for d in df.destination], dtype=np.float64)
        ok = np.isfinite(sc) & (sc > 0)  # a flat or one-year series has no naive error
        mase = float(np.mean(err[ok] / sc[ok])) if ok.any() else np.nan
        cov50 = np.mean((df.q25 <= hi) & (df.q75 >= lo))
        cov90 = np.mean((df.q05 <= hi) & (df.q95 >= lo))
        return {"ard": float(err.sum() / obs_sum) if obs_sum > 0 else None,
                "mase": None if not np.isfinite(mase) else float(mase),
                "coverage50": float(cov50), "coverage90": float(cov90)}

    named = cells[cells.destination != AGGREGATE]
    out: dict[str, Any] = block(named)
    out["per_destination"] = {d: block(g) for d, g in cells.groupby("destination")}
    return out


def ard_floor(ens: pd.DataFrame, cells: pd.DataFrame) -> dict[str, Any] | None:
    """The ARD this ensemble scores against its own draws: for each draw, the ARD of the
    median of the other draws against it, over the same (year, destination) cells as the
    observed ARD (named destinations). What a model that were exactly right, with this
    much noise and parameter uncertainty, would score against the data: an ARD near it is
    as good as the model can do, and a target below it cannot be met by fitting.

    Returns ``{"mean", "q05", "q95"}`` over the draws (``overall``), and the mean per
    destination (``per_destination``); None with fewer than 3 draws or no cells.
    """
    named = cells[cells.destination != AGGREGATE][["year", "destination"]].drop_duplicates()
    if named.empty:
        return None
    wide = ens.pivot_table(index="draw", columns=["year", "destination"], values="simulated")
    keys = [k for k in zip(named.year, named.destination, strict=True) if k in wide.columns]
    m = wide[keys].to_numpy(dtype=np.float64)
    n = m.shape[0]
    if n < 3 or not keys:
        return None
    dests = np.array([d for _, d in keys])

    def loo(mask: np.ndarray) -> np.ndarray:
        out = np.empty(n)
        for k in range(n):
            med = np.median(np.delete(m[:, mask], k, axis=0), axis=0)
            tot = m[k, mask].sum()
            out[k] = np.abs(med - m[k, mask]).sum() / tot if tot > 0 else np.nan
        return out

    every = loo(np.ones(len(keys), dtype=bool))
    return {"mean": float(np.nanmean(every)), "q05": float(np.nanquantile(every, 0.05)),
            "q95": float(np.nanquantile(every, 0.95)),
            "per_destination": {str(d): float(np.nanmean(loo(dests == d)))
                                for d in sorted(set(dests))}}


def _check_fitted_to(sc: Scenario, post: Posterior, fitted: str | None) -> None:
    """Refuse to score a posterior under a scenario that lacks some of its parameters (a
    destination or event of the scenario it was fitted to): the override failed as
    "destination CRP is not in this scenario", naming neither posterior nor scenario."""
    from onward.experiments.ensemble import for_scenario

    _, left = for_scenario(dict.fromkeys(post.particles.columns, 0.0), sc)
    if not left or fitted == sc.name:
        return
    was = f"was fitted to {fitted}, not {sc.name}" if fitted else "was fitted to another scenario"
    raise CalibrationError(
        f"'{post.name}' {was}: {sc.name} has nothing to set for {', '.join(left)}. Fix: "
        f"score it under its own scenario, "
        f"{command(f'onward score {post.name}', f'onward.score({post.name!r})')}, or "
        f"calibrate {sc.name} under a name of its own")


def score(scenario: str | Path | Scenario | None = None, name: str | None = None, *,
          draws: int = 40, seed: int = 1, store: str | Path | None = None,
          progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score calibration ``name`` under ``scenario`` (None: the scenario as calibrated).

    ``score("fit")`` and ``score(name="fit")`` score calibration ``fit`` under its own
    scenario; ``score(scenario, "fit")`` under another that has its parameters.
    ``draws`` parameter sets drawn by weight (reproducible for ``seed``) each run the whole
    horizon; per year and destination their median and 50%/90% intervals are set against
    the observed first claims, for the calibration years and the held-out years apart:

    - ``ard``: sum of |median - observed| over the sum observed (0 is perfect);
    - ``mase``: mean absolute error of the median over the mean year-on-year change of
      the observed series (below 1 beats "same as last year");
    - ``coverage50``, ``coverage90``: the share of cells whose observed value falls in
      the 50% / 90% interval (about 0.5 / 0.9 when the bands are honest).

    Returns ``{"calibration": M, "held_out": M or None, "residence_unknown": [...],
    "ard_floor": {"calibration": F, "held_out": F or None}, "bands": DataFrame}`` (F:
    :func:`ard_floor`).
    """
    from onward import data

    if name is None and isinstance(scenario, Posterior):  # score(post)
        scenario = scenario.name
    name = posterior_arg(name, "name")
    if name is None:  # score("fit"): the one argument names the calibration
        if not isinstance(scenario, str):
            raise TypeError("score(name), score(name=name) or score(scenario, name): give "
                            "the calibration's name")
        scenario, name = None, scenario
    check_type(draws, "draws", "whole")
    check_type(seed, "seed", "whole")
    if draws < 1:
        raise ValueError(f"{option('draws')} must be at least 1 posterior-predictive run, "
                         f"got {draws}. "
                         "Fix: leave it out (40) or give more")
    st = Store(store)
    post = load_posterior(name, st)
    settings = stored_settings(name, st) or {}
    # None: the scenario as calibrated; another scenario's split may hold out years the
    # calibration fitted: they are not
    sc = fitted_not_held_out(fitted_scenario(name, st) if scenario is None
                             else load_scenario(scenario), name, st)
    _check_fitted_to(sc, post, settings.get("scenario"))
    cal_years = sorted(sc.calibration.years)
    held = sorted(sc.calibration.held_out)
    pred = predictive(sc, post, draws, seed, progress=progress)
    b = bands(pred["claims"])
    result: dict[str, Any] = {"bands": b,
                              "years": {"calibration": cal_years, "held_out": held}}
    obs = scoring_targets(sc, cal_years + held)
    frame = obs.frame() if obs is not None else pd.DataFrame(
        columns=["family", "destination", "year", "observed", "lower", "upper"])
    frame = frame[frame.family == "first_claims"]
    cells = frame.merge(b, on=["year", "destination"], how="inner")
    # scale for MASE: mean absolute year-on-year change over the calibration years
    scale = {}
    for d, g in frame[frame.year.isin(cal_years)].sort_values("year").groupby("destination"):
        diffs = np.abs(np.diff(g.observed.to_numpy()))
        scale[d] = float(diffs.mean()) if diffs.size else np.nan
    result["calibration"] = _metrics(cells[cells.year.isin(cal_years)], scale)
    held_cells = cells[cells.year.isin(held)]
    result["held_out"] = _metrics(held_cells, scale) if len(held_cells) else None
    result["ard_floor"] = {
        "calibration": ard_floor(pred["claims"], cells[cells.year.isin(cal_years)]),
        "held_out": ard_floor(pred["claims"], held_cells) if len(held_cells) else None}
    # people who left the first country vs MOU "residence unknown" counts
    ru = data.residence_unknown() if sc.packaged_population else pd.DataFrame()
    c = pred["compiled"]
    comp = []
    for r in ru.itertuples():
        month = 12 if pd.isna(r.month) else int(r.month)
        t = (int(r.year) - c.start_year) * 12 + (month - c.start_month)
        if 0 <= t < pred["abroad"].shape[1]:
            sim = float(np.median(pred["abroad"][:, t]))
            comp.append({"date": str(r.date), "observed": float(r.value), "simulated": sim,
                         "ratio": sim / float(r.value) if r.value else None})
    result["residence_unknown"] = comp
    return result
