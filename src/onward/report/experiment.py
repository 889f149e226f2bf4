"""Sections of the report of a stored experiment (an ensemble, a comparison, a sensitivity
analysis or a destinations experiment), and the readers they share with the dashboard."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from onward import viz
from onward.report.html import Section, figure, key_values, paragraph, preformatted, table
from onward.report.run import _guard, data_provenance
from onward.store import experiment_table

EXPERIMENT_KINDS = ("ensemble", "compare", "sensitivity", "destinations")


def experiment_rows(exp_id: str, store: Any = None) -> pd.DataFrame:
    """Rows of ``runs`` that belong to experiment ``exp_id`` (jobs and summary), with their
    ``extra`` JSON parsed into columns."""
    from onward.store import Store

    st = store if isinstance(store, Store) else Store(store)
    runs = st.list_runs()
    if runs.empty:
        return runs
    extra = runs.extra.fillna("{}").map(json.loads)
    mine = runs[extra.map(lambda e: e.get("experiment_id") == exp_id)].copy()
    ext = pd.DataFrame(list(extra[mine.index]), index=mine.index)
    return pd.concat([mine.drop(columns=["extra"]), ext.drop(
        columns=[c for c in ext.columns if c in mine.columns])], axis=1)


def _scenario_yaml(name: str, stored_hash: str | None) -> tuple[str | None, Any]:
    """The scenario's YAML when ``name`` loads to the stored hash, else (None, None)."""
    from onward.scenario import load_scenario, scenario_hash, scenario_to_yaml

    try:
        sc = load_scenario(name)
    except Exception:
        return None, None
    if stored_hash and scenario_hash(sc) != stored_hash:
        return None, None
    return scenario_to_yaml(sc), sc


def _known(x: Any) -> bool:
    """Whether a value read from a run's ``extra`` is there (not None or NaN)."""
    return x is not None and not (isinstance(x, float) and x != x)


def sensitivity_analyses(st: Any, exp_id: str, summary: pd.DataFrame
                         ) -> list[tuple[str, str, pd.DataFrame]]:
    """Each analysis of a sensitivity experiment (destination x years) as the report shows
    it: ``(sentence, caption, indices)``, the sentence that answers 'which mechanism
    matters' and the indices by mechanism with their 95% intervals, ranked (Sobol's as ±
    half-widths; Morris mu*'s as low-high, the lower end clipped at 0 as mu* cannot be
    negative: :func:`onward.experiments.sensitivity.mu_star_interval`).
    Empty when no indices are stored. ``summary``: the experiment's summary rows of
    ``runs`` (:func:`read_experiment`)."""
    from onward.arguments import label_years
    from onward.experiments.sensitivity import _answer, mu_star_text

    ind = experiment_table(st, "sensitivity_indices", exp_id)
    if ind.empty:
        return []
    # rows stored before the years column existed: their years are in their run's extra
    years_of = dict(zip(summary.run_id, summary.get("years", pd.Series(dtype=str)),
                        strict=False))
    if "years" not in ind.columns:
        ind["years"] = ""
    ind["years"] = [y if isinstance(y, str) and y else str(years_of.get(r, ""))
                    for y, r in zip(ind.years, ind.run_id, strict=True)]
    out = []
    for (dest, yrs, method, output), g in ind.groupby(
            ["destination", "years", "method", "output"], sort=False):
        wide = g.pivot_table(index="group", columns="index", values="value", sort=False)
        conf = g.pivot_table(index="group", columns="index", values="conf", sort=False)
        for c in conf.columns:
            wide[f"{c}_conf"] = conf[c]
        wide = wide.reset_index()
        _, sentence = _answer(wide, method, output, dest, label_years(yrs) or [0])
        key = "ST" if method == "sobol" else "mu_star"
        cols = [c for c in ("group", "S1", "S1_conf", "ST", "ST_conf", "mu_star",
                            "mu_star_conf", "sigma") if c in wide.columns]
        shown = wide[cols].sort_values(key, ascending=False).round(3)
        if "mu_star_conf" in shown.columns:  # SALib's mu* ± conf can reach below 0
            ranked = wide.loc[shown.index]
            shown = shown.drop(columns=["mu_star_conf"]).assign(mu_star=[
                mu_star_text(m, c) for m, c in zip(ranked.mu_star, ranked.mu_star_conf,
                                                   strict=True)])
            shown = shown.rename(columns={"mu_star": "mu_star [95% interval]"})
            caption = (f"{method} indices by mechanism (mu* [95% interval]; mu* cannot be "
                       "negative, so an interval that would reach below 0 starts at 0)")
        else:
            caption = f"{method} indices by mechanism (± = 95% interval half-width)"
        out.append((f"{method.capitalize()}, {output} at {dest}, {yrs}: {sentence}",
                    caption, shown))
    return out


def _sensitivity_body(st: Any, exp_id: str, summary: pd.DataFrame) -> str:
    """Each analysis of a sensitivity experiment: its sentence and its indices."""
    analyses = sensitivity_analyses(st, exp_id, summary)
    if not analyses:
        return paragraph("No indices are stored for this experiment yet (interrupted?).")
    return "".join(paragraph(sentence) + table(wide, caption)
                   for sentence, caption, wide in analyses)


#: what the destinations figure shows (its caption in the report and on the dashboard)
DESTINATIONS_CAPTION = ("Who goes where (first movers at departure, households), when "
                        "(departures per year, persons) and with what outcome (onward "
                        "claimants): median and 90% interval over replicates.")


def destination_summary(st: Any, exp_id: str) -> pd.DataFrame:
    """The stored summary of a destinations experiment (destination, aspect, measure,
    median, q05, q95, n); empty when none is stored."""
    summary = experiment_table(st, "destination_summary", exp_id)
    return summary.drop(columns=[c for c in ("run_id", "experiment_id")
                                 if c in summary.columns])


def destinations_chart(summary: pd.DataFrame, values: pd.DataFrame, first: Any) -> Any:
    """A destinations experiment's figure, as `onward destinations` draws it, from its
    :func:`destination_summary` and its stored ``values`` (departures per year); ``first``:
    its summary row of ``runs`` (for the number of replicates)."""
    from onward.experiments.destinations import destinations_figure
    from onward.experiments.runner import quantile_bands

    dests = list(dict.fromkeys(summary.destination))
    dep = quantile_bands(values[values.output == "departures"], ["year", "destination"])
    n = int(first.get("n")) if _known(first.get("n")) else int(summary.n.max())
    return destinations_figure(dests, summary, dep, n)


def destinations_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A destinations experiment's :func:`destination_summary` as a table of medians and
    90% intervals: a row per aspect and measure (with its unit), a column per
    destination."""
    from onward.experiments.destinations import interval_text, measure_unit

    dests = list(dict.fromkeys(summary.destination))
    wide = summary.assign(cell=[interval_text(k, m, a, b) for k, m, a, b in
                                zip(summary.measure, summary["median"], summary.q05,
                                    summary.q95, strict=True)])
    table_df = wide.pivot_table(index=["aspect", "measure"], columns="destination",
                                values="cell", aggfunc="first", sort=False)[dests]
    table_df = table_df.reset_index()
    table_df.insert(2, "unit", [measure_unit(m) for m in table_df.measure])
    table_df.columns.name = None
    return table_df


def _destinations_body(st: Any, exp_id: str, values: pd.DataFrame, first: Any) -> str:
    """A destinations experiment's figure (as `onward destinations` draws it) and its table
    of medians and 90% intervals, from the stored summary and departures."""
    summary = destination_summary(st, exp_id)
    if summary.empty:
        return paragraph("No summary is stored for this experiment yet (interrupted?).")
    body = _guard(lambda: figure(destinations_chart(summary, values, first),
                                 DESTINATIONS_CAPTION), "destinations")
    return body + table(destinations_table(summary), "Median [90% interval] per destination")


def scenario_changes_of(recorded: dict[str, str], baseline: str) -> dict[str, list[str]]:
    """What each alternative changes against the baseline, in words, from the scenarios'
    YAML as recorded with the experiment; ``{}`` where that YAML is not recorded or no
    longer loads (an old store)."""
    from onward.scenario import load_text
    from onward.scenario.diff import scenario_changes

    if baseline not in recorded or len(recorded) < 2:
        return {}
    try:
        base = load_text(recorded[baseline], f"{baseline} (as recorded)")
        return {name: scenario_changes(base, load_text(text, f"{name} (as recorded)"))
                for name, text in recorded.items() if name != baseline}
    except Exception:  # noqa: BLE001 - an old store's YAML: the tables below still stand
        return {}


def _changes_body(recorded: dict[str, str], baseline: str) -> str:
    """What each alternative changes against the baseline (from the scenarios' YAML as
    recorded with the experiment), as a list per alternative."""
    parts = []
    for name, said in scenario_changes_of(recorded, baseline).items():
        items = "".join(f"<li>{html.escape(line)}</li>" for line in said) or \
            "<li>nothing that changes a run</li>"
        parts.append(f"<p><b>{html.escape(name)}</b> changes against "
                     f"{html.escape(baseline)}:</p><ul>{items}</ul>")
    return "".join(parts)


def _period(text: str) -> tuple[int, int] | None:
    """``"2008-2024"`` (or ``"2010"``) as (first, last) year; None if it is not one."""
    from onward.scenario.schema import _years

    try:
        years = _years(text)
    except ValueError:
        return None
    return (years[0], years[-1]) if years else None


@dataclass
class StoredExperiment:
    """One experiment as the store holds it: what its report and the dashboard show.

    Attributes
    ----------
    id, kind : the experiment's id and kind (ensemble, compare, sensitivity, destinations)
    jobs : its jobs' rows of ``runs`` (``extra`` parsed into columns), by job
    summary : its summary rows of ``runs`` (one per stored summary)
    first : the summary row (the first job's row where none is stored)
    values : its ``experiment_values`` (one row per job, output, year and destination)
    baseline : the scenario run (a comparison's baseline)
    recorded : the YAML of every scenario, as recorded with the summary (older stores:
        none)
    yaml_text, scenario : the baseline's YAML and scenario (None where it is not
        recorded and no longer loads to the stored hash)
    observed : the scenario's observed first claims (None without a scenario)
    held_out : the scenario's held-out years
    """

    id: str
    kind: str
    jobs: pd.DataFrame
    summary: pd.DataFrame
    first: pd.Series
    values: pd.DataFrame
    baseline: str
    recorded: dict[str, str] = field(default_factory=dict)
    yaml_text: str | None = None
    scenario: Any = None
    observed: pd.DataFrame | None = None
    held_out: list[int] = field(default_factory=list)

    @property
    def outputs(self) -> list[str]:
        """The outputs stored, in the order they were run."""
        return list(dict.fromkeys(self.values.output)) if len(self.values) else []


def read_experiment(exp_id: str, store: Any = None) -> StoredExperiment:
    """Read experiment ``exp_id`` from the store (each read opens and closes the file).

    Raises :class:`onward.store.UnknownRunError` when the store has no experiment of that
    id."""
    from onward.store import Store, is_job_kind

    st = store if isinstance(store, Store) else Store(store)
    rows = experiment_rows(exp_id, st)
    if rows.empty:
        from onward.options import runs_command
        from onward.store import UnknownRunError

        raise UnknownRunError(f"no experiment {exp_id!r} in {st.path}; list them with "
                              f"{runs_command()}")
    jobs = rows[is_job_kind(rows.kind)]
    if "job" in jobs.columns:
        jobs = jobs.sort_values("job")
    summary = rows[~rows.index.isin(jobs.index)]
    kind = str(summary.kind.iloc[0]) if len(summary) else exp_id.split("-")[0]
    values = experiment_table(st, "experiment_values", exp_id)
    values = values.drop(columns=[c for c in ("run_id",) if c in values.columns])
    first = summary.iloc[0] if len(summary) else rows.iloc[0]
    baseline = str(first.get("baseline") or first.get("scenario"))
    # the YAML of every scenario, as recorded with the summary (older stores: none)
    recorded = first.get("scenario_yaml")
    recorded = recorded if isinstance(recorded, dict) else {}
    if baseline in recorded:
        from onward.scenario import load_text

        yaml_text = recorded[baseline]
        try:
            sc = load_text(yaml_text, f"{baseline} (as recorded)")
        except Exception:
            sc = None
    else:
        yaml_text, sc = _scenario_yaml(baseline, None if kind == "compare" else
                                       str(jobs.scenario_hash.iloc[0]) if len(jobs) else None)
    obs = viz.observed_claims(sc) if sc is not None else None
    held = sorted(sc.calibration.held_out) if sc is not None else []
    if sc is not None and _known(first.get("posterior")):
        # the years its posterior fitted are not held out (--calibration-years 2000-2016
        # fits 2015-2016, which the report shaded "held out"), as in a run with it
        from onward.calibration.abc import with_fitted_split

        held = sorted(with_fitted_split(sc, str(first.get("posterior")), st)
                      .calibration.held_out)
    return StoredExperiment(exp_id, kind, jobs, summary, first, values, baseline, recorded,
                            yaml_text, sc, obs, held)


def experiment_scenarios(e: StoredExperiment) -> dict[str, Any]:
    """Every scenario of the experiment by name (a comparison's baseline first), as
    recorded with it; where its YAML is not recorded (older stores), the scenario of that
    name if it still loads to the stored hash, else None."""
    from onward.scenario import load_text

    hashes = dict(zip(e.jobs.scenario.astype(str), e.jobs.scenario_hash.astype(str),
                      strict=True)) if len(e.jobs) else {}
    names = list(dict.fromkeys([e.baseline, *e.recorded, *hashes]))
    out: dict[str, Any] = {}
    for name in names:
        if name == e.baseline and e.scenario is not None:
            out[name] = e.scenario
        elif name in e.recorded:
            try:
                out[name] = load_text(e.recorded[name], f"{name} (as recorded)")
            except Exception:  # noqa: BLE001 - an old store's YAML
                out[name] = None
        else:
            out[name] = _scenario_yaml(name, hashes.get(name))[1]
    return out


def experiment_facts(e: StoredExperiment) -> list[tuple[str, Any]]:
    """What was run, as the report's summary lists it: kind, scenarios, replicates, seed,
    posterior, horizon and the jobs stored (``INCOMPLETE`` where some are missing)."""
    kind, first, jobs, recorded = e.kind, e.first, e.jobs, e.recorded
    posterior = first.get("posterior") or "none (scenario values)"
    if first.get("posterior") and _known(first.get("posterior_generation")):
        posterior += (f" (generation {int(first.get('posterior_generation'))}, epsilon "
                      f"{float(first.get('posterior_epsilon')):.3g})")
    left = first.get("posterior_left_out")
    if isinstance(left, dict) and left:
        posterior += "; not applied: " + "; ".join(
            f"{name}: {', '.join(keys)} (not in that scenario)" for name, keys in left.items())
    names = list(dict.fromkeys(jobs.scenario.astype(str)))
    stored = f"{len(jobs)}"
    if _known(first.get("n")):
        expected = int(first.get("n")) * max(len(recorded) or len(names), 1)
        if len(jobs) < expected:
            stored = (f"{len(jobs)} of {expected}: INCOMPLETE (interrupted); the figures "
                      "and tables use the finished jobs only. Run the same command again "
                      "to finish it")
    n_label = ("replicates per scenario" if kind != "sensitivity" else
               "trajectories (-n, Morris; each run varies the parameters)"
               if first.get("method") == "morris" else
               "base samples (-n, Sobol'; each run varies the parameters)")
    facts = [("experiment", e.id), ("kind", kind),
             ("scenarios", ", ".join(recorded) or ", ".join(names)),
             *([("baseline", e.baseline)] if kind == "compare" else []),
             (n_label, first.get("n")), ("master seed", first.get("master_seed")),
             ("posterior", posterior),
             ("horizon extended to", first.get("until") or "scenario's end"),
             ("jobs stored", stored)]
    return facts


def applications_chart(e: StoredExperiment, sim: pd.DataFrame) -> Any:
    """An ensemble's first claims per destination (its median with 50% and 90% bands) over
    the observed ones, from its ``values`` or its ``ensemble_bands`` of applications."""
    obs, sc = e.observed, e.scenario
    return viz.applications_by_destination(
        sim, obs, held_out=e.held_out,
        start=int(obs.year.min()) if obs is not None and len(obs) else None,
        last_observed=viz.last_observed_year(sc) if obs is not None and len(obs)
        else None, source=viz.observed_label(sc))


def compare_charts(e: StoredExperiment, effects: pd.DataFrame
                   ) -> list[tuple[str, Callable[[], Any] | None, str]]:
    """The figures of a comparison, one per output: ``(output, draw, caption)``, where
    ``draw()`` returns the figure (each scenario's median and 90% band per destination),
    or ``(output, None, why it is not drawn)``. ``effects``: its ``compare_effects``."""
    # the panels of the destinations compared (--destination), in the data's order
    chosen = set(effects.destination) if len(effects) else set()
    period = str(effects.period.iloc[0]) if len(effects) else ""
    values = e.values
    out: list[tuple[str, Callable[[], Any] | None, str]] = []
    for o in e.outputs:
        shown = [d for d in dict.fromkeys(values[values.output == o].destination)
                 if not chosen or d in chosen] or None
        if chosen and shown is None:  # abroad (ALL) under --destination GBR: drew ALL
            out.append((o, None, f"{o}: not drawn; it counts every destination together "
                                 f"(ALL), and the comparison was asked for "
                                 f"{', '.join(sorted(chosen))} only (onward compare "
                                 "--destination ALL draws it)."))
            continue

        def draw(o: str = o, shown: list[str] | None = shown) -> Any:
            return viz.compare_scenarios(
                values, o, destinations=shown,
                observed=e.observed if o == "applications" else None,
                last_observed=viz.last_observed_year(e.scenario), period=_period(period))

        over = (f"; the effects below are over "
                f"{' and '.join(dict.fromkeys(effects.period.astype(str)))}"
                if len(effects) else "")
        out.append((o, draw, f"{o}: each scenario's median and 90% band over paired "
                             f"replicates (common random numbers){over}."))
    return out


def effects_tables(effects: pd.DataFrame, baseline: str
                   ) -> list[tuple[str, str, pd.DataFrame]]:
    """A comparison's ``compare_effects`` as ``onward compare`` prints them: one
    ``(alternative, caption, table)`` per alternative and period, the numbers as text
    (medians, and difference and ratio as ``median [q05, q95]``)."""
    from onward.experiments.ensemble import effect_text
    from onward.experiments.runner import output_unit

    out: list[tuple[str, str, pd.DataFrame]] = []
    if effects.empty:  # (none stored: an interrupted comparison)
        return out
    # one table per alternative, titled as onward compare titles it: the columns
    # "baseline" and "alternative" hold medians, so the scenario is named above them
    # (a compare of the same runs over other years keeps its effects beside these)
    for (alt, _), g in effects.groupby(["alternative", "period"], sort=False):
        shown_effects = pd.DataFrame(
            [{"output": r.output, "unit": output_unit(r.output, period=True),
              "destination": r.destination, "period": r.period, **effect_text(r)}
             for r in g.itertuples()])
        out.append((alt, f"{alt} vs {baseline}: effects on totals over the period (flows "
                    "summed, stocks at its end, shares averaged). baseline "
                    f"({baseline}) and alternative ({alt}) are the medians over "
                    "replicates of each scenario; difference and ratio, the median "
                    "[5%, 95%] of the paired replicates' differences and ratios (so "
                    "the difference is not alternative minus baseline). As onward "
                    "compare prints them.", shown_effects))
    return out


def experiment_sections(exp_id: str, store: Any = None) -> list[Section]:
    """Sections of an experiment report: what was run, figures, tables, provenance."""
    from onward.store import Store

    st = store if isinstance(store, Store) else Store(store)
    e = read_experiment(exp_id, st)
    kind, jobs, summary, first, values = e.kind, e.jobs, e.summary, e.first, e.values
    baseline, recorded, yaml_text, sc = e.baseline, e.recorded, e.yaml_text, e.scenario
    obs, held = e.observed, e.held_out
    out: list[Section] = [Section("Summary", key_values(experiment_facts(e)))]
    outputs = e.outputs
    if kind == "sensitivity":
        out.append(Section("Which mechanism matters", _sensitivity_body(st, exp_id, summary),
                           "sensitivity"))
        outputs = []  # the runs vary the parameters: their spread is the design, not noise
    if "applications" in outputs and kind != "compare":
        app = values[values.output == "applications"]
        body = _guard(lambda: figure(viz.uk_applications(app, obs, held_out=held),
                                     "UK first claims: ensemble median with 50% and 90% "
                                     "bands; observed up to 2015 (bars)."), "UK figure") \
            if "GBR" in set(app.destination) and viz.has_article_figure(sc) else ""
        body += _guard(lambda: figure(
            applications_chart(e, app),
            "Ensemble median with 50% and 90% bands vs observed first claims "
            f"({viz.observed_label(sc)})."), "applications")
        out.append(Section("Applications by destination", body, "applications"))
    if kind == "destinations":
        out.append(Section("Destinations side by side",
                           _destinations_body(st, exp_id, values, first), "destinations"))
    if kind == "compare":
        # (none stored, nor the table itself, when the first compare stopped before them)
        effects = experiment_table(st, "compare_effects", exp_id)
        body = ""
        for o, draw, text in compare_charts(e, effects):
            body += paragraph(text) if draw is None else _guard(
                lambda draw=draw, text=text: figure(draw(), text), o)
        body += _changes_body(recorded, baseline)
        if effects.empty:
            body += paragraph("No effects are stored for this experiment yet (interrupted?).")
        for _, caption, shown_effects in effects_tables(effects, baseline):
            body += table(shown_effects, caption)
        out.append(Section("Scenarios compared", body, "compare"))
    for o in outputs:
        if kind == "compare":
            break
        from onward.experiments.runner import output_text

        b = values[values.output == o].groupby(["year", "destination"]).value.median()
        # as the terminal shows them: a share to two decimals, a count whole
        cells = b.map(lambda x, o=o: output_text(o, x)).unstack("destination")
        out.append(Section(f"Table: {o} (median over replicates)",
                           table(cells.reset_index()), f"table-{o}"))
    seeds = jobs[["job", "scenario", "seed"]].sort_values("job") if "job" in jobs else jobs
    prov = key_values([("experiment id (hash of jobs, outputs, settings)", exp_id),
                       ("scenario hashes", ", ".join(dict.fromkeys(
                           jobs.scenario_hash.astype(str))))])
    prov += table(seeds, "Job seeds (derived from the master seed and the replicate index)")
    from onward.analysis.runs import versions

    prov += paragraph("Report written with " + ", ".join(f"{k} {v}" for k, v in
                                                          versions().items()) + ".")
    if recorded:
        body = "".join(preformatted(text, f"show the scenario YAML of {name}")
                       for name, text in recorded.items())
        out.append(Section("Scenarios" if len(recorded) > 1 else "Scenario", body,
                           "scenario"))
    elif yaml_text:
        out.append(Section("Scenario", preformatted(
            yaml_text, f"show the scenario YAML of {baseline}"), "scenario"))
    else:
        out.append(Section("Scenario", paragraph(
            f"The scenario YAML is not stored with experiments and {baseline!r} no longer "
            "loads to the stored hash; see the hashes under provenance."), "scenario"))
    out.append(Section("Experiment provenance", prov, "provenance"))
    out.append(Section("Data provenance", data_provenance(sc), "data-provenance"))
    return out


def write_experiment_report(exp_id: str, store: Any = None, out: str | Path | None = None
                            ) -> Path:
    """Write the report of experiment ``exp_id`` (default ``reports/<exp-id>.html``; an
    existing folder ``out`` gets ``out/<exp-id>.html``)."""
    from onward.report.html import write_html
    from onward.store import Store, output_name

    st = store if isinstance(store, Store) else Store(store)
    from onward.report.run import _out_path

    path = _out_path(out, output_name(st, exp_id))
    return write_html(path, f"onward report: {exp_id}", experiment_sections(exp_id, st),
                      subtitle=f"store {st.path}")


__all__ = ["DESTINATIONS_CAPTION", "EXPERIMENT_KINDS", "StoredExperiment",
           "applications_chart", "compare_charts", "destination_summary",
           "destinations_chart", "destinations_table", "effects_tables", "experiment_facts",
           "experiment_rows", "experiment_scenarios", "experiment_sections",
           "experiment_table", "read_experiment", "scenario_changes_of",
           "sensitivity_analyses", "write_experiment_report"]
