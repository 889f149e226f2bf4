"""Sections of the report of one stored run (``onward run``; ``onward report run-0001``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from onward import viz
from onward.analysis.numbers import count_text
from onward.options import command
from onward.report.html import (
    Section,
    figure,
    key_values,
    paragraph,
    preformatted,
    table,
)
from onward.scenario import Scenario

NetworkParts = tuple[sp.csr_matrix, np.ndarray, np.ndarray | None]


def load_run(run_id: str, store: Any = None) -> tuple[dict[str, Any], dict[str, pd.DataFrame],
                                                      Scenario | None]:
    """``(meta, tables, scenario)`` of a stored run; the scenario comes from its stored YAML."""
    from onward.scenario import load_text
    from onward.store import Store

    st = store if isinstance(store, Store) else Store(store)
    meta = st.get_run(run_id)
    rid = meta["run_id"]
    tables = {}
    for name in meta.get("table_names") or []:
        df = st.read_table(name, rid)
        tables[name] = df.drop(columns=[c for c in ("run_id",) if c in df.columns])
    sc = load_text(meta["scenario_yaml"], f"<scenario of {rid}>") \
        if meta.get("scenario_yaml") else None
    return meta, tables, sc


def regenerate_network(sc: Scenario, seed: int, overrides: dict[str, float] | None = None
                       ) -> NetworkParts:
    """The run's social network, brokers and who moved on, from running its scenario
    again with its seed and parameters: a run's numbers depend on these alone, so this is
    the run itself (a rebuilt network alone lacked who moved, and its households came in
    another order, so the figure's sample differed from the one the run's report showed)."""
    from onward.engine.compile import compile_scenario
    from onward.engine.model import simulate_compiled

    c = compile_scenario(sc, overrides=overrides or None, seed=seed)
    res = simulate_compiled(c, generator=sc.network.generator, profiles=False)
    return res.network, res.agents.broker, res.agents.moves > 0


def totals(apps: pd.DataFrame, observed: pd.DataFrame, years: list[int]) -> pd.DataFrame:
    """Per destination: simulated and observed first claims summed over the years of
    ``years`` that have a data row (:func:`onward.analysis.runs.claim_totals`), their
    ratio (a range where a masked count makes the observed total one), and the simulated
    total over every year."""
    from onward.analysis.runs import claim_total_text, claim_totals

    sim = apps.groupby(["year", "destination"], as_index=False).persons.sum().rename(
        columns={"persons": "simulated"})
    cols = ["year", "destination", "observed", "lower", "upper"]
    if len(observed) and "upper" not in observed:  # a point value with no interval above
        observed = observed.assign(upper=observed["observed"])
    obs = observed[cols] if len(observed) else pd.DataFrame(columns=cols)
    both = sim.merge(obs.astype({"year": "int64", "destination": "object",
                                 "observed": "float64", "lower": "float64",
                                 "upper": "float64"}),
                     on=["year", "destination"], how="left")
    t = claim_totals(both, years)
    text = [claim_total_text(r) for r in t.itertuples()]  # (observed, ratio) per row

    return pd.DataFrame({
        "destination": t.destination,
        "simulated (years with data)": [("-" if r.simulated != r.simulated
                                         else f"{int(r.simulated):,}")
                                        for r in t.itertuples()],
        "observed": [observed for observed, _ in text],
        "ratio": [ratio for _, ratio in text],
        "simulated (every year)": t.simulated_all_years.fillna(0).astype(int),
    })


def yearly_wide(apps: pd.DataFrame, observed: pd.DataFrame,
                held_out: Sequence[int] = ()) -> pd.DataFrame:
    """Year x destination cells 'simulated / observed' (observed '-' where no data row);
    a year of ``held_out`` reads ``2019*``, as `onward run` marks it."""
    from onward.analysis.runs import observed_cell_text

    sim = apps.groupby(["year", "destination"]).persons.sum()
    obs = observed.set_index(["year", "destination"]) if len(observed) else None
    cells = {}
    for (y, d), v in sim.items():
        if obs is None or (y, d) not in obs.index:
            shown = "-"
        else:
            o = obs.loc[(y, d)]
            shown = observed_cell_text(o["observed"], o.get("lower"), o.get("upper"))
        cells[(y, d)] = f"{int(v)} / {shown}"
    s = pd.Series(cells)
    s.index = pd.MultiIndex.from_tuples(s.index, names=["year", "destination"])
    wide = s.unstack("destination")
    dests = list(dict.fromkeys(apps.destination))
    out = wide[[d for d in dests if d in wide.columns]].reset_index()
    if len(held_out):
        held = {int(y) for y in held_out}
        out["year"] = [f"{int(y)}*" if int(y) in held else str(int(y)) for y in out.year]
    return out


def _guard(build: Callable[[], str], what: str) -> str:
    """Build one figure; a failure becomes a note in the report instead of no report."""
    try:
        return build()
    except Exception as exc:  # a figure must never cost the user the whole report
        return paragraph(f"({what} could not be drawn: {type(exc).__name__}: {exc})")


def run_sections(tables: dict[str, pd.DataFrame], meta: dict[str, Any],
                 scenario: Scenario | None, network: NetworkParts | None = None
                 ) -> list[Section]:
    """All sections of a run report, in order. Sections whose tables the run did not
    write are left out."""
    sc = scenario
    obs = viz.observed_claims(sc) if sc is not None else pd.DataFrame(
        columns=["year", "destination", "observed", "lower", "upper", "masked"])
    cal = sorted(sc.calibration.years) if sc is not None else []
    held = sorted(sc.calibration.held_out) if sc is not None else []
    apps = tables.get("applications")
    out: list[Section] = []

    facts: list[tuple[str, Any]] = [("run", meta.get("run_id", "(not stored)")),
                                    ("scenario", meta.get("scenario")),
                                    ("seed", meta.get("seed")),
                                    ("scenario hash (SHA-256, first 16 hex digits)",
                                     meta.get("scenario_hash"))]
    if sc is not None:
        facts.append(("horizon", f"{sc.horizon.start} to {sc.horizon.end}"))
        facts.append(("destinations", " ".join(sc.destination_codes)))
        if cal:
            facts.append(("calibration years", f"{cal[0]}-{cal[-1]}"))
        if held:
            facts.append(("held-out years (never fitted)", f"{held[0]}-{held[-1]}"))
    if meta.get("posterior"):
        facts.append(("parameters", f"the mean of calibration '{meta['posterior']}' "
                      f"({len(meta.get('overrides') or {})} values, under Run provenance); "
                      "the scenario file's own values are not used for them"))
    elif meta.get("overrides"):
        facts.append(("parameters", f"{len(meta['overrides'])} values changed from the "
                      "scenario's (under Run provenance)"))
    if apps is not None:
        facts.append(("first claims, whole run (persons)", f"{int(apps.persons.sum()):,}"))
    body = (paragraph(sc.description) if sc is not None and sc.description else "") \
        + key_values(facts)
    out.append(Section("Summary", body))

    own = sc is not None and sc.calibration.observed is not None
    last = viz.last_observed_year(sc)
    source = viz.observed_label(sc)
    if apps is not None and "GBR" in set(apps.destination) and viz.has_article_figure(sc):
        uk = "GBR"
        body = _guard(lambda: figure(
            viz.uk_applications(apps, obs, destination=uk, held_out=held),
            f"Yearly first asylum applications in {uk}: observed (UNHCR first claims, "
            f"bars) up to {viz.LAST_OBSERVED_YEAR} and this run (line), continued after "
            f"{viz.LAST_OBSERVED_YEAR} by the model alone (observed data for later years "
            "are withheld on purpose)."), "the UK figure")
        out.append(Section("UK applications: the article's figure and its continuation",
                           body, "uk"))
    if apps is not None:
        masked = ("a masked count is drawn as its interval" if own else
                  "a masked UNHCR count, printed 5, is drawn as the interval 1-5; persons, "
                  "except a few USA and Australian rows that count cases")
        body = _guard(lambda: figure(
            viz.applications_by_destination(apps, obs, held_out=held,
                                            start=cal[0] if cal else None,
                                            last_observed=last if len(obs) else None,
                                            source=source),
            f"Simulated (line) vs observed first claims ({source}; points; {masked}). One "
            "run has no band: run "
            + command("onward ensemble SCENARIO", "onward.ensemble(SCENARIO)")
            + " for uncertainty bands."),
            "applications by destination")
        for label, years in (("calibration years", cal), ("held-out years", held)):
            if years:
                body += table(totals(apps, obs, years),
                              f"Totals {years[0]}-{years[-1]} ({label}), persons. Simulated "
                              "and observed are summed over the years with a data row, so "
                              "the ratio sets like against like; a masked count (1-5) "
                              "makes the observed total, and the ratio, a range.")
        out.append(Section("Applications by destination", body, "applications"))
    if "stocks" in tables:
        out.append(Section("Stocks by state", _guard(lambda: figure(
            viz.stocks_by_state(tables["stocks"]),
            "Persons in each state at the end of each month."), "stocks"), "stocks"))
    if "profile" in tables:
        prof = tables["profile"]
        wide = prof.pivot(index="attribute", columns="group", values="mean").reset_index()
        cite = (" (for North Koreans in the UK, Song & Bell 2019: movers were better "
                "connected, funded and educated)" if sc is not None and sc.name == "nk-onward"
                else "")
        body = _guard(lambda: figure(viz.movers_vs_stayers(prof),
                                     "Movers at departure vs stayers: the selection effect"
                                     f"{cite}. Stayers are household-years: onward households "
                                     "not yet moved, counted at every year end (one that "
                                     "moves later counts for each year before)."),
                      "movers vs stayers")
        out.append(Section("Who moves on: movers vs stayers",
                           body + table(wide, "Means by group"), "profile"))
    if "brokers" in tables:
        out.append(Section("Brokers", _guard(lambda: figure(
            viz.broker_share(tables["brokers"]),
            "Share of onward departures that a broker arranged, per year, counted in "
            "households ("
            + command("onward compare BASE ALT --output broker_share",
                      "onward.compare(BASE, [ALT], outputs='broker_share')")
            + " counts persons, so the two differ where households differ in size)."),
            "brokers"),
            "brokers"))
    if "flows" in tables and "stocks" in tables:
        links = viz.route_links(tables["flows"], tables["stocks"])
        body = _guard(lambda: figure(
            viz.routes_sankey(tables["flows"], tables["stocks"]),
            "Routes over the whole run, persons: origin, first country (or a claim straight "
            "from the origin), destination, outcome of the first decision."), "routes")
        # whole persons, a half away from zero (pandas' round takes it to the even one)
        links = links.assign(persons=[count_text(v, ",") for v in links.persons])
        out.append(Section("Routes", body + table(links, "Links (persons)"),
                           "routes"))
    if network is not None:
        adj, broker, moved = network
        out.append(Section("Social network", _guard(lambda: figure(
            viz.network_figure(adj, broker, moved),
            "A snowball sample of the social network, brokers highlighted" + (
                "; blue: households that moved on." if moved is not None else ".")),
            "network"), "network"))
    if apps is not None:
        out.append(Section("Table: first claims by year", table(
            yearly_wide(apps, obs, held), "simulated / observed (persons); - no data row"
            + ("; * held-out year (never used for fitting)" if held else "")),
            "table-applications"))
    if sc is not None:
        from onward.scenario import scenario_to_yaml

        text = meta.get("scenario_yaml") or scenario_to_yaml(sc)
        seed = meta.get("seed", "SEED")
        again = f"onward run FILE --seed {seed}"
        if meta.get("posterior"):
            again += f" --posterior {meta['posterior']}"
        note = ""
        if meta.get("overrides"):
            note = (f" This run also set {len(meta['overrides'])} parameters over the file's "
                    "values" + (f" (the mean of posterior '{meta['posterior']}')"
                                if meta.get("posterior") else "")
                    + ", listed under run provenance; the file alone runs without them.")
        out.append(Section("Scenario", paragraph(
            "The fully resolved scenario this run used; save it as a .yaml file to run it "
            f"again ({again}).{note}") + preformatted(
            text, f"show the scenario YAML ({text.count(chr(10))} lines)"), "scenario"))
    out.append(Section("Run provenance", run_provenance(meta), "run-provenance"))
    out.append(Section("Data provenance", data_provenance(sc), "data-provenance"))
    return out


def run_provenance(meta: dict[str, Any]) -> str:
    """Versions, seed, scenario hash, overrides and timings of a run, as HTML."""
    keys = ("run_id", "created_at", "kind", "scenario", "scenario_hash", "seed",
            "engine_seconds", "wall_seconds", "experiment_id", "posterior")
    items = [(k, _shown(k, meta[k])) for k in keys if meta.get(k) is not None]
    body = key_values(items)
    if meta.get("overrides"):
        ov = meta["overrides"]
        body += table(pd.DataFrame({"parameter": sorted(ov),
                                    "value": [f"{float(ov[k]):.4g}" for k in sorted(ov)]}),
                      "Parameter values of this run that differ from the scenario file's"
                      + (f" (the mean of posterior '{meta['posterior']}')"
                         if meta.get("posterior") else ""))
    versions = meta.get("versions") or {}
    if versions:
        body += table(pd.DataFrame(sorted(versions.items()), columns=["package", "version"]),
                      "Versions recorded with the run")
    from onward.analysis.runs import versions as current

    body += paragraph("Same scenario (hash) + same seed give identical tables on any "
                      "machine (one random stream per seed and stage). This report was "
                      "written with "
                      + ", ".join(f"{k} {v}" for k, v in current().items()) + ".")
    return body


def _shown(key: str, value: Any) -> Any:
    """A provenance value as a reader wants it: seconds to 2 decimals, times to the
    second."""
    if key.endswith("_seconds") and isinstance(value, float | int):
        return f"{value:.2f}"
    if key == "created_at":
        return str(value)[:19]
    return value


def data_provenance(scenario: Scenario | None = None) -> str:
    """The scenario's own observed counts' source (if it has them), then the packaged data
    tables with source and licence, and PROVENANCE.md, as HTML."""
    from onward import data

    own = scenario.calibration.observed if scenario is not None else None
    head = ""
    if own is not None:
        head = paragraph(f"This scenario brings its own observed counts "
                         f"(calibration.observed), which its figures, tables and scores use: "
                         f"{own.source}. The packaged tables below come with onward.")
    lt = data.list_tables()
    cols = [c for c in ("name", "title", "rows", "coverage", "licence") if c in lt.columns]
    return head + (table(lt[cols], "Packaged data tables (onward data)")
            + preformatted(data.provenance(), "show PROVENANCE.md (sources, licences, "
                           "caveats)"))


SectionBuilder = Callable[[dict[str, pd.DataFrame], dict[str, Any], Scenario | None,
                           NetworkParts | None], list[Section]]
#: Section builders by the ``kind`` a run was stored with; other kinds of run (e.g. a Flee
#: folder) register theirs with :func:`register_sections`. Unknown kinds use "run".
SECTION_BUILDERS: dict[str, SectionBuilder] = {"run": run_sections}


def register_sections(kind: str, builder: SectionBuilder) -> None:
    """Use ``builder(tables, meta, scenario, network) -> [Section, ...]`` for runs stored
    with ``kind``. A builder may reuse :func:`run_sections`, :func:`run_provenance` and
    :func:`data_provenance` and add its own sections (e.g. a validation figure)."""
    SECTION_BUILDERS[kind] = builder


def _out_path(out: str | Path | None, name: str) -> Path:
    """Where a report named ``name`` goes: ``out``, or ``out/<name>.html`` where ``out`` is
    an existing folder (it was opened as a file: IsADirectoryError), or
    ``reports/<name>.html``."""
    if out is None:
        return Path("reports") / f"{name}.html"
    path = Path(out)
    return path / f"{name}.html" if path.is_dir() else path


def write_run_report(run_id: str, store: Any = None, out: str | Path | None = None,
                     result: Any = None) -> Path:
    """Write the report of stored run ``run_id``; return its path (default
    ``reports/<run-id>.html``; an existing folder ``out`` gets ``out/<run-id>.html``).
    With ``result`` (the in-memory SimulationResult of that run) its tables and network
    are used instead of reading them back."""
    from onward.report.html import write_html
    from onward.store import Store, output_name

    st = store if isinstance(store, Store) else Store(store)
    meta, tables, sc = load_run(run_id, st)
    if result is not None:
        tables = {**result.tables(), **tables}
        network: NetworkParts | None = (result.network, result.agents.broker,
                                        result.agents.moves > 0)
    elif sc is not None:
        try:
            network = regenerate_network(sc, int(meta["seed"]), meta.get("overrides"))
        except Exception:  # e.g. a scenario from an older version: report without it
            network = None
    else:
        network = None
    rid = meta["run_id"]
    path = _out_path(out, output_name(st, rid))
    title = f"onward report: {rid} ({meta.get('scenario')}, seed {meta.get('seed')})"
    build = SECTION_BUILDERS.get(str(meta.get("kind")), run_sections)
    return write_html(path, title, build(tables, meta, sc, network),
                      subtitle=f"store {st.path}")


__all__ = ["SECTION_BUILDERS", "data_provenance", "load_run", "regenerate_network",
           "register_sections", "run_provenance", "run_sections", "totals",
           "write_run_report", "yearly_wide"]
