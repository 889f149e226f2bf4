"""Ensembles (replicates with bands) and counterfactual comparisons on common random numbers.

Examples
--------
>>> from onward.experiments.ensemble import ensemble
>>> out = ensemble("nk-onward", n=20, seed=1)  # doctest: +SKIP
>>> out.bands.query("output == 'applications' and destination == 'GBR'")  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from onward.analysis.runs import versions
from onward.arguments import (
    Years,
    check_type,
    names_arg,
    posterior_arg,
    years_arg,
    years_label,
)
from onward.calibration import PosteriorLeftOut
from onward.caller import warn
from onward.experiments.runner import (
    Job,
    check_count_and_seed,
    check_outputs,
    derive_seed,
    experiment_id,
    output_text,
    over_years,
    quantile_bands,
    run_jobs,
)
from onward.options import option
from onward.scenario import Scenario, load_scenario, scenario_hash, scenario_to_yaml
from onward.scenario.diff import scenario_changes
from onward.scenario.schema import Horizon, Month
from onward.store import Store, experiment_table

if TYPE_CHECKING:
    from onward.calibration.abc import Posterior


@dataclass
class EnsembleResult:
    """What :func:`ensemble` returns (also stored, under ``experiment_id``).

    Attributes
    ----------
    experiment_id : the id to pass to ``onward report`` or ``onward export``
    values : one row per replicate, output, year and destination: ``experiment_id, job,
        label, replicate, seed, output, year, destination, value`` (``value`` in persons;
        ``seed`` is the replicate's own seed, so ``onward run --seed`` reruns it)
    bands : per output, year and destination, the median and the 5/25/75/95% quantiles
        over replicates (``median, q05, q25, q75, q95``) and ``n`` replicates
    """

    experiment_id: str
    values: pd.DataFrame
    bands: pd.DataFrame

    def __repr__(self) -> str:
        return (f"EnsembleResult({self.experiment_id!r}: "
                f"{count_of(self.values.replicate.nunique(), 'replicate')}, outputs "
                f"{sorted(self.values.output.unique())}; see .bands, .values)")


def count_of(n: int, noun: str) -> str:
    """``1 replicate``, ``3 replicates``."""
    return f"{n} {noun}{'s' * (n != 1)}"


def extend_horizon(sc: Scenario, until: int | None) -> Scenario:
    """The scenario with its horizon ending in December of ``until`` (the same scenario
    when ``until`` is its last year).

    Raises
    ------
    ValueError
        If ``until`` is before the horizon's last year: ``until`` only extends a horizon,
        and an earlier year used to be ignored without a word.
    """
    check_type(until, "until", "whole", optional=True)
    if until is not None and until < sc.horizon.end.year:
        raise ValueError(f"{option('until', until)} is before the end of {sc.name}'s "
                         f"horizon ({sc.horizon.end.year}); {option('until')} only extends a "
                         f"horizon. Fix: give "
                         f"a year after {sc.horizon.end.year}, or leave it out")
    if until is None or until == sc.horizon.end.year:
        return sc
    end = Month(year=until, month=12, precision="month")
    return sc.model_copy(update={"horizon": Horizon(start=sc.horizon.start, end=end)})


def _check_comparable(base: Scenario, alts: list[Scenario], years: list[int] | None,
                      destinations: list[str] | None) -> None:
    """Refuse, before anything runs, a comparison whose effects would mislead."""
    h = base.horizon
    for a in alts:
        if (a.horizon.start, a.horizon.end) != (h.start, h.end):
            raise ValueError(
                f"{a.name} runs {a.horizon.start}..{a.horizon.end} but {base.name} runs "
                f"{h.start}..{h.end}; effects would set totals over different periods "
                "against each other. Fix: give them the same horizon (or "
                f"{option('until', 'YEAR', placeholder=True)} to extend every one to that "
                "year's end)")
    if years:
        outside = sorted(set(years) - set(h.years))
        if outside:
            raise ValueError(f"{option('years')} {years_label(years)} reaches outside "
                             f"the horizon {h.start.year}-{h.end.year} (no year "
                             f"{outside[0]}). Fix: give years inside it, or "
                             f"{option('until', 'YEAR', placeholder=True)} to extend the horizon")
    if destinations:
        known = sorted({d for sc in (base, *alts) for d in sc.destination_codes})
        unknown = sorted(set(destinations) - set(known) - {"ALL"})  # ALL: abroad's
        if unknown:
            raise ValueError(f"{option('destinations', flag='--destination')} {unknown[0]} "
                             "is not a destination of these "
                             f"scenarios. Fix: use one of {', '.join(known)} (or ALL, for "
                             "the output abroad)")


def _posterior_draws(posterior: str | None, n: int, seed: int, store: Store
                     ) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """``n`` parameter draws of the named calibration (empty without one), and what to
    record of it: the generation drawn from (the last stored: a calibration still running
    has fewer) and its epsilon."""
    if not posterior:
        return [{} for _ in range(n)], {}
    from onward.calibration.abc import load_posterior

    post = load_posterior(posterior, store)
    return post.draw(n, seed), {"posterior_generation": post.generation,
                                "posterior_epsilon": post.epsilon}


def for_scenario(draw: dict[str, float], sc: Scenario) -> tuple[dict[str, float], list[str]]:
    """The parameters of a posterior draw that ``sc`` has, and the others: the lead of an
    event it removes, or a parameter of a destination it lacks, has nothing to set there
    (a variant that drops a calibrated event ran its baseline, then failed)."""
    ids = {ev.id for ev in sc.events if ev.id}
    keep: dict[str, float] = {}
    left: list[str] = []
    for key, value in draw.items():
        parts = key.split(".")
        if (parts[0] == "events" and parts[1] not in ids) or (
                parts[0] == "destinations" and parts[1] not in sc.destination_codes):
            left.append(key)
        else:
            keep[key] = value
    return keep, left


def warn_left_out(posterior: str, scenario: str, left: list[str],
                  store: Store | str | Path | None = None) -> None:
    """Warn (:class:`~onward.calibration.PosteriorLeftOut`) that the runs of ``scenario``
    leave out the parameters ``left`` of ``posterior``; with the ``store`` that holds the
    calibration, the warning names the scenario it was fitted to."""
    if not left:
        return
    fitted = None
    if store is not None:
        from onward.calibration.abc import fitted_scenario_name

        fitted = fitted_scenario_name(posterior, store)
    why = (f"posterior '{posterior}' was fitted to scenario '{fitted}'"
           if fitted and fitted != scenario
           else "was the posterior fitted to another scenario?")
    warn(PosteriorLeftOut(
        f"posterior '{posterior}' sets {count_of(len(left), 'parameter')} "
        f"that scenario '{scenario}' has not; {'they are' if len(left) != 1 else 'it is'}"
        f" left out of its runs: {', '.join(left)} (the lead of an event it removes, or "
        f"a destination it lacks; {why})"))


def _scenario_jobs(scenarios: list[Scenario], draws: list[dict[str, float]], seed: int,
                   label: str | None = None, posterior: str | None = None,
                   store: Store | None = None) -> tuple[list[Job], dict[str, list[str]]]:
    """Replicate ``r`` of each scenario in turn, with draw ``r`` and seed ``r``; and the
    posterior's parameters each scenario has not (:func:`for_scenario`)."""
    jobs: list[Job] = []
    left_out: dict[str, list[str]] = {}
    n = len(draws)
    for k, sc in enumerate(scenarios):
        for r in range(n):
            pars, left = for_scenario(draws[r], sc)
            if left:
                left_out[sc.name] = left
            jobs.append(Job(k * n + r, label or sc.name, sc, pars, derive_seed(seed, r),
                            replicate=r))
    for name, left in left_out.items():
        warn_left_out(posterior or "(given)", name, left, store if posterior else None)
    return jobs, left_out


def scenario_record(scenarios: list[Scenario], left_out: dict[str, list[str]]
                     ) -> dict[str, Any]:
    """What a summary records of its scenarios: each one's YAML (so that its report shows
    every scenario run, whatever the files hold later) and hash, and the posterior's
    parameters a scenario has not."""
    out: dict[str, Any] = {"scenario_hash": scenario_hash(scenarios[0]),
                           "scenario_hashes": {sc.name: scenario_hash(sc) for sc in scenarios},
                           "scenario_yaml": {sc.name: scenario_to_yaml(sc)
                                             for sc in scenarios}}
    if left_out:
        out["posterior_left_out"] = left_out
    return out


def _store_summary(st: Store, kind: str, exp_id: str, table: str, df: pd.DataFrame,
                   meta: dict[str, Any], keep: tuple[str, ...] = ()) -> None:
    """Store the summary ``df`` of experiment ``exp_id`` as ``table``, once: a summary of
    other settings of the same runs replaces the stored one, written before the old one is
    deleted. With ``keep`` (columns such as a compare's period), stored rows whose values
    there the new summary lacks are kept beside it (a compare over 2000-2009 deleted the
    effects over 2010-2020 that an earlier compare of the same runs had stored); the new
    rows come first."""
    have = experiment_table(st, table, exp_id)  # (a busy store raises, not "none yet")
    old_runs = sorted(set(have.run_id)) if len(have) else []
    if old_runs:
        stored = have.drop(columns=["run_id", "experiment_id"]).reset_index(drop=True)
        if keep:
            new_keys = set(map(tuple, df[list(keep)].astype(str).to_numpy()))
            other = [k not in new_keys for k in map(tuple, stored[list(keep)].astype(str)
                                                     .to_numpy())]
            df = pd.concat([df, stored[other]], ignore_index=True)
        try:
            pd.testing.assert_frame_equal(stored, df.reset_index(drop=True), check_dtype=False)
            return
        except AssertionError:
            pass
    df = df.copy()
    df.insert(0, "experiment_id", exp_id)
    st.write_run({"kind": kind, "experiment_id": exp_id, "versions": versions(), **meta},
                 {table: df})
    for run_id in old_runs:
        st.delete_run(run_id)


def ensemble(scenario: str | Path | Scenario, n: int = 20, seed: int = 1, *,
             posterior: str | Posterior | None = None, until: int | None = None,
             outputs: str | list[str] | None = None, workers: int | None = None,
             scheduler: str | None = None, store: str | Path | None = None,
             progress: Callable[[int, int], None] | None = None) -> EnsembleResult:
    """Run ``n`` replicates (seeds derived from ``seed``) and summarise each output by year.

    With ``posterior`` (a calibration's name, or the Posterior that
    :func:`onward.load_posterior` returns), replicate ``r`` uses the ``r``-th parameter
    draw from that calibration, so the bands include parameter uncertainty. ``until``
    extends the horizon; arrivals after the data follow the scenario's stated projection.
    The replicates run on ``workers`` local processes (default: all cores) or on the Dask
    cluster ``scheduler`` (an address such as ``"tcp://127.0.0.1:8786"``, a
    ``distributed.Client`` or a cluster object); the numbers are the same either way.
    ``outputs`` is one output's name or a list of them (default ``"applications"``).
    """
    t0 = time.perf_counter()
    check_count_and_seed(n, seed)
    posterior = posterior_arg(posterior)
    outputs = check_outputs(names_arg(outputs, "outputs") or ["applications"])
    st = Store(store)
    sc = extend_horizon(load_scenario(scenario), until)
    draws, post = _posterior_draws(posterior, n, seed, st)
    jobs, left_out = _scenario_jobs([sc], draws, seed, "replicate", posterior, st)
    exp = experiment_id("ensemble", jobs, outputs, posterior=posterior)
    meta = {"posterior": posterior, **post, "n": n, "master_seed": seed, "until": until}
    values = run_jobs(exp, "ensemble-job", jobs, outputs, store=st, workers=workers,
                      scheduler=scheduler, meta=meta, progress=progress)
    bands = quantile_bands(values, ["output", "year", "destination"])
    _store_summary(st, "ensemble", exp, "ensemble_bands", bands,
                   {"scenario": sc.name, "seed": seed, **meta,
                    "wall_seconds": time.perf_counter() - t0,
                    **scenario_record([sc], left_out)})
    return EnsembleResult(exp, values, bands)


def ensemble_json(res: EnsembleResult, outputs: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``{output: [{year, destination, median, q05, q25, q75, q95}, ...]}`` (no ids/times)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in outputs:
        b = res.bands[res.bands.output == name].sort_values(["year", "destination"])
        out[name] = [
            {"year": int(r.year), "destination": r.destination,
             **{k: _clean(getattr(r, k)) for k in ("median", "q05", "q25", "q75", "q95")}}
            for r in b.itertuples()
        ]
    return out


def _clean(x: float) -> float | None:
    x = float(x)
    if not np.isfinite(x):
        return None
    return round(x, 6)


@dataclass
class CompareResult:
    """What :func:`compare` returns (also stored, under ``experiment_id``).

    Attributes
    ----------
    experiment_id : the id to pass to ``onward report`` or ``onward export``
    values : one row per scenario (``label``), replicate, output, year and destination,
        as :attr:`EnsembleResult.values`
    effects : per alternative, output and destination, over ``period`` (the years
        compared): ``baseline_median`` and ``alternative_median`` (persons), the
        per-replicate difference alternative - baseline (``diff_median, diff_q05,
        diff_q95``) and ratio (``ratio_median, ratio_q05, ratio_q95``; NaN where the
        baseline is 0), over ``n`` replicates on common random numbers
    yearly : per alternative, output, year and destination, the per-replicate difference
        alternative - baseline as bands (``median, q05, q25, q75, q95, n``)
    baseline : the baseline scenario's name
    changes : per alternative, what it changes against the baseline, in words
        (:func:`onward.scenario.diff.scenario_changes`)
    """

    experiment_id: str
    values: pd.DataFrame
    effects: pd.DataFrame
    yearly: pd.DataFrame
    baseline: str = ""
    changes: dict[str, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        alts = sorted(self.effects.alternative.unique()) if len(self.effects) else []
        return (f"CompareResult({self.experiment_id!r}: alternatives {alts}, "
                f"{count_of(self.values.replicate.nunique(), 'replicate')}; see .effects, .yearly, "
                ".values)")


def effect_text(row: Any) -> dict[str, str]:
    """One row of ``effects`` as the terminal and the report both show it: baseline and
    alternative medians, and difference and ratio as ``median [q05, q95]`` (shares to two
    decimals, counts whole: :func:`onward.experiments.runner.output_text`)."""
    def num(x: float, sign: str = "") -> str:
        return output_text(row.output, x, sign)

    ratio = (f"{row.ratio_median:.2f} [{row.ratio_q05:.2f}, {row.ratio_q95:.2f}]"
             if np.isfinite(row.ratio_median) else "n/a (baseline 0)")
    return {"baseline": num(row.baseline_median),
            "alternative": num(row.alternative_median),
            "difference": f"{num(row.diff_median, '+')} [{num(row.diff_q05, '+')}, "
                          f"{num(row.diff_q95, '+')}]",
            "ratio": ratio}


def bands_text(bands: pd.DataFrame) -> pd.DataFrame:
    """One output's yearly ``bands`` as ``onward ensemble`` prints them: a row per year, a
    column per destination, each cell ``median [q05-q95]`` (shares to two decimals,
    counts whole, a half away from zero: :func:`onward.experiments.runner.output_text`)."""
    name = str(bands.output.iloc[0]) if "output" in bands.columns and len(bands) else ""
    dests = list(dict.fromkeys(bands.destination))
    rows = []
    for year, g in bands.groupby("year"):
        g = g.set_index("destination")
        rows.append([str(year), *[f"{output_text(name, g.loc[d, 'median'])} "
                                  f"[{output_text(name, g.loc[d, 'q05'])}-"
                                  f"{output_text(name, g.loc[d, 'q95'])}]" if d in g.index
                                  else "-" for d in dests]])
    return pd.DataFrame(rows, columns=["year", *dests])


def compare(baseline: str | Path | Scenario, alternatives: list[str | Path | Scenario],
            n: int = 20, seed: int = 1, *, years: Years | None = None,
            posterior: str | Posterior | None = None, until: int | None = None,
            outputs: str | list[str] | None = None, workers: int | None = None,
            scheduler: str | None = None, store: str | Path | None = None,
            progress: Callable[[int, int], None] | None = None,
            destinations: str | list[str] | None = None) -> CompareResult:
    """Run the baseline and each alternative on common random numbers and report effects.

    Replicate ``r`` of every scenario uses the same seed (and, with ``posterior``, the same
    parameter draw), so differences reflect the policy, not the noise. Effects are the
    per-replicate difference (alternative - baseline) and ratio of each output over
    ``years`` (default: the whole horizon; a year, a pair ``(2010, 2015)`` for the span
    2010..2015 inclusive, a string ``"2010-2015"``, or a list of exactly the years to sum;
    ``effects.period`` names them), summarised by median and 90% interval, for
    ``destinations`` (one code or a list; default: all) and ``outputs`` (one name or a
    list; default ``"applications"``). The scenarios must share a horizon (``until`` extends
    them all); a destination only some of them have counts 0 in the others.

    Raises
    ------
    ValueError
        Before anything runs, for scenarios with different horizons or the same name,
        ``years`` outside the horizon, or a destination none of them has.
    """
    t0 = time.perf_counter()
    check_count_and_seed(n, seed)
    posterior = posterior_arg(posterior)
    if isinstance(alternatives, str | Path | Scenario):  # one alternative, not a list
        alternatives = [alternatives]
    outputs = check_outputs(names_arg(outputs, "outputs") or ["applications"])
    destinations = names_arg(destinations, "destinations")
    st = Store(store)
    base = extend_horizon(load_scenario(baseline), until)
    alts = [extend_horizon(load_scenario(a), until) for a in alternatives]
    if not alts:
        raise ValueError("compare needs at least one alternative scenario")
    names = [base.name] + [a.name for a in alts]
    if len(set(names)) != len(names):
        given = [baseline, *alternatives]
        clash = [f"{g if isinstance(g, str | Path) else 'a Scenario'} runs as '{n}'"
                 for g, n in zip(given, names, strict=True) if names.count(n) > 1]
        raise ValueError(f"scenarios need distinct names to be compared ({'; '.join(clash)})"
                         ". Fix: give each alternative file its own name: (a file that "
                         "extends another without one runs under that one's name)")
    years = years_arg(years)
    _check_comparable(base, alts, years, destinations)
    draws, post = _posterior_draws(posterior, n, seed, st)
    jobs, left_out = _scenario_jobs([base, *alts], draws, seed, posterior=posterior,
                                    store=st)
    exp = experiment_id("compare", jobs, outputs, posterior=posterior)
    meta = {"posterior": posterior, **post, "n": n, "master_seed": seed, "until": until,
            "baseline": base.name}
    values = run_jobs(exp, "compare-job", jobs, outputs, store=st, workers=workers,
                      scheduler=scheduler, meta=meta, progress=progress)
    kept = values[values.destination.isin(destinations)] if destinations else values
    yrs = years or sorted(values.year.unique())
    period = years_label(yrs)
    sel = kept[kept.year.isin(yrs)]
    tot = over_years(sel, ["label", "replicate", "output", "destination"])
    b = tot[tot.label == base.name].set_index(["replicate", "output", "destination"]).value
    rows = []
    yearly_rows = []
    for alt in alts:
        a = tot[tot.label == alt.name].set_index(["replicate", "output", "destination"]).value
        # a destination one of the two lacks counts 0 there
        joined = pd.DataFrame({"base": b, "alt": a}).fillna(0.0).reset_index()
        joined["diff"] = joined.alt - joined.base
        joined["ratio"] = np.where(joined.base > 0, joined.alt / joined.base.where(
            joined.base > 0, 1), np.nan)
        for (out, dest), g in joined.groupby(["output", "destination"]):
            rows.append({
                "alternative": alt.name, "output": out, "destination": dest, "period": period,
                "baseline_median": g.base.median(), "alternative_median": g.alt.median(),
                "diff_median": g["diff"].median(), "diff_q05": g["diff"].quantile(0.05),
                "diff_q95": g["diff"].quantile(0.95),
                "ratio_median": g.ratio.median(), "ratio_q05": g.ratio.quantile(0.05),
                "ratio_q95": g.ratio.quantile(0.95), "n": len(g),
            })
        yb = kept[kept.label == base.name].set_index(
            ["replicate", "output", "year", "destination"]).value
        ya = kept[kept.label == alt.name].set_index(
            ["replicate", "output", "year", "destination"]).value
        yd = ya.sub(yb, fill_value=0.0).rename("value").reset_index()
        yq = quantile_bands(yd, ["output", "year", "destination"])
        yq.insert(0, "alternative", alt.name)
        yearly_rows.append(yq)
    effects = pd.DataFrame(rows)
    yearly = pd.concat(yearly_rows, ignore_index=True)
    _store_summary(st, "compare", exp, "compare_effects", effects,
                   {"scenario": base.name, "seed": seed, **meta,
                    "wall_seconds": time.perf_counter() - t0,
                    **scenario_record([base, *alts], left_out)}, keep=("period",))
    return CompareResult(exp, values, effects, yearly, base.name,
                         {a.name: scenario_changes(base, a) for a in alts})
