"""Global sensitivity analysis (SALib) of one output over the scenario's free parameters.

Each free parameter varies uniformly over its prior range. Parameters are grouped by the
mechanism they drive (:func:`mechanism_of`) and the analysis is done on the groups, which
answers the question "which mechanism explains most of the variance in UK applications?"
at an affordable cost:

* ``sobol``: Saltelli sampling with ``calc_second_order=False``, ``N * (G + 2)`` runs for
  ``G`` groups; first-order (S1) and total (ST) indices with bootstrap 95% intervals.
* ``morris``: ``N`` Morris trajectories over the groups, ``N * (G + 1)`` runs; mu* with
  its bootstrap interval, and sigma (defined by SALib only for a group of one parameter:
  the members of a larger group may move in opposite directions in one step). mu* is a
  mean of absolute values, never negative, but SALib's interval is symmetric (mu* ±
  ``mu_star_conf``) and can reach below 0: its lower end is shown clipped at 0
  (:func:`mu_star_interval`).

Every model evaluation is a :class:`~onward.experiments.runner.Job` whose overrides are a
row of the sample, run through :func:`~onward.experiments.runner.run_jobs`: parallel, the
same for any number of workers, resumable and stored. The rows of one Sobol base sample
(its A, B and mixed rows) share one seed, ``derive_seed(seed, i)`` for base sample ``i``,
and so do the points of one Morris trajectory: common random numbers, so the differences
the estimators take are the parameters' alone and a parameter that changes nothing gets
an index of 0. The model's noise still varies from one base sample to the next: it is
part of the output variance (the indices sum to less than 1 by about noise variance /
output variance) but of no parameter's index. Use a larger ``N`` (a power of 2 for Sobol)
for tighter intervals.

Examples
--------
>>> from onward.experiments.sensitivity import mechanism_of, sensitivity
>>> mechanism_of("parameters.integration.glass_ceiling")
'push'
>>> mechanism_of("destinations.GBR.travel_cost")
'capability'
>>> res = sensitivity("nk-onward", method="sobol", n=64, seed=1)  # doctest: +SKIP
>>> res.answer  # doctest: +SKIP
'policy'
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onward.arguments import Years, check_type, years_arg, years_label
from onward.experiments.ensemble import extend_horizon, scenario_record
from onward.experiments.runner import (
    OUTPUT_KIND,
    Job,
    check_outputs,
    derive_seed,
    experiment_id,
    over_years,
    run_jobs,
)
from onward.options import option
from onward.scenario import Scenario, load_scenario
from onward.store import Store

#: The mechanisms of the built-in question, in the order they are reported.
QUESTION = ("push", "pull", "information", "policy")
#: Every group, in report order: the four mechanisms, then the costs of moving, then the rest.
MECHANISMS = (*QUESTION, "capability", "other")
METHODS = ("sobol", "morris")

_PUSH_ASPIRATION = {"w_frustration", "w_discrimination", "w_unemployment", "w_deprivation"}
_PULL_ASPIRATION = {"w_welfare", "w_schooling", "w_protection", "w_socdem", "w_recognition",
                    "w_community"}
_PULL_DEST = {"welfare", "schooling", "social_protection", "social_democratic"}
_POLICY_DEST = {"recognition_rate", "checks_prior_nationality", "detection",
                "processing_months", "removal_rate", "open"}
_CAPABILITY_DEST = {"travel_cost", "journey_months"}
_CAPABILITY_GLOBAL = {"capability.min_skill", "decision.cost_sensitivity"}


def mechanism_of(path: str) -> str:
    """The mechanism group of a parameter path (``parameters.<group>.<name>``,
    ``destinations.<ISO3>.<name>``, or ``<group>.<name>``).

    push
        Life in the first country: ``integration.*``, ``resettlement.*`` and the push
        weights ``aspiration.w_frustration``, ``w_discrimination``, ``w_unemployment``,
        ``w_deprivation``.
    pull
        What destinations offer: the pull weights ``aspiration.w_welfare``,
        ``w_schooling``, ``w_protection``, ``w_socdem``, ``w_recognition``,
        ``w_community`` and the destination indices ``welfare``, ``schooling``,
        ``social_protection``, ``social_democratic``.
    information
        How news and offers travel: ``network.*``, ``brokers.*`` (the broker fee too) and
        ``capability.information_decay``.
    policy
        What destination states decide: ``recognition_rate``, ``checks_prior_nationality``,
        ``detection``, ``processing_months``, ``removal_rate``, ``open``, and event leads.
    capability
        The costs of moving, which act through the capability gate (funds must cover the
        cost): ``travel_cost``, ``journey_months``, ``capability.min_skill`` and
        ``decision.cost_sensitivity``. Travel cost is not a decision of the destination's
        asylum system, so it is kept out of ``policy``.
    other
        Everything else (the decision hazard and intercepts, satisfaction, journey
        concealment, what happens after a decision, life at the destination, births,
        background claims, competition). A new parameter falls here until it is named above.

    The lead of an event (``events.<id>.lead_months``, when a policy took effect) is policy.
    """
    parts = path.split(".")
    if parts[0] == "events":  # events.<id>.lead_months: when a policy took effect
        return "policy"
    if parts[0] == "parameters":
        parts = parts[1:]
    if parts[0] == "destinations" and len(parts) == 3:
        name = parts[2]
        if name in _PULL_DEST:
            return "pull"
        if name in _POLICY_DEST:
            return "policy"
        if name in _CAPABILITY_DEST:
            return "capability"
        return "other"
    if len(parts) != 2:
        return "other"
    group, name = parts
    key = f"{group}.{name}"
    if group in ("integration", "resettlement"):
        return "push"
    if group == "aspiration" and name in _PUSH_ASPIRATION:
        return "push"
    if group == "aspiration" and name in _PULL_ASPIRATION:
        return "pull"
    if group in ("network", "brokers") or key == "capability.information_decay":
        return "information"
    if key in _CAPABILITY_GLOBAL:
        return "capability"
    return "other"


@dataclass
class SensitivityResult:
    experiment_id: str
    method: str
    output: str
    destination: str
    years: list[int]
    parameters: pd.DataFrame  # parameter, group, low, high
    samples: np.ndarray  # the SALib design, one row per run
    y: np.ndarray  # the scalar output of each run
    indices: pd.DataFrame  # one row per group, ranked by total effect
    tidy: pd.DataFrame  # method, output, destination, group, index, value, conf
    answer: str
    sentence: str

    def __repr__(self) -> str:  # one line (the dataclass's printed every DataFrame)
        return (f"SensitivityResult({self.experiment_id!r}: {self.method}, {self.output} at "
                f"{self.destination} in {years_label(self.years)}, {len(self.y)} runs; "
                f"answer {self.answer!r}; see .sentence, .indices, .tidy)")


def _problem(sc: Scenario) -> tuple[dict[str, Any], pd.DataFrame]:
    free = sc.free_parameters()
    if not free:
        raise ValueError(f"scenario '{sc.name}' has no free parameters; mark the ones to vary "
                         "with free: true and a prior range")
    rows = [(path, mechanism_of(path), float(p.prior[0]), float(p.prior[1]))
            for path, p in free.items() if p.prior is not None]
    rows.sort(key=lambda r: (MECHANISMS.index(r[1]), r[0].removeprefix("parameters.")))
    params = pd.DataFrame(rows, columns=["parameter", "group", "low", "high"])
    problem = {"num_vars": len(params), "names": list(params.parameter),
               "bounds": [[lo, hi] for lo, hi in zip(params.low, params.high, strict=True)],
               "groups": list(params.group)}
    return problem, params


def _design(problem: dict[str, Any], method: str, n: int, seed: int,
            levels: int) -> np.ndarray:
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n should be a power of 2": the CLI says so
        if method == "sobol":
            return sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
        return morris_sample.sample(problem, n, num_levels=levels, seed=seed)


def _analyse(problem: dict[str, Any], method: str, x: np.ndarray, y: np.ndarray, seed: int,
             levels: int) -> pd.DataFrame:
    from SALib.analyze import morris as morris_analyze
    from SALib.analyze import sobol as sobol_analyze

    names = list(pd.unique(np.array(problem["groups"])))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # a constant output gives NaN indices, reported so
        if method == "sobol":
            si = sobol_analyze.analyze(problem, y, calc_second_order=False, num_resamples=100,
                                       conf_level=0.95, seed=seed)
            cols = ("S1", "S1_conf", "ST", "ST_conf")
        else:
            si = morris_analyze.analyze(problem, x, y, num_resamples=100, conf_level=0.95,
                                        num_levels=levels, seed=seed)
            names = [str(g) for g in si["names"]]
            cols = ("mu_star", "mu_star_conf", "sigma")
    df = pd.DataFrame({"group": names})
    for c in cols:
        df[c] = np.ma.filled(np.ma.asarray(si[c], dtype=np.float64), np.nan)
    return df


def mu_star_interval(mu_star: float, conf: float) -> tuple[float, float]:
    """The 95% interval of a Morris mu* as onward shows it: ``(max(0, mu* - conf),
    mu* + conf)``.

    SALib's ``mu_star_conf`` is a normal approximation: 1.96 times the standard deviation of
    mu* over bootstrap resamples of the elementary effects, so mu* ± conf is symmetric and,
    for a small or skewed mu*, reaches below 0. mu* is a mean of absolute values and cannot
    be negative (nor can any resample's), so that part of the interval holds no possible
    value: its lower end is clipped at 0. What is stored (``sensitivity_indices.conf``,
    ``mu_star_conf``) stays SALib's own half-width.

    Examples
    --------
    >>> mu_star_interval(10.0, 4.0)
    (6.0, 14.0)
    >>> mu_star_interval(3.0, 5.0)
    (0.0, 8.0)
    """
    return float(np.maximum(0.0, mu_star - conf)), float(mu_star + conf)


def mu_star_text(mu_star: float, conf: float, fmt: str = ".4g") -> str:
    """mu* with its 95% interval as low-high, the lower end clipped at 0
    (:func:`mu_star_interval`): ``"3 [0-8]"``; ``"-"`` where mu* is not a number."""
    if not np.isfinite(mu_star):
        return "-"
    low, high = mu_star_interval(mu_star, conf)
    if not np.isfinite(high):
        return f"{mu_star:{fmt}}"
    return f"{mu_star:{fmt}} [{low:{fmt}}-{high:{fmt}}]"


def _tidy(ind: pd.DataFrame, method: str, output: str, destination: str,
          years: str = "") -> pd.DataFrame:
    pairs = ([("S1", "S1_conf"), ("ST", "ST_conf")] if method == "sobol"
             else [("mu_star", "mu_star_conf"), ("sigma", None)])
    rows = []
    for r in ind.itertuples(index=False):
        for idx, conf in pairs:
            rows.append({"method": method, "output": output, "destination": destination,
                         "years": years, "group": r.group, "index": idx,
                         "value": float(getattr(r, idx)),
                         "conf": float(getattr(r, conf)) if conf else np.nan})
    return pd.DataFrame(rows)


def _answer(ind: pd.DataFrame, method: str, output: str, destination: str,
            years: list[int]) -> tuple[str, str]:
    key = "ST" if method == "sobol" else "mu_star"
    ranked = ind.sort_values(key, ascending=False, na_position="last", kind="stable")
    asked = ranked[ranked.group.isin(QUESTION)]
    pick = asked if len(asked) else ranked
    top = pick.iloc[0]
    kind = OUTPUT_KIND.get(output, "flow")  # a stock is read at the period's end
    what = (f"{output} at {destination} at the end of {years[-1]}" if kind == "stock" else
            f"{output} at {destination}, averaged over {years_label(years)}"
            if kind == "share" else f"{output} at {destination} in {years_label(years)}")
    present = [g for g in QUESTION if g in set(ind.group)]
    # "Of push, push moves ..." read as a slip when one mechanism of the question is free
    among = (f"{', '.join(present[:-1])} and {present[-1]}" if len(present) > 1 else
             f"the mechanisms with free parameters ({', '.join(map(str, ind.group))})")
    if method == "sobol":
        s = (f"Of {among}, {top.group} explains most of the variance in {what}: total-order "
             f"index ST = {top.ST:.2f} (95% CI ±{top.ST_conf:.2f}), first-order S1 = "
             f"{top.S1:.2f} (±{top.S1_conf:.2f}).")
    else:
        low, high = mu_star_interval(top.mu_star, top.mu_star_conf)
        s = (f"Of {among}, {top.group} moves {what} most: mean absolute elementary effect "
             f"mu* = {top.mu_star:.4g} (95% CI {low:.4g}-{high:.4g}). Morris ranks "
             f"influence; use {option('method', 'sobol')} for shares of variance.")
    above = ranked[(ranked[key] > top[key]) & ~ranked.group.isin(QUESTION)]
    if len(above) and len(asked):
        s += (" Parameters outside the four mechanisms rank higher still ("
              + ", ".join(f"{g} {v:.2f}" if method == "sobol" else f"{g} {v:.4g}"
                          for g, v in zip(above.group, above[key], strict=True)) + ").")
    if not np.isfinite(top[key]):
        s = (f"The output {what} did not vary across the runs, so no mechanism explains "
             f"its variance (check {option('destination')}, {option('years')} and "
             f"{option('output')}).")
        return str(top.group), s
    caveat = _caveat(ind, method, pick, key)
    if caveat:
        s += " " + caveat
    return str(top.group), s


def _caveat(ind: pd.DataFrame, method: str, pick: pd.DataFrame, key: str) -> str:
    """Why the ranking may not hold: estimates that break the indices' rules (S1 > ST,
    ST > 1, S1 < 0 beyond their intervals' reach) or a leader whose interval overlaps the
    runner-up's. Both shrink with -n."""
    bad = []
    if method == "sobol":
        for r in ind.itertuples(index=False):
            if r.S1 > r.ST + 0.05:
                bad.append(f"{r.group} S1 {r.S1:.2f} > ST {r.ST:.2f}")
            if r.ST > 1.05:
                bad.append(f"{r.group} ST {r.ST:.2f} > 1")
            if r.S1 < -0.05:
                bad.append(f"{r.group} S1 {r.S1:.2f} < 0")
        total = float(np.nansum(ind.S1))
        if total > 1.1:
            bad.append(f"first-order indices sum to {total:.2f} > 1")
    conf = f"{key}_conf"
    overlap = False
    if len(pick) > 1 and conf in pick.columns:
        a, b = pick.iloc[0], pick.iloc[1]
        overlap = a[key] - a[conf] <= b[key] + b[conf]
    if not bad and not overlap:
        return ""
    why = []
    if bad:
        why.append("the estimates are not consistent (" + "; ".join(bad[:4])
                   + ("; ..." if len(bad) > 4 else "") + ")")
    if overlap:
        why.append(f"its 95% interval overlaps that of {pick.iloc[1].group}")
    return ("Uncertain: " + " and ".join(why) + f". Fix: a larger {option('n', flag='-n')} "
            "(Sobol base samples, or Morris trajectories) narrows them.")


def _store_indices(st: Store, exp: str, tidy: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Store the indices of one analysis once.

    The simulations of an experiment depend on the output and the last year, not on the
    destination or the first year, so one experiment (and its stored runs) can serve
    several analyses; each is stored once, as a run of kind ``sensitivity`` whose
    ``extra`` names its destination and years.
    """
    try:
        have = st.query(
            "select count(*) as n from runs where kind = 'sensitivity' "
            "and json_extract_string(extra, '$.experiment_id') = ? "
            "and json_extract_string(extra, '$.destination') = ? "
            "and json_extract_string(extra, '$.years') = ?",
            [exp, meta["destination"], meta["years"]])
        if int(have.n.iloc[0]) > 0:
            return
    except Exception:  # nothing stored yet
        pass
    df = tidy.copy()
    df.insert(0, "experiment_id", exp)
    from importlib.metadata import version  # (SALib has no __version__)

    from onward.analysis.runs import versions

    # SALib's design and bootstrap intervals make the indices: record its version too
    st.write_run({"kind": "sensitivity", "experiment_id": exp,
                  "versions": {**versions(), "salib": version("SALib")}, **meta},
                 {"sensitivity_indices": df})


#: the fewest Sobol' base samples whose bootstrap intervals mean anything
SOBOL_MIN_N = 4


def sensitivity(scenario: str | Path | Scenario, method: str = "sobol", n: int = 64,
                seed: int = 1, *, output: str = "applications", destination: str | None = None,
                years: Years | None = None, until: int | None = None, levels: int = 4,
                workers: int | None = None, scheduler: str | None = None,
                store: str | Path | None = None,
                progress: Callable[[int, int], None] | None = None) -> SensitivityResult:
    """Run a grouped Sobol or Morris analysis of ``output`` over the free parameters.

    The scalar output of a run is ``output`` over ``years`` (default: the scenario's
    calibration years; a year, a pair ``(2005, 2010)`` for the span 2005..2010 inclusive,
    a string ``"2005-2010"``, or a list of exactly the years to use) at ``destination``
    (default GBR when the scenario has it, else its first destination; ``ALL`` for the
    ``abroad`` output): a flow summed, a year-end stock at the last year, a share averaged
    (:func:`onward.experiments.runner.over_years`).

    ``until`` extends the horizon to the end of that year, as in
    :func:`~onward.experiments.ensemble.ensemble`, so that ``years`` can reach past the
    scenario's end: ``until=2030, years=2030`` explains the output in 2030 (arrivals after
    the data follow the scenario's stated projection). It then needs ``years`` when the
    scenario has calibration years: they are the default, and lie inside its own horizon.

    Raises
    ------
    ValueError
        Before anything runs, for ``years`` outside the horizon (the fix names ``until``
        for years after its end), or ``until`` without ``years``.
    """
    t0 = time.perf_counter()
    if method not in METHODS:
        raise ValueError(f"{option('method', method)}: choose sobol or morris")
    check_type(n, "n", "whole")
    check_type(seed, "seed", "whole")
    check_type(levels, "levels", "whole")
    if n < 1:
        raise ValueError(f"{option('n', flag='-n')} must be at least 1")
    if method == "sobol" and n < SOBOL_MIN_N:
        raise ValueError(f"{option('n', n, flag='-n')}: Sobol' indices need at least "
                         f"{SOBOL_MIN_N} base samples (their 95% intervals are bootstraps "
                         "over them; with fewer the intervals come out 0, a false "
                         f"precision). Fix: {option('n', 64, flag='-n')} or more for an "
                         f"answer to quote, or {option('method', 'morris')} for a cheap "
                         "screen")
    if method == "morris" and levels < 2:
        raise ValueError(f"{option('levels', levels)}: a Morris grid needs at least 2 levels "
                         f"(SALib divides by levels - 1). Fix: give {option('levels', 4)} "
                         "(the default) or more")
    check_outputs([output], "output")
    sc = load_scenario(scenario)
    own_end = sc.horizon.end.year
    sc = extend_horizon(sc, until)
    if destination is None:
        destination = ("ALL" if output == "abroad" else
                       "GBR" if "GBR" in sc.destination_codes else sc.destination_codes[0])
    valid = ["ALL"] if output == "abroad" else sc.destination_codes
    if destination not in valid:
        raise ValueError(f"{option('destination', destination)}: not a destination of "
                         f"'{sc.name}' "
                         f"for {output}; choose from {', '.join(valid)}")
    first, last = sc.horizon.start.year, sc.horizon.end.year
    asked = years_arg(years)
    if until is not None and last > own_end and not asked and sc.calibration.years:
        # the default years end inside the scenario's horizon: the extension would run
        # nothing past it and only make another experiment of the same question
        span = (f" or {option('years', f'{own_end + 1}-{until}')}"
                if until > own_end + 1 else "")
        raise ValueError(f"{option('until', until)} extends the horizon past {own_end}, but "
                         "without years the analysis is of the calibration years, inside "
                         f"it. Fix: give {option('years')} as well, e.g. "
                         f"{option('years', until)}{span}")
    yrs = asked or sorted(set(sc.calibration.years)) or list(range(first, last + 1))
    outside = [y for y in yrs if not first <= y <= last]
    if outside:
        fix = (f"give years inside it, or {option('until', max(yrs))} to extend the "
               "horizon" if max(yrs) > last else f"give years from {first} on")
        raise ValueError(f"{option('years')}: {outside[0]} lies outside the horizon "
                         f"{first}-{last}. Fix: {fix}")
    problem, params = _problem(sc)
    x = _design(problem, method, n, seed, levels)
    names = problem["names"]
    # common random numbers within a Sobol base sample (its A, B and mixed rows) and within
    # a Morris trajectory: their differences are the parameters' alone, so a parameter that
    # changes nothing gets 0 (with a stream per row, seed noise gave an inert parameter
    # mu* 82 +- 70 and ST 0.026 +- 0.011)
    block = len(set(problem["groups"])) + (2 if method == "sobol" else 1)
    jobs = [Job(i, "sample", sc, {k: float(v) for k, v in zip(names, row, strict=True)},
                derive_seed(seed, i // block), until=yrs[-1], replicate=i)
            for i, row in enumerate(x)]
    exp = experiment_id("sensitivity", jobs, [output], method=method, n=n, levels=levels)
    st = Store(store)
    meta = {"method": method, "n": n, "master_seed": seed, "output": output,
            "destination": destination, "years": years_label(yrs), "until": until}
    values = run_jobs(exp, "sensitivity-job", jobs, [output], store=st, workers=workers,
                      scheduler=scheduler, meta=meta, progress=progress)
    sel = values[(values.destination == destination) & values.year.isin(yrs)]
    y = (over_years(sel, ["output", "job"]).set_index("job").value
         .reindex(range(len(jobs)), fill_value=0.0).to_numpy(dtype=np.float64))
    ind = _analyse(problem, method, x, y, seed, levels)
    members = params.groupby("group", sort=False).parameter.apply(
        lambda s: ", ".join(p.removeprefix("parameters.") for p in s))
    ind["parameters"] = ind.group.map(members)
    key = "ST" if method == "sobol" else "mu_star"
    ind = ind.sort_values(key, ascending=False, na_position="last", kind="stable")
    ind = ind.reset_index(drop=True)
    tidy = _tidy(ind, method, output, destination, years_label(yrs))
    answer, sentence = _answer(ind, method, output, destination, yrs)
    # the scenario's YAML as run (an extended horizon loads from no file) for its report
    _store_indices(st, exp, tidy, {"scenario": sc.name, "seed": seed, **meta,
                                   "answer": answer, "wall_seconds": time.perf_counter() - t0,
                                   **scenario_record([sc], {})})
    return SensitivityResult(exp, method, output, destination, yrs, params, x, y, ind, tidy,
                             answer, sentence)


def _clean(x: float) -> float | None:
    x = float(x)
    return round(x, 6) if np.isfinite(x) else None


def sensitivity_json(res: SensitivityResult) -> dict[str, Any]:
    """``{method, output, destination, years, indices: [...], answer}`` (no ids or times).

    A Morris index also gives its 95% interval as ``mu_star_low`` and ``mu_star_high``, the
    lower end clipped at 0 (:func:`mu_star_interval`); ``mu_star_conf`` is SALib's
    half-width as it computed it, which can exceed mu*.
    """
    cols = (["S1", "S1_conf", "ST", "ST_conf"] if res.method == "sobol"
            else ["mu_star", "mu_star_conf", "sigma"])

    def row(r: dict[str, Any]) -> dict[str, Any]:
        out = {"group": r["group"], **{c: _clean(r[c]) for c in cols}}
        if res.method == "morris":
            low, high = mu_star_interval(r["mu_star"], r["mu_star_conf"])
            out |= {"mu_star_low": _clean(low), "mu_star_high": _clean(high)}
        return out

    return {
        "method": res.method, "output": res.output, "destination": res.destination,
        "years": res.years, "indices": [row(r) for r in res.indices.to_dict("records")],
        "answer": res.answer,
    }
