"""The ``onward`` command line.

Every command that takes a SCENARIO accepts a built-in name (``onward scenarios``) or a
path to a YAML file. Errors print one clear message and exit with status 2; no traceback.
Machine-readable output (``--json``) goes to stdout and nothing else does; progress bars
and messages go to stderr.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, NoReturn

import numpy as np
import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from onward.analysis.numbers import count_text
from onward.options import command_line

app = typer.Typer(
    name="onward",
    help="Simulate, calibrate and explain onward migration.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _command_line(ctx: typer.Context) -> None:
    # messages shared with the Python API name options as flags while a command runs
    ctx.with_resource(command_line())


scenario_app = typer.Typer(help="Show or copy scenarios.", no_args_is_help=True)
app.add_typer(scenario_app, name="scenario")

# emoji=False: ":100:" in "conflicts.csv:100: ..." is a line number, not an emoji code
out = Console(width=None if sys.stdout.isatty() else 140, emoji=False)
# messages to a file or a pipe stay one line each (file:line jumps and grep need them
# whole); a terminal wraps them to its width
err = Console(stderr=True, emoji=False, soft_wrap=not sys.stderr.isatty())

StoreOpt = Annotated[
    Path | None,
    typer.Option("--store", help="DuckDB store file (default ./onward.duckdb or $ONWARD_STORE)"),
]


def _flag(*decls: str, **options):
    """A boolean option: Typer 0.29 shows a flag's type as ``<bool>`` in help, which reads
    as if it took a value (``--json true``); a flag takes none, so it shows no type."""
    return typer.Option(*decls, metavar="", **options)


QuietOpt = Annotated[bool, _flag("--quiet", "-q", help="no progress bar")]


class UserError(Exception):
    """An error whose message is for the user; printed without a traceback."""


def _fail(message: str) -> None:
    raise UserError(message)


def _load(scenario: str):
    from onward.scenario import load_scenario

    notes: list[str] = []
    sc = load_scenario(scenario, notes)
    _note_inherited_name(scenario, sc.name)
    for note in notes:  # loads and runs, but calibrate or score will not use it as written
        err.print(f"note: {note}", highlight=False, markup=False)
    return sc


def _load_or_flee(arg: str):
    """:func:`_load` for the commands that also take a Flee 3.1 folder (run, validate):
    a path that does not exist is named with that third choice too."""
    from onward.scenario import ScenarioError

    try:
        return _load(arg)
    except ScenarioError as exc:
        if Path(arg).exists() or "no such scenario file" not in str(exc):
            raise
        raise ScenarioError([f"{exc.messages[0]}; or give a Flee 3.1 folder (a directory "
                             "holding input_csv/ and source_data/)", *exc.messages[1:]]
                            ) from None


def _note_inherited_name(source: str, name: str) -> None:
    """A file that extends another without a name: of its own runs under the base's name
    (its runs are stored as the base's, and compare refuses two scenarios of one name):
    say so once, on stderr."""
    path = Path(source)
    if path.suffix.lower() not in (".yaml", ".yml") or not path.is_file():
        return
    try:
        import yaml

        top = yaml.safe_load(path.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - it loaded above; a second read is only for a note
        return
    if isinstance(top, dict) and "extends" in top and "name" not in top:
        err.print(f"note: {path.name} has no name: of its own, so it runs as '{name}' (the "
                  f"scenario it extends) and is stored under that name. Fix: add "
                  f"name: {path.stem}", highlight=False, markup=False)


def progress_bar(description: str, quiet: bool = False) -> Progress:
    """A Rich progress bar on stderr (hidden when stderr is not a terminal or when quiet)."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), console=err, transient=True,
        disable=quiet or not err.is_terminal,
    )


def _num(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, float) and math.isnan(x):
        return None
    try:
        if float(x) == int(x):
            return int(x)
    except (TypeError, ValueError, OverflowError):
        return None
    return float(x)


# --- run ---------------------------------------------------------------------------------------


@app.command()
def run(
    scenario: Annotated[str | None, typer.Argument(
        help="built-in name, YAML path or Flee 3.1 folder (default: nk-onward; with "
             "--posterior, the scenario it was fitted to)", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the scenario's)")]
    = None,
    store: StoreOpt = None,
    as_json: Annotated[bool, _flag("--json", help="print the summary as JSON")] = False,
    quiet: Annotated[bool, _flag("--quiet", "-q", help="no progress bar")] = False,
    posterior: Annotated[str | None, typer.Option(
        help="use the posterior mean of this stored calibration (without a scenario: run "
             "the one it was fitted to)")] = None,
    no_report: Annotated[bool, _flag(
        "--no-report", help="do not write the HTML report ./reports/RUN-ID.html")] = False,
    days: Annotated[int | None, typer.Option(
        "--days", help="Flee folders: stop after N days (default: sim_period.csv)")] = None,
) -> None:
    """Run a scenario (the flagship nk-onward by default), store its results and write an HTML report to ./reports/RUN-ID.html. A Flee 3.1 folder (a directory with input_csv/ and source_data/) runs as Flee 3.1 does."""  # noqa: E501 - one paragraph: --help rewraps it
    from onward.analysis.runs import applications_summary, run_and_store, selection_summary
    from onward.flee import is_flee_folder
    from onward.scenario import Scenario

    if scenario is None and posterior:
        # the scenario it was fitted to, as `onward score NAME` scores it (nk-onward with a
        # toy fit's parameters left three out and ran the others on the wrong case)
        from onward.calibration.abc import fitted_scenario

        scenario = fitted_scenario(posterior, store)
    elif scenario is None:
        scenario = "nk-onward"
    if isinstance(scenario, str) and is_flee_folder(scenario):
        if posterior:
            _fail("--posterior applies to onward scenarios, not Flee folders. Fix: drop it")
        _run_flee(scenario, days, 1 if seed is None else seed, store, as_json, no_report)
        return
    if days is not None:
        named = scenario if isinstance(scenario, str) else scenario.name
        _fail(f"--days applies to Flee folders only; {named!r} is not one. Fix: drop "
              "--days or give a folder with input_csv/ and source_data/")
    sc = scenario if isinstance(scenario, Scenario) else _load_or_flee(scenario)
    overrides = None
    if posterior:
        from onward.calibration.abc import load_posterior, with_fitted_split
        from onward.experiments.ensemble import for_scenario, warn_left_out

        overrides, left = for_scenario(load_posterior(posterior, store).mean(), sc)
        warn_left_out(posterior, sc.name, left, store)
        sc = with_fitted_split(sc, posterior, store)  # its years are the fitted ones
    with progress_bar(f"simulating {sc.name}", quiet) as bar:
        # the first run on a machine compiles the engine's stages before month 1 ends
        task = bar.add_task(f"starting {sc.name} (a first run on this machine compiles, ~30-60 s)",
                            total=sc.horizon.months)

        def tick(done: int, total: int) -> None:
            _stop_if_interrupted()
            bar.update(task, completed=done, total=total, description=f"simulating {sc.name}")

        run_id, res = run_and_store(sc, seed=seed, store=store, progress=tick,
                                    overrides=overrides, posterior=posterior)
    apps = applications_summary(sc, res)
    sel = selection_summary(res)
    seed_used = res.compiled.seed
    report_path = None if no_report or run_id is None else _run_report(run_id, store, res)
    if as_json:
        held = set(sc.calibration.held_out)  # (with --posterior, the fitted split)
        payload = {
            "run_id": run_id,
            "report": None if report_path is None else str(report_path),
            "scenario": sc.name,
            "seed": seed_used,
            "engine_seconds": round(res.engine_seconds, 4),
            # so a script can split the rows as the text table's * does
            "calibration_years": sorted(sc.calibration.years),
            "held_out_years": sorted(held),
            "applications": [
                {"year": int(r.year), "destination": r.destination,
                 "simulated": int(r.simulated), "observed": _num(r.observed),
                 # a masked count is the interval [lower, upper] (UNHCR's printed 5: 1-5)
                 "lower": _num(r.lower), "upper": _num(r.upper),
                 "held_out": int(r.year) in held}
                for r in apps.itertuples()
            ],
            "selection": {r.attribute: {"movers": _num(r.movers), "stayers": _num(r.stayers),
                                        "std_difference": _num(r.std_difference)}
                          for r in sel.itertuples()},
        }
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    _print_run_summary(sc, run_id, res, apps, sel, store)
    if posterior and overrides:
        out.print(f"parameters from posterior '{posterior}' (its mean): "
                  + ", ".join(f"{k} = {v:.4g}" for k, v in sorted(overrides.items())),
                  highlight=False)
    if report_path is not None:
        out.print(f"report: {report_path}")


def _run_report(run_id: str, store: Path | None, res: Any) -> Path:
    """Write ./reports/RUN-ID.html for a run just stored (its in-memory result reused)."""
    from onward.report import write_run_report
    from onward.store import output_name

    return write_run_report(run_id, store, Path("reports") / f"{output_name(store, run_id)}.html",
                            result=res)


# --- reports ---------------------------------------------------------------------------------


@app.command()
def report(
    target: Annotated[str, typer.Argument(
        metavar="RUN_OR_EXPERIMENT",
        help="run id (run-0001, latest) or experiment id (ensemble-..., compare-...)")],
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="HTML file to write (default ./reports/ID.html, or "
        "./reports/STORE-ID.html for a store not named onward.duckdb)")] = None,
    store: StoreOpt = None,
) -> None:
    """Write one self-contained HTML report (figures, tables, scenario, provenance)."""
    from onward.report import report as write_report

    path = write_report(target, store, out_path)
    out.print(f"report: {path}")


def _read_flee_warned(folder: str):
    """Read a Flee folder; when it is refused, print the warnings found so far before the
    errors (a warning, such as a misspelt key, may explain an error)."""
    from onward.flee import FleeError, read_flee_folder

    try:
        return read_flee_folder(folder)
    except FleeError as exc:
        for w in exc.warnings:
            _warn(w)
        raise


def _run_flee(folder: str, days: int | None, seed: int, store, as_json: bool,
              no_report: bool = False) -> None:
    """``onward run DIR`` for a Flee 3.1 folder (logic in onward.flee.summary)."""
    if days is not None and days < 1:
        _fail(f"--days {days}: give a number of days >= 1 (or leave it out for "
              "sim_period.csv's Length)")
    if seed < 0:
        _fail(f"--seed {seed}: give a whole number >= 0")
    from onward.flee.summary import store_flee_run, timed_run

    for w in _read_flee_warned(folder).warnings:
        _warn(w)
    payload, frun, wall = timed_run(folder, days, seed)
    run_id = store_flee_run(frun, payload, store, wall)
    path = None
    if not no_report:
        from onward.report import write_run_report
        from onward.store import output_name

        path = write_run_report(run_id, store,
                                Path("reports") / f"{output_name(store, run_id)}.html")
        if not as_json:
            out.print(f"report: {path}", highlight=False)
    if as_json:
        # as `onward run SCENARIO --json`: the run and its report first, then the case's
        sys.stdout.write(json.dumps({"run_id": run_id,
                                     "report": None if path is None else str(path),
                                     "seed": seed, **payload}) + "\n")
        return
    hasten = frun.case.settings.hasten
    per = f" of {hasten} persons each (hasten)" if hasten > 1 else ""
    t = Table(title=escape(f"{payload['case']}: {payload['days']} days, {payload['agents']} "
                           f"agents{per}, seed {seed} ({run_id})"), box=box.SIMPLE)
    for col in ("camp", "sim (last day)", "obs (last day)", "mean |sim-obs|",
                "mean |sim-obs| rescaled"):
        t.add_column(col, justify="left" if col == "camp" else "right")
    for camp, r in payload["per_camp"].items():
        t.add_row(camp, str(r["sim_final"]), str(r["obs_final"]),
                  f"{r['mean_abs_diff']:.1f}", f"{r['mean_abs_diff_rescaled']:.1f}")
    out.print(t)
    from onward.flee.summary import over_time

    ot = over_time(frun.table)
    t2 = Table(title="simulated/observed over time", box=box.SIMPLE)
    for col in ot.columns:
        t2.add_column(str(col), justify="right")
    for row in ot.itertuples(index=False):
        t2.add_row(*[str(v) for v in row])
    out.print(t2)
    mase = "n/a" if payload["mase"] is None else f"{payload['mase']:.3f}"
    out.print(f"ard {payload['ard']:.3f}   ard rescaled {payload['ard_rescaled']:.3f}   "
              f"mase {mase}   total error {payload['total_error_mean']:.3f}   "
              f"engine {payload['engine_seconds']:.2f} s")


def _print_run_summary(sc, run_id, res, apps, sel, store) -> None:
    from onward.analysis.runs import claim_total_text, claim_totals, observed_cell_text
    from onward.store import Store

    dests = sc.destination_codes
    own = sc.calibration.observed
    if own is not None and own.first_claims:
        source = f"observed: {own.source}"
    elif sc.packaged_population:
        source = ("observed: UNHCR first claims (N+V), persons except a few USA and "
                  "Australian rows that count cases; 5 = a masked count of 1-5")
    else:
        source = "no observed data (calibration.observed gives a scenario's own)"
    t = Table(title=f"First asylum claims, simulated/observed (persons) — {sc.name}",
              caption=f"{source}; - no data row; * held-out year "
                      "(never used for fitting). All years: `onward export`.",
              box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), caption_justify="left")
    t.add_column("year", justify="right")
    for d in dests:
        t.add_column(d, justify="right")
    cal = set(sc.calibration.years) | set(sc.calibration.held_out)
    for year, grp in apps.groupby("year"):
        if cal and year not in cal:
            continue
        cells = []
        g = grp.set_index("destination")
        for d in dests:
            sim = int(g.loc[d, "simulated"]) if d in g.index else 0
            obs = g.loc[d, "observed"] if d in g.index else float("nan")
            lo, hi = ((g.loc[d, "lower"], g.loc[d, "upper"]) if d in g.index
                      else (obs, obs))
            cells.append(f"{sim}/{observed_cell_text(obs, lo, hi)}")
        mark = "*" if year in sc.calibration.held_out else ""
        t.add_row(f"{year}{mark}", *cells)
    out.print(t)
    from onward.scenario.schema import _span

    span = sorted(cal) if cal else sorted(apps.year.unique())
    hi = span[-1]
    # the calibration years and the held-out years apart (as the report splits them), and
    # the years after them, simulated only: a policy that starts there (2016 on) changed
    # nothing the tables above show
    parts = [(f"calibration {_span(sc.calibration.years)}", sorted(sc.calibration.years)),
             (f"held out {_span(sorted(sc.calibration.held_out))}",
              sorted(sc.calibration.held_out))] if sc.calibration.years else []
    parts = [(label, yrs) for label, yrs in parts if yrs] or [(f"{span[0]}-{hi}", span)]
    later = apps[apps.year > hi]
    tt = Table(title="Totals (persons): simulated/observed and their ratio"
               + (f"; {hi + 1}-{int(later.year.max())} simulated only" if len(later) else ""),
               caption="Both summed over the years with a data row (a number above, not -), "
                       "so the ratio sets like against like; a destination without one shows "
                       "its simulated total over every year. A masked count (1-5) makes the "
                       "observed total a range, and the ratio one too.",
               caption_justify="left")
    tt.add_column("destination")
    for label, _ in parts:
        tt.add_column(label, justify="right")
        tt.add_column("ratio", justify="right")
    if len(later):
        tt.add_column(f"simulated {hi + 1}-{int(later.year.max())}", justify="right")
    later_tot = later.groupby("destination").simulated.sum()
    sums = [claim_totals(apps, yrs).set_index("destination") for _, yrs in parts]
    for d in dests:
        row = [d]
        for tot in sums:
            r = tot.loc[d] if d in tot.index else None
            if r is None or r.observed != r.observed:  # no data row in these years
                sim = 0 if r is None or r.simulated_all_years != r.simulated_all_years \
                    else int(r.simulated_all_years)
                row += [f"{sim}/-", "-"]
                continue
            observed, ratio = claim_total_text(r, thousands=False)
            row += [f"{int(r.simulated)}/{observed}", ratio]
        if len(later):
            row.append(f"{int(later_tot.get(d, 0))}")
        tt.add_row(*row)
    out.print(tt)
    st = Table(title="Selection effect: who moves on (means at departure vs stayers)",
               caption="stayers: household-years of onward households not yet moved, at "
                       "each year end (one that moves later counts for each year before)",
               caption_justify="left")
    for col in ("attribute", "movers", "stayers", "std. difference"):
        st.add_column(col, justify="right" if col != "attribute" else "left")
    for r in sel.itertuples():
        st.add_row(r.attribute, f"{r.movers:.3f}", f"{r.stayers:.3f}", f"{r.std_difference:+.2f}")
    out.print(st)
    path = Store(store).path
    out.print(f"run [bold]{run_id}[/] stored in {path} (seed {res.compiled.seed}, engine "
              f"{res.engine_seconds:.2f} s). Query it with `onward runs{_at(store)}`, "
              f"export with `onward export {run_id}{_at(store)}`.")


# --- calibration -----------------------------------------------------------------------------


def _years_opt(text: str | None, option: str = "--calibration-years") -> list[int] | None:
    if text is None:
        return None
    from onward.scenario.schema import FieldError, _years

    try:
        return _years(text)
    except FieldError as exc:
        raise UserError(f"{option}: {exc.problem}. Fix: {exc.fix}") from None
    except ValueError as exc:
        raise UserError(f"{option}: {exc}") from None


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Argument(help="built-in name or YAML path")] = "nk-onward",
    name: Annotated[str, typer.Option(help="name to store the posterior under")] = "default",
    budget: Annotated[int, typer.Option(
        help="stop at the end of the generation in which this many simulations have run "
        "(all generations together; a generation always completes)")] = 3000,
    epsilon: Annotated[float, typer.Option(help="stop once epsilon is at or below this")]
    = 0.0,
    population: Annotated[int | None, typer.Option(help="particles per generation")] = None,
    seed: Annotated[int, typer.Option(help="master seed")] = 1,
    workers: Annotated[int | None, typer.Option(help="local worker processes (all cores)")]
    = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address, e.g. tcp://host:8786")] = None,
    calibration_years: Annotated[str | None, typer.Option(
        "--calibration-years", help="e.g. 2000-2015 (default: the scenario's)")] = None,
    resume: Annotated[bool, _flag(help="continue an interrupted calibration")] = False,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Fit the scenario's free parameters with ABC-SMC (pyabc); store the posterior."""
    from onward.calibration.abc import calibrate as run_calibration
    from onward.calibration.targets import fitting_targets
    from onward.scenario.schema import _span
    from onward.store import Store

    sc = _load(scenario)
    years = _years_opt(calibration_years)
    if years is not None:
        first, last = sc.horizon.start.year, sc.horizon.end.year
        if years[0] < first or years[-1] > last:
            _fail(f"--calibration-years {calibration_years}: the horizon of '{sc.name}' is "
                  f"{first}-{last}. Fix: give years inside it")
        held = sorted(set(sc.calibration.held_out) - set(years))
        moved = sorted(set(sc.calibration.held_out) & set(years))
        if moved:  # the split moves: say so, since score reports the held-out years left
            err.print(f"note: --calibration-years moves the split: {_span(moved)} "
                      f"{'is' if len(moved) == 1 else 'are'} fitted now; held-out years left: "
                      f"{_span(held) if held else 'none'}", highlight=False)
        sc = sc.model_copy(update={"calibration": sc.calibration.model_copy(
            update={"years": years, "held_out": held})})
    fit = None  # the targets, computed once here for the notes and for the fit itself
    if not resume:
        fit = fitting_targets(sc, years)
        fitted = fit.years
        bare = sorted(set(years or sc.calibration.years) - set(fitted))
        if bare:
            err.print(f"note: no observed data in {_span(bare)}; fitting "
                      f"{_span(fitted)}", highlight=False)
        have = set(fit.frame().family)
        lacking = [f for f in sc.calibration.targets if f not in have]
        if lacking:  # e.g. uk_grant_rates without a UK, refugee_stocks of a made-up case
            err.print(f"note: no observed {', '.join(lacking)} for this scenario in the "
                      f"calibration years, so {'it is' if len(lacking) == 1 else 'they are'} "
                      f"not fitted; fitting {', '.join(sorted(have))}", highlight=False)
        own = sc.calibration.observed
        first, last = sc.horizon.start.year, sc.horizon.end.year
        outside = sorted({y for fam in ("first_claims", "refugee_stocks") if own is not None
                          for _, y, *_ in own.cells(fam) if not first <= y <= last})
        if outside:  # a typo (1850 for 2015) would otherwise go unseen
            err.print(f"note: observed counts of {_span(outside)} lie outside the horizon "
                      f"{first}-{last} and are not used", highlight=False)
        observed = set(fit.frame().destination)
        blind = [k for k in sc.free_parameters() if k.startswith("destinations.")
                 and k.split(".")[1] not in observed]
        if blind:  # its posterior can only be its prior (or what other series imply)
            err.print(f"note: {', '.join(blind)} {'is' if len(blind) == 1 else 'are'} free, "
                      "but no observed series of the calibration years is at "
                      f"{'its destination' if len(blind) == 1 else 'their destinations'}: the "
                      "data say little about it", highlight=False)
    if resume:
        from onward.calibration.abc import stored_generations

        gens = stored_generations(Store(store), name)
        if len(gens):
            last = gens.iloc[-1]
            err.print(f"resuming '{name}' after generation {int(last.generation)} "
                      f"({int(last.total_simulations):,} simulations so far; --budget "
                      f"{budget:,} in all)", highlight=False)
    with progress_bar("calibrating", quiet) as bar:
        tasks: dict[str, Any] = {}

        def tick(stage: str, done: int, total: int) -> None:
            _stop_if_interrupted()
            if stage == "generation":  # named on the particles bar, not a bar of its own
                tasks["generation"] = done
                if "particles" in tasks:
                    bar.update(tasks["particles"], completed=0,
                               description=f"particles of generation {done}")
                return
            if stage not in tasks:
                # until the first proposal is back the workers are starting (a first run
                # on a machine compiles the engine)
                label = (f"{stage} (starting workers; a first run on this machine "
                         "compiles, ~30-60 s)" if stage == "simulations" and not done
                         else f"particles of generation {tasks.get('generation', 0)}"
                         if stage == "particles" else stage)
                tasks[stage] = bar.add_task(label, total=total)
            elif stage == "particles" and "simulations" in tasks:
                bar.update(tasks["simulations"], description="simulations")
            bar.update(tasks[stage], completed=done, total=total)

        try:
            with warnings.catch_warnings():  # said below the table: under the live progress
                # display a warning line was drawn over and lost
                from onward.calibration import DegeneratePosterior

                warnings.simplefilter("ignore", DegeneratePosterior)
                post = run_calibration(sc, name, budget=budget, min_epsilon=epsilon,
                                       population=population, seed=seed, workers=workers,
                                       scheduler=scheduler, store=store, resume=resume,
                                       targets=fit, progress=tick)
        except BaseException as exc:
            # Ctrl-C also surfaces as a compiled stage's SystemError or DuckDB's
            # interruption (main turns both into the exit of a Ctrl-C): say what is kept
            if _interrupted(exc):
                _say_how_to_resume(name, store)
            raise
    t = Table(title=f"Posterior '{name}' (generation {post.generation}, "
                    f"epsilon {post.epsilon:.4g}): mean and 90% credible interval")
    for col in ("parameter", "mean", "q05", "q95"):
        t.add_column(col, justify="left" if col == "parameter" else "right")
    for r in post.summary().itertuples():
        t.add_row(r.parameter, f"{r.mean:.4g}", f"{r.q05:.4g}", f"{r.q95:.4g}")
    out.print(t)
    out.print(f"effective sample size {post.ess:.1f} of {len(post.weights)} particles")
    _report_simulations(name, budget, store)
    if post.degenerate:  # (calibrate's own warning was held back during the progress bar)
        from onward.calibration.abc import degenerate_fit_note

        _warn(degenerate_fit_note(post))
    out.print(_stored_calibration_hint(name, store))


def _stored_calibration_hint(name: str, store: Path | None) -> str:
    """Where calibration ``name`` is stored and the commands that use it, runnable as
    pasted (a name with a space is quoted)."""
    from onward.store import Store

    at, quoted = _at(store), shlex.quote(name)
    return (f"stored in {Store(store).path} as calibration '{name}'; score it with "
            f"`onward score {quoted}{at}`, use it with `onward run --posterior {quoted}{at}`")


def _say_how_to_resume(name: str, store: Path | None) -> None:
    """After Ctrl-C: which generations of the calibration are kept, and how to go on."""
    from onward.calibration.abc import stored_generations
    from onward.store import Store

    try:
        gens = stored_generations(Store(store), name).generation.astype(int).tolist()
    except Exception:  # noqa: BLE001 - the store itself was interrupted: say the general
        return
    if gens:
        which = "generation 0 is" if gens[-1] == 0 else f"generations 0-{gens[-1]} are"
        said = (f"interrupted; calibration '{name}': {which} stored; run the same command "
                "with --resume to go on")
    else:
        said = (f"interrupted; calibration '{name}': no generation had finished, so nothing "
                "is stored; run the same command again (without --resume: there is nothing "
                "to resume)")
    err.print(said, highlight=False)
    _CTRL_C["explained"] = True


def _report_simulations(name: str, budget: int, store: Path | None) -> None:
    """How many simulations the calibration ran, and why, when it ran far past --budget
    (a generation always completes, and one with a low acceptance rate takes many)."""
    from onward.calibration.abc import stored_generations
    from onward.store import Store

    gens = stored_generations(Store(store), name)
    if gens.empty or "total_simulations" not in gens.columns:
        return
    last = gens.iloc[-1]
    total = int(last.total_simulations)
    # pyabc first draws a population from the prior to set generation 0's epsilon (its
    # calibration sample); the total counts it, the generations' samples do not
    pre = int(gens.total_simulations.iloc[0]) - int(gens.samples.iloc[0])
    in_gens = f"{total - pre:,} in {len(gens)} generation{'s' * (len(gens) != 1)}"
    out.print(f"{total:,} simulations (budget {budget:,}): " + (
        f"{pre:,} in pyabc's calibration sample (draws from the prior that set generation "
        f"0's epsilon) and {in_gens}" if pre else in_gens))
    if total > 2 * budget:
        worst = gens.loc[gens.samples.idxmax()]
        first = f"{pre:,} in the calibration sample, and " if pre else ""
        err.print(f"[yellow]note:[/] {total:,} simulations, {total / budget:.1f} times the "
                  f"budget: {first}generation {int(worst.generation)} alone ran "
                  f"{int(worst.samples):,} to accept {int(worst.particles)} particles "
                  f"(acceptance {float(worst.acceptance_rate):.1%}); a generation always "
                  "completes. Fix: a smaller --population makes the calibration sample and "
                  "each generation shorter", markup=True, highlight=False)


@app.command()
def score(
    name: Annotated[str, typer.Argument(help="name of a stored calibration")],
    scenario: Annotated[str | None, typer.Option(help="scenario (default: the calibrated one)")]
    = None,
    draws: Annotated[int, typer.Option(help="posterior-predictive runs")] = 40,
    seed: Annotated[int, typer.Option(help="seed of the draws")] = 1,
    as_json: Annotated[bool, _flag("--json", help="print the metrics as JSON")] = False,
    figures: Annotated[Path | None, typer.Option(
        metavar="DIR", help="also write the calibration figures (PNG and SVG) into DIR")]
    = None,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Score a calibration on its calibration years and on the held-out years."""
    from onward.calibration.score import score as run_score

    with progress_bar("posterior-predictive runs", quiet) as bar:
        task = bar.add_task("posterior-predictive runs", total=draws)
        res = run_score(scenario, name, draws=draws, seed=seed, store=store,
                        progress=lambda d, n: bar.update(task, completed=d, total=n))
    paths: list[Path] = []
    if figures is not None:
        from onward.calibration.plots import write_calibration_figures

        paths = write_calibration_figures(name, store, figures, score_result=res,
                                          draws=draws, seed=seed, scenario=scenario)
    if as_json:
        payload = {"calibration": res["calibration"], "held_out": res["held_out"]}
        if figures is not None:
            payload["figures"] = [str(p) for p in paths]
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    for split in ("calibration", "held_out"):
        m = res[split]
        t = Table(title=f"{split.replace('_', '-')} years: first claims, median vs observed")
        for col in ("destination", "ard", "ard floor", "mase", "coverage50", "coverage90"):
            t.add_column(col, justify="left" if col == "destination" else "right")
        if m is None:
            from onward.scenario.schema import _span

            years = (res.get("years") or {}).get(split) or []
            out.print(f"{split.replace('_', '-')} years {_span(years)}: no observed first "
                      "claims in them to score" if years else
                      f"{split.replace('_', '-')} years: none (this calibration holds no "
                      "year out; calibrate with --calibration-years over fewer years to hold "
                      "some out)",
                      highlight=False)
            continue
        floor = (res.get("ard_floor") or {}).get(split) or {}
        floors = {"overall": floor.get("mean"), **floor.get("per_destination", {})}
        rows = [("overall", m)] + sorted(m["per_destination"].items())
        for d, v in rows:
            f = floors.get(d)
            t.add_row(d, "-" if v["ard"] is None else f"{v['ard']:.3f}",
                      "-" if f is None or f != f else f"{f:.3f}",
                      *[("-" if v[k] is None else f"{v[k]:.3f}")
                        for k in ("mase", "coverage50", "coverage90")])
        notes = []
        if split == "calibration":  # (once: it reads the same under both tables)
            notes.append("ard floor: the ard the ensemble's median scores against the "
                         "ensemble's own draws (same cells), i.e. against the model itself, "
                         "with this posterior's spread and its noise. An observed ard at or "
                         "below it: the data are as close to the median as the model's own "
                         "draws are; a target below it cannot be met by fitting this "
                         "posterior. Small destinations have high floors (few persons)")
        if any(v[k] is None for _, v in rows for k in ("ard", "mase")):
            notes.append("- : no ard where nothing was observed; no mase where the observed "
                         "series does not change over the calibration years (or has one "
                         "year), so the naive forecast it is scaled by makes no error")
        if notes:
            t.caption = "; ".join(notes)
        out.print(t)
    if res["residence_unknown"]:
        t = Table(title="People who left the first country vs MOU 'residence unknown'")
        for col in ("date", "observed", "simulated (median)", "ratio"):
            t.add_column(col, justify="right")
        for r in res["residence_unknown"]:
            t.add_row(r["date"], count_text(r["observed"]), count_text(r["simulated"]),
                      f"{r['ratio']:.2f}")
        out.print(t)
    for p in paths:
        out.print(f"wrote {p}")


# --- experiments -----------------------------------------------------------------------------

WorkersOpt = Annotated[int | None, typer.Option(help="local worker processes (default: all "
                                                "cores)")]
PosteriorOpt = Annotated[str | None, typer.Option(
    help="draw parameters from this calibration")]
UntilOpt = Annotated[int | None, typer.Option(help="extend the horizon to this year")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address, e.g. tcp://host:8786 (see docs/cluster.md)")]


def _experiment_bar(title: str, quiet: bool):
    bar = progress_bar(title, quiet)
    # shown until the first run is done (a first run on a machine compiles the engine)
    state: dict[str, Any] = {"task": bar.add_task(f"{title} (starting; a first run "
                                                  "compiles, ~30-60 s)", total=None)}

    def tick(done: int, total: int) -> None:
        _stop_if_interrupted()
        bar.update(state["task"], completed=done, total=total,
                   description=title if done else None)

    return bar, tick


#: set by the SIGINT handler of :func:`main`: a Ctrl-C that a library swallowed (DuckDB
#: can take the KeyboardInterrupt while it runs a statement) is still seen
_CTRL_C = {"seen": False, "explained": False}


def _on_sigint(signum: int, frame: Any) -> None:
    _CTRL_C["seen"] = True
    if frame is not None and frame.f_code.co_filename.endswith(_LOGGING_FILE):
        # inside logging's lock handling an exception is "ignored" with a traceback
        # printed; the next progress tick raises it instead (_stop_if_interrupted)
        return
    raise KeyboardInterrupt


#: the logging module's file, where a Ctrl-C is deferred (see _on_sigint)
_LOGGING_FILE = os.path.join("logging", "__init__.py")


def _stop_if_interrupted() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed and something swallowed it."""
    if _CTRL_C["seen"]:
        raise KeyboardInterrupt


@app.command()
def ensemble(
    scenario: Annotated[str, typer.Argument(help="built-in name or YAML path")] = "nk-onward",
    n: Annotated[int, typer.Option("-n", help="replicates")] = 20,
    seed: Annotated[int, typer.Option(help="master seed")] = 1,
    posterior: PosteriorOpt = None,
    until: UntilOpt = None,
    output: Annotated[list[str] | None, typer.Option(help="outputs (repeat); default "
                                                     "applications")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    as_json: Annotated[bool, _flag("--json", help="bands as JSON on stdout")] = False,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run N replicates and store per-year medians with 50% and 90% bands."""
    from onward.experiments.ensemble import ensemble as run_ensemble
    from onward.experiments.ensemble import ensemble_json

    outputs = output or ["applications"]
    if n < 1:
        _fail("-n must be at least 1")
    bar, tick = _experiment_bar("replicates", quiet)
    with bar:
        res = run_ensemble(scenario, n=n, seed=seed, posterior=posterior, until=until,
                           outputs=outputs, workers=workers, scheduler=scheduler, store=store,
                           progress=tick)
    if as_json:
        sys.stdout.write(json.dumps(ensemble_json(res, outputs)) + "\n")
        _stored_on_stderr(res.experiment_id, store)
        return
    from onward.experiments.ensemble import bands_text
    from onward.experiments.runner import output_unit

    spread = ("chance and the posterior's parameter draws" if posterior else
              "chance alone (one parameter set; --posterior adds the parameters' uncertainty)")
    for name in outputs:
        b = res.bands[res.bands.output == name]
        t = Table(title=f"{name} ({output_unit(name)}): median [90% band] over {n} replicates",
                  caption=f"90% band: where the middle 90% of the replicates fall; it reflects "
                          f"{spread}" + (f". With {n} replicates the band is about the range "
                                         "from the lowest to the highest" if n < 20 else ""),
                  caption_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
        cells = bands_text(b)  # a share is 0..1: two decimals
        for col in cells.columns:
            t.add_column(col, justify="right")
        for row in cells.itertuples(index=False):
            t.add_row(*row)
        out.print(t)
    out.print(f"experiment {res.experiment_id} stored: `onward report {res.experiment_id}"
              f"{_at(store)}` "
              "writes its figures; the tables are `ensemble_bands` and `experiment_values` "
              "(SQL: docs/cluster.md)")


@app.command()
def compare(
    baseline: Annotated[str, typer.Argument(help="baseline scenario")],
    alternatives: Annotated[list[str], typer.Argument(help="alternative scenario(s)")],
    n: Annotated[int, typer.Option("-n", help="replicates per scenario")] = 20,
    seed: Annotated[int, typer.Option(help="master seed (common random numbers)")] = 1,
    years: Annotated[str | None, typer.Option(help="period to sum effects over, e.g. "
                                              "2008-2024")] = None,
    destination: Annotated[list[str] | None, typer.Option(help="only these destinations")]
    = None,
    posterior: PosteriorOpt = None,
    until: UntilOpt = None,
    output: Annotated[list[str] | None, typer.Option(
        help="outputs (repeat): applications, onward_claims, direct_claims, departures, "
        "recognised, refused, returns, broker_share, refugee_stock, abroad (units: "
        "docs/cluster.md)")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    as_json: Annotated[bool, _flag("--json", help="effects as JSON on stdout")] = False,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Compare scenarios that differ by policy, on common random numbers."""
    from onward.experiments.ensemble import compare as run_compare

    outputs = output or ["applications"]
    yrs = _years_opt(years, "--years")
    bar, tick = _experiment_bar("runs", quiet)
    with bar:
        res = run_compare(baseline, alternatives, n=n, seed=seed, years=yrs,
                          posterior=posterior, until=until, outputs=outputs, workers=workers,
                          scheduler=scheduler, store=store, progress=tick,
                          destinations=destination)
    eff = res.effects
    if "abroad" in outputs and destination and "ALL" not in destination:
        err.print("note: abroad counts every destination together (destination ALL), so "
                  "--destination leaves it out; add --destination ALL to see it",
                  highlight=False)
    from onward.experiments.ensemble import count_of, effect_text
    from onward.experiments.runner import output_unit

    if as_json:
        cols = ["alternative", "output", "destination", "period", "baseline_median",
                "alternative_median", "diff_median", "diff_q05", "diff_q95", "ratio_median",
                "ratio_q05", "ratio_q95"]
        rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                 for k, v in r.items()} | {"unit": output_unit(r["output"], period=True)}
                for r in eff[cols].to_dict("records")]
        sys.stdout.write(json.dumps({"experiment_id": res.experiment_id,
                                     "baseline": res.baseline, "changes": res.changes,
                                     "effects": rows}, sort_keys=True, default=float) + "\n")
        return
    for alt, g in eff.groupby("alternative", sort=False):
        said = res.changes.get(alt, [])
        out.print(f"{alt} changes against {res.baseline}: " + (
            "nothing that changes a run" if not said else "; ".join(said[:6])
            + (f"; and {len(said) - 6} more (onward report {res.experiment_id}{_at(store)})"
               if len(said) > 6 else "")), highlight=False, markup=False)
        few = (f". With {count_of(n, 'paired replicate')} the interval is about "
               "the range of their differences (one replicate: no interval at all), not an "
               "interval to quote: give -n 20 or more" if n < 20 else "")
        t = Table(title=f"{alt} vs {res.baseline}: effect over {g.period.iloc[0]} "
                        f"(median [90% interval], {count_of(n, 'paired replicate')})",
                  caption="flows: totals over the period; stocks: at its end; shares: the "
                          "mean of the yearly shares. baseline, alternative: medians over "
                          "replicates; difference, ratio: medians of the paired replicates' "
                          "differences and ratios (so not alternative minus baseline)" + few,
                  caption_justify="left")
        for col in ("output", "unit", "destination", "baseline", "alternative", "difference",
                    "ratio"):
            t.add_column(col, justify="right" if col in ("baseline", "alternative",
                                                          "difference", "ratio") else "left")
        for r in g.itertuples():
            t.add_row(r.output, output_unit(r.output, period=True), r.destination,
                      *effect_text(r).values())
        out.print(t)
    out.print(f"experiment {res.experiment_id} stored (table compare_effects): `onward report "
              f"{res.experiment_id}{_at(store)}` writes its figures")


@app.command()
def sensitivity(
    scenario: Annotated[str, typer.Argument(help="built-in name or YAML path")] = "nk-onward",
    method: Annotated[str, typer.Option(help="sobol (variance shares) or morris (screening)")]
    = "sobol",
    n: Annotated[int, typer.Option("-n", help="Sobol base samples (a power of 2; runs = "
                                   "N*(groups+2)) or Morris trajectories (runs = "
                                   "N*(groups+1))")] = 64,
    seed: Annotated[int, typer.Option(help="master seed")] = 1,
    output: Annotated[str, typer.Option(help="output to explain (over --years: a flow "
                                        "summed, a stock at the end, a share averaged)")]
    = "applications",
    destination: Annotated[str | None, typer.Option(
        help="destination of the output (default GBR, else the first)")] = None,
    years: Annotated[str | None, typer.Option(help="years to sum, e.g. 2000-2015 (default: "
                                              "the calibration years)")] = None,
    until: UntilOpt = None,
    levels: Annotated[int, typer.Option(help="Morris grid levels")] = 4,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    as_json: Annotated[bool, _flag("--json", help="indices as JSON on stdout")] = False,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Which mechanism (push, pull, information, policy) drives an output: Sobol or Morris."""
    from onward.experiments.sensitivity import sensitivity as run_sensitivity
    from onward.experiments.sensitivity import sensitivity_json

    if method not in ("sobol", "morris"):
        _fail(f"--method {method}: choose sobol or morris")
    if n < 1:
        _fail("-n must be at least 1")
    if method == "sobol" and n & (n - 1) and not as_json:
        err.print(f"note: -n {n} is not a power of 2; Sobol' estimates converge best at 2^k")
    yrs = _years_opt(years, "--years")
    bar, tick = _experiment_bar("model runs", quiet)
    with bar:
        res = run_sensitivity(scenario, method=method, n=n, seed=seed, output=output,
                              destination=destination, years=yrs, until=until,
                              levels=levels, workers=workers, scheduler=scheduler,
                              store=store, progress=tick)
    if as_json:
        sys.stdout.write(json.dumps(sensitivity_json(res)) + "\n")
        _stored_on_stderr(res.experiment_id, store)
        return
    from onward.arguments import years_label
    from onward.experiments.sensitivity import mu_star_text

    what = f"{res.output} at {res.destination}, {years_label(res.years)} ({len(res.y)} runs)"
    if method == "sobol":
        t = Table(title=f"Sobol' indices by mechanism: {what}; ranked by total effect ST "
                        "(± 95% interval)", box=box.SIMPLE_HEAD, padding=(0, 1))
        cols = ("group", "S1", "ST", "parameters")
    else:
        t = Table(title=f"Morris screening by mechanism: {what}; ranked by mu* [95% "
                        "interval]", box=box.SIMPLE_HEAD, padding=(0, 1))
        cols = ("group", "mu*", "sigma", "parameters")
    for col in cols:
        t.add_column(col, justify="left" if col in ("group", "parameters") else "right")

    def pm(v: float, c: float, fmt: str = ".3f") -> str:
        return "-" if not np.isfinite(v) else f"{v:{fmt}} ± {c:{fmt}}"

    for r in res.indices.itertuples():
        if method == "sobol":
            t.add_row(r.group, pm(r.S1, r.S1_conf), pm(r.ST, r.ST_conf), r.parameters)
        else:
            t.add_row(r.group, mu_star_text(r.mu_star, r.mu_star_conf),
                      "-" if not np.isfinite(r.sigma) else f"{r.sigma:.4g}", r.parameters)
    out.print(t)
    if method == "morris":
        out.print("mu* cannot be negative: an interval that would reach below 0 starts at "
                  "0. sigma is defined only for a group of one parameter (SALib).")
    out.print(res.sentence)
    out.print(f"experiment {res.experiment_id} stored (table sensitivity_indices)")


@app.command()
def destinations(
    scenario: Annotated[str, typer.Argument(help="built-in name or YAML path")] = "nk-onward",
    n: Annotated[int, typer.Option("-n", help="replicates")] = 20,
    seed: Annotated[int, typer.Option(help="master seed")] = 1,
    posterior: PosteriorOpt = None,
    until: UntilOpt = None,
    period: Annotated[int, typer.Option(help="years per period of departures")] = 5,
    figure: Annotated[Path | None, typer.Option(
        help="figure path, PNG plus SVG (default reports/EXPERIMENT-ID.png; with --json only "
             "when given)")] = None,
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
    as_json: Annotated[bool, _flag("--json", help="measures as JSON on stdout")]
    = False,
    store: StoreOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Destinations side by side: who goes there, when, and with what outcome."""
    from onward.experiments.destinations import destinations as run_destinations
    from onward.experiments.destinations import destinations_json, interval_text, plot_destinations

    if n < 1:
        _fail("-n must be at least 1")
    bar, tick = _experiment_bar("replicates", quiet)
    with bar:
        res = run_destinations(scenario, n=n, seed=seed, posterior=posterior, until=until,
                               period=period, workers=workers, scheduler=scheduler,
                               store=store, progress=tick)
    files = []
    if figure is not None or not as_json:
        from onward.store import output_name

        files = plot_destinations(res, figure or Path("reports") / (
            f"{output_name(store, res.experiment_id)}.png"))
    if as_json:
        sys.stdout.write(json.dumps(destinations_json(res)) + "\n")
        _stored_on_stderr(res.experiment_id, store)
        return
    from onward.experiments.destinations import measure_unit
    from onward.experiments.ensemble import count_of

    dests = res.destinations
    s = res.summary.set_index(["destination", "measure"])
    rows: list[tuple[str, list[str]]] = []
    aspect = None
    for m, a in dict.fromkeys(zip(res.summary.measure, res.summary.aspect,
                                  strict=True)).keys():
        if a != aspect:
            rows.append((f"[bold]{a}[/]", [""] * len(dests)))
            aspect = a
        unit = measure_unit(m)
        rows.append((f"  {m}" + (f" ({unit})" if unit else ""),
                     [interval_text(m, *s.loc[(d, m), ["median", "q05", "q95"]])
                      if (d, m) in s.index else "-" for d in dests]))
    # each column as wide as its widest median or interval: a narrow terminal puts the
    # interval on a second line rather than cutting it ("[0.55-0.5..."); destinations
    # that do not fit beside each other go to a second table
    widths = [max([len(x) for _, cells in rows for x in cells[k].split(" ")] + [len(d)])
              for k, d in enumerate(dests)]
    # the names set the label column's width; their units wrap below them if need be
    label_w = max(len(m) for m in res.summary.measure) + 4
    room = max(out.width - label_w - 4, max(widths) + 3)
    parts: list[list[int]] = [[]]
    for k, w in enumerate(widths):
        if parts[-1] and sum(widths[j] + 3 for j in parts[-1]) + w + 3 > room:
            parts.append([])
        parts[-1].append(k)
    first, last = res.years
    for p, cols in enumerate(parts):
        t = Table(title=(f"Destinations side by side, {first}-{last}: median [90% interval] "
                         f"over {count_of(n, 'replicate')}") if p == 0 else None,
                  caption=("who: first movers at departure (households); when: every "
                           "departure from the first country (persons); outcome: onward "
                           "claimants") if p == len(parts) - 1 else None,
                  box=box.SIMPLE_HEAD, padding=(0, 1), caption_justify="left")
        t.add_column("measure", min_width=label_w)  # wrapped at spaces, never cut
        for k in cols:
            # as wide as its widest token: wider, Rich let a column take a whole
            # "median [interval]", the table outgrew the width and its last columns were cut
            t.add_column(dests[k], justify="right", min_width=widths[k], max_width=widths[k])
        for label, cells in rows:
            t.add_row(label, *[cells[k] for k in cols])
        out.print(t)
    for f in files:
        out.print(f"figure: {f}")
    out.print(f"experiment {res.experiment_id} stored (table destination_summary)")


# --- scenarios --------------------------------------------------------------------------------


@app.command()
def validate(
    file: Annotated[str | None, typer.Argument(
        help="scenario YAML file, built-in name or Flee 3.1 folder")] = None,
    list_params: Annotated[bool, _flag("--list", help="list every parameter")] = False,
) -> None:
    """Check a scenario file or a Flee 3.1 folder; print what is wrong (file:line: field: problem. Fix: ...)."""  # noqa: E501 - one paragraph: --help rewraps it
    from onward.scenario import scenario_hash

    if list_params:
        from onward.scenario.parameters import all_specs

        t = Table(title="Parameters (parameters.<group>.<name> or destinations.<ISO3>.<name>)")
        for col in ("parameter", "unit", "kind", "bounds", "description"):
            t.add_column(col, no_wrap=col == "parameter")  # a name to copy whole
        for sp in all_specs():
            lo, hi = sp.bounds()
            # as an event's target and an override name it (a global one with its section)
            path = sp.path if sp.path.startswith("destinations.") else f"parameters.{sp.path}"
            t.add_row(path, sp.unit, sp.kind, f"[{lo}, {hi}]", sp.description)
        out.print(t)
        if file is None:
            return
    if file is None:
        _fail("give a scenario file to validate (or --list)")
    from onward.flee import is_flee_folder

    inside = Path(file).resolve().parent.parent
    if Path(file).suffix.lower() == ".csv" and is_flee_folder(str(inside)):
        _fail(f"{file} is a file of the Flee folder {inside}: validate the folder (onward "
              f"validate {inside}), which reads every file of it together")
    if is_flee_folder(file):  # as `onward run FOLDER` reads it
        from onward.flee.sim import check_days

        case = _read_flee_warned(file)
        for w in case.warnings:
            _warn(w)
        check_days(case)  # what `onward run` would refuse before its first day
        out.print(f"[green]ok[/] {escape(str(file))}: Flee 3.1 folder '{escape(case.name)}', "
                  f"{case.n_locations} "
                  f"locations, {len(case.camps)} camps, {case.length} days from {case.start}")
        return
    sc = _load_or_flee(file)
    out.print(f"[green]ok[/] {file}: scenario '{sc.name}', {len(sc.destinations)} destinations, "
              f"{len(sc.events)} events, {len(sc.free_parameters())} free parameters, "
              f"horizon {sc.horizon.start}..{sc.horizon.end}, hash {scenario_hash(sc)}")


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from onward.scenario import builtin_names, load_scenario

    t = Table(title="Built-in scenarios")
    t.add_column("name")
    t.add_column("horizon")
    t.add_column("destinations")
    t.add_column("description")
    for name in builtin_names():
        sc = load_scenario(name)
        desc = " ".join(sc.description.split())
        t.add_row(name, f"{sc.horizon.start}..{sc.horizon.end}", " ".join(sc.destination_codes),
                  desc if len(desc) <= 160 else desc[:159] + "…")
    out.print(t)


@scenario_app.command("show")
def scenario_show(name: Annotated[str, typer.Argument(help="built-in name or path")]) -> None:
    """Print the fully resolved scenario as YAML (it loads back to the same scenario)."""
    from onward.scenario import scenario_to_yaml

    sys.stdout.write(scenario_to_yaml(_load(name)))


@scenario_app.command("new")
def scenario_new(
    name: Annotated[str, typer.Argument(help="name of the new scenario")],
    base: Annotated[str, typer.Option("--from", help="scenario to copy")] = "nk-onward",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write")] = None,
    minimal: Annotated[bool, _flag(help="write only `extends:` and a name")] = False,
    force: Annotated[bool, _flag(help="overwrite an existing file")] = False,
) -> None:
    """Write an editable copy of a scenario to NAME.yaml."""
    import yaml

    from onward.scenario import scenario_to_dict

    sc = _load(base)
    if name.endswith((".yaml", ".yml")):  # `scenario new mine.yaml` wrote mine.yaml.yaml
        name = Path(name).stem
    path = output or Path(f"{name}.yaml")
    if path.exists() and not force:
        _fail(f"{path} exists; choose another name, --output PATH, or --force to overwrite")
    if minimal:
        from onward.scenario.loader import builtin_names

        ref = base
        if base not in builtin_names():  # a file: named relative to the new file's folder
            ref = os.path.relpath(Path(base).resolve(), path.resolve().parent)
        text = (f"# {name}: a variant of {base}. Override only what changes, e.g.\n"
                f"# parameters:\n#   integration:\n#     discrimination_rate: 0.05\n"
                f"extends: {ref}\nname: {name}\n")
    else:
        d = scenario_to_dict(sc)
        d["name"] = name
        d["description"] = f"Copy of {base}. " + d.get("description", "")
        text = (f"# {name}: an editable copy of {base} (onward scenario new).\n"
                "# Check it with `onward validate " + shlex.quote(str(path)) + "`.\n"
                + yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100))
    path.write_text(text, encoding="utf-8")
    _load(str(path))  # prove it loads
    out.print(f"wrote {path}; run it with `onward run {shlex.quote(str(path))}`",
              markup=False, highlight=False)


# --- data -------------------------------------------------------------------------------------


@app.command()
def data(
    name: Annotated[str | None, typer.Argument(help="table to show (omit to list)")] = None,
    rows: Annotated[int, typer.Option(help="rows to show")] = 20,
    provenance: Annotated[bool, _flag(
        help="print the provenance document (with NAME: that table's section)")] = False,
    csv: Annotated[bool, _flag("--csv", help="write the whole table (without NAME: the list "
                                         "of tables) as CSV")] = False,
) -> None:
    """List the packaged data tables, or show one, with its source and licence."""
    import math

    from onward import data as d

    if provenance and name is None:
        sys.stdout.write(d.provenance())
        return
    if name is None and csv:  # the list itself, for a script
        d.list_tables().to_csv(sys.stdout, index=False)
        return
    if name is None:
        t = Table(title="Packaged data (onward data NAME to show one; --provenance for sources)")
        for col in ("name", "title", "rows", "coverage", "licence"):
            t.add_column(col, no_wrap=col == "name")
        for r in d.list_tables().itertuples():
            t.add_row(r.name, r.title, str(r.rows), str(r.coverage), r.licence)
        out.print(t)
        return
    try:
        df = d.load(name)
    except KeyError as exc:
        _fail(str(exc.args[0]) if exc.args else str(exc))
    info = d.TABLES[name]
    if provenance:
        sys.stdout.write(_provenance_of(d.provenance(), info.filename))
        return
    if csv:
        # whole-number columns with gaps are floats in pandas: write 831, not 831.0
        _whole_as_int(df).to_csv(sys.stdout, index=False)
        return
    out.print(f"[bold]{info.title}[/] ({len(df)} rows, {info.coverage})\n"
              f"source: {info.source}\nlicence: {info.licence}")
    show = df.drop(columns=[c for c in ("source",) if c in df.columns]).head(max(rows, 0))

    def cell(x: Any) -> str:  # blank for no value; counts without '.0'
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return ""
        if isinstance(x, float) and x.is_integer():
            return str(int(x))
        return str(x)[:60]

    t = Table()
    for c in show.columns:
        t.add_column(str(c))
    for r in show.itertuples(index=False):
        t.add_row(*[cell(x) for x in r])
    out.print(t)
    if len(show) < len(df):
        out.print(f"showing the first {len(show)} of {len(df)} rows (--rows N for more, "
                  "--csv for all)")


def _provenance_of(doc: str, filename: str) -> str:
    """The sections of the provenance document that name ``filename`` (or its family,
    e.g. ``unhcr_prk_*``), under their headings; the whole document if none does."""
    import fnmatch
    import re

    parts = re.split(r"(?m)^(?=#{2,3} )", doc)
    hits = []
    for part in parts:
        head = part.splitlines()[0] if part else ""
        pats = re.findall(r"`([^`]+)`", head)
        if filename in part.splitlines()[0] or any(fnmatch.fnmatch(filename, p)
                                                   or fnmatch.fnmatch(filename, p + ".csv")
                                                   for p in pats):
            hits.append(part)
    return "".join(hits) if hits else doc


# --- store ------------------------------------------------------------------------------------


@app.command()
def runs(
    store: StoreOpt = None,
    show_all: Annotated[bool, _flag(
        "--all", help="also the single runs of experiments (kinds ending in -job)")] = False,
    kind: Annotated[str | None, typer.Option(
        help="only runs of this kind: run, calibration, ensemble, compare, sensitivity, "
        "destinations, flee, or a -job kind")] = None,
    limit: Annotated[int, typer.Option(help="show at most this many (newest first)")] = 50,
) -> None:
    """List the runs in the store, newest first: runs, calibration generations and the
    summaries of experiments (their single runs with --all)."""
    import json
    import math

    from onward.store import Store, is_job_kind

    if limit < 1:
        _fail(f"--limit {limit}: shows no run. Fix: give 1 or more (the default is 50)")
    st = Store(store)
    if store is not None and not st.path.exists():
        _fail(f"--store {store}: no such file. Fix: check the path (`onward run` creates a "
              "store), or leave --store out for ./onward.duckdb")
    df = st.list_runs()
    if df.empty:
        out.print("no runs yet; start one with `onward run`")
        return
    if kind is not None:
        if kind not in set(df.kind):
            _fail(f"--kind {kind}: no run of that kind in {st.path}. Fix: use one of "
                  f"{', '.join(sorted(set(df.kind)))}")
        df = df[df.kind == kind]
    jobs = is_job_kind(df.kind)
    hidden = 0 if show_all or kind is not None else int(jobs.sum())
    if hidden:
        df = df[~jobs]
    total = len(df)
    df = df.head(max(limit, 0))

    def what(r: Any) -> str:  # the id a report takes, or the calibration and generation
        try:
            extra = json.loads(r.extra) if isinstance(r.extra, str) else {}
        except ValueError:
            extra = {}
        if r.kind == "calibration" and "calibration" in extra:
            return f"{extra['calibration']} gen {extra.get('generation', '?')}"
        if extra.get("posterior") and r.kind == "run":
            return f"posterior {extra['posterior']}"
        if extra.get("overrides") and r.kind == "run":
            return f"{len(extra['overrides'])} parameters overridden"
        return str(extra.get("experiment_id", ""))

    def secs(v: Any) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"

    t = Table(title=f"Runs in {st.path}")
    # an id is pasted into `onward report ID`: it keeps its whole width (it was cut to
    # "destinations-7e34c34777…"), and the other columns fold where the width runs short
    ids = {"run_id": [str(v) for v in df.run_id],
           "experiment / calibration / posterior": [what(r) for r in df.itertuples()]}
    for col in ("run_id", "kind", "experiment / calibration / posterior", "scenario", "seed",
                "scenario_hash", "created_at", "engine_s", "wall_s"):
        if col in ids:
            t.add_column(col, no_wrap=True,
                         min_width=max([len(v) for v in ids[col]] + [len(col.split()[0])]))
        else:
            t.add_column(col, overflow="fold")
    for r in df.itertuples():
        hsh = r.scenario_hash if isinstance(r.scenario_hash, str) else "-"
        seed = "-" if r.seed is None or (isinstance(r.seed, float) and math.isnan(r.seed)) \
            else str(int(r.seed))
        t.add_row(r.run_id, str(r.kind), what(r), str(r.scenario), seed, hsh,
                  str(r.created_at)[:19], secs(r.engine_seconds), secs(r.wall_seconds))
    out.print(t)
    notes = []
    if total > len(df):
        notes.append(f"showing {len(df)} of {total} (--limit)")
    if hidden:
        notes.append(f"{hidden} single runs of experiments hidden (--all shows them)")
    if notes:
        out.print("; ".join(notes))


@app.command()
def export(
    run_id: Annotated[str, typer.Argument(help="run id (run-0001, latest), experiment id or "
                                        "calibration name")],
    fmt: Annotated[str, typer.Option("--format", help="parquet or csv")] = "parquet",
    out_dir: Annotated[Path | None, typer.Option("--out", help="folder to write")] = None,
    store: StoreOpt = None,
) -> None:
    """Write every table of a run to Parquet or CSV files (one per table) plus run.json;
    a Flee folder's run also to out.csv, in Flee 3.1's layout; a calibration (by name) every
    generation's particles and weights."""
    from onward.store import Store, output_name

    if fmt not in ("parquet", "csv"):
        _fail(f"--format {fmt}: use parquet or csv")
    from onward.report import resolve_target

    s = Store(store)
    if not _RUN_ID_TEXT.fullmatch(run_id) and run_id != "latest":
        from onward.calibration.abc import stored_generations

        gens = stored_generations(s, run_id)
        if len(gens):  # a calibration's name (its generations are runs of their own)
            for f in _export_calibration(s, run_id, gens, out_dir or Path("exports")
                                         / f"calibration-{run_id}", fmt):
                out.print(str(f))
            return
    ident, is_experiment = resolve_target(run_id, s)
    folder = out_dir or Path("exports") / output_name(s, ident)
    files = (_export_experiment(s, ident, folder, fmt) if is_experiment
             else s.export(ident, folder, fmt=fmt))
    if any(f.stem == "flee_camps" for f in files):  # a Flee folder's run
        files.append(_export_flee_out(s, ident, folder))
    for f in files:
        out.print(str(f))


_RUN_ID_TEXT = re.compile(r"run-\d+|\d+")


@app.command()
def query(
    sql: Annotated[str, typer.Argument(
        help="one SQL statement, e.g. \"select run_id, kind from runs\"; - reads it from "
        "standard input")],
    store: StoreOpt = None,
    as_json: Annotated[bool, _flag("--json", help="all rows as a JSON list on stdout")] = False,
    as_csv: Annotated[bool, _flag("--csv", help="all rows as CSV on stdout")] = False,
    limit: Annotated[int, typer.Option(
        help="the table shows at most this many rows (--json and --csv give all)")] = 50,
) -> None:
    """Query the store with SQL (read-only; DuckDB's dialect): a table, or every row as
    CSV or JSON. `onward query "show tables"` lists the tables; join with runs to see
    committed runs only."""
    import pandas as pd

    from onward.store import Store, StoreBusyError, StoreError

    if as_json and as_csv:
        _fail("--json and --csv: choose one")
    if limit < 1 and not (as_json or as_csv):
        _fail(f"--limit {limit}: shows no row. Fix: give 1 or more, or --csv or --json for "
              "every row")
    if sql.strip() == "-":
        sql = sys.stdin.read()
    if not sql.strip():
        _fail("SQL: the statement is empty. Fix: give one, e.g. onward query "
              "\"select run_id, kind, scenario from runs\"")
    st = Store(store)
    if not st.path.exists():
        _fail(f"{'--store ' + str(store) if store is not None else st.path}: no such store. "
              "Fix: check the path (`onward run` creates a store), or leave --store out for "
              "./onward.duckdb")
    try:
        df = st.query(sql)
    except StoreBusyError as exc:  # (its message says what holds the store and the fix)
        _fail(str(exc))
    except StoreError as exc:
        text = str(exc).rstrip().rstrip("!.")
        fix = ("the store is opened read-only here: onward writes it through its commands"
               if "read-only" in text else
               "`onward query \"show tables\"` lists the tables and `onward query "
               "\"describe TABLE\"` a table's columns")
        _fail(f"{text}. Fix: {fix}")
    # DuckDB's sum of integers is a HUGEINT, which pandas receives as float64: whole
    # numbers print as whole numbers ("6", not "6.0")
    df = _whole_as_int(df)
    if as_csv:
        sys.stdout.write(df.to_csv(index=False))
        return
    if as_json:
        sys.stdout.write(df.to_json(orient="records", date_format="iso", indent=1) + "\n")
        return
    if df.empty:
        out.print(f"no rows ({', '.join(map(str, df.columns)) or 'no columns'})",
                  markup=False, highlight=False)
        return
    shown = df.head(limit)
    t = Table(box=box.SIMPLE_HEAD)
    for col in shown.columns:
        numeric = pd.api.types.is_numeric_dtype(shown[col])
        t.add_column(escape(str(col)), justify="right" if numeric else "left",
                     overflow="fold")
    for row in shown.itertuples(index=False):
        t.add_row(*("" if _missing(v) else escape(_cell(v)) for v in row))
    out.print(t)
    out.print(f"{len(shown)} of {len(df):,} rows (--limit N shows more, --csv or --json all)"
              if len(shown) < len(df) else f"{len(df):,} row{'' if len(df) == 1 else 's'}",
              markup=False, highlight=False)


def _whole_as_int(df: Any) -> Any:
    """``df`` with each float column that holds whole numbers only (below 2**53, where a
    float is exact; gaps allowed) as nullable integers, so that it prints 6, not 6.0."""
    whole = {c: "Int64" for c in df.columns if df[c].dtype.kind == "f"
             and bool((df[c].dropna() % 1 == 0).all())
             and bool((df[c].dropna().abs() < 2**53).all())}
    return df.astype(whole) if whole else df


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array is not missing
        return False


def _cell(value: Any) -> str:
    """A query result's value as the table shows it: floats to 6 significant digits."""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _export_calibration(st: Any, name: str, gens: Any, folder: Path, fmt: str) -> list[Path]:
    """A calibration's generations (epsilon, acceptance, simulations), every generation's
    particles and weights (``posterior``, long, with its generation) and its settings
    (``calibration.json``: scenario, hash, seed, priors, the scenario's YAML)."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    post = pd.concat([st.read_table("posterior", rid).assign(generation=int(g))
                      for rid, g in zip(gens.run_id, gens.generation, strict=True)],
                     ignore_index=True)
    files = [_write_frame(gens.drop(columns=["settings"]), folder / "generations", fmt),
             _write_frame(post, folder / "posterior", fmt)]
    path = folder / "calibration.json"
    path.write_text(json.dumps({"name": name, **json.loads(gens.settings.iloc[0])}, indent=2,
                               default=str) + "\n")
    return [*files, path]


def _export_flee_out(st: Any, run_id: str, folder: Path) -> Path:
    """A Flee folder's run as Flee 3.1 writes it: ``out.csv`` (Day, Date, each camp's
    ``sim`` and ``data``, the totals), which FabFlee's plotting scripts read."""
    from onward.flee.summary import out_csv_table

    path = folder / "out.csv"
    out_csv_table(st.read_table("flee_camps", run_id), st.read_table("flee_totals", run_id)
               ).to_csv(path, index=False)
    return path


def _export_experiment(st: Any, exp_id: str, folder: Path, fmt: str) -> list[Path]:
    """An experiment's summary tables (each summary run's export) and every replicate's
    values (``experiment_values``), in one folder."""
    from onward.report.experiment import experiment_rows
    from onward.store import is_job_kind

    runs = experiment_rows(exp_id, st)
    summaries = runs[~is_job_kind(runs.kind)] if len(runs) else runs
    if summaries.empty:
        _fail(f"no experiment '{exp_id}' in {st.path}. Fix: `onward runs` lists the stored "
              "experiments")
    files: list[Path] = []
    for rid in summaries.run_id:
        files += [f for f in st.export(rid, folder, fmt=fmt) if f not in files]
    values = st.query("select * from experiment_values where experiment_id = ? "
                      "order by run_id", [exp_id])
    if len(values):
        files.append(_write_frame(values, folder / "experiment_values", fmt))
    return files


def _write_frame(df: Any, stem: Path, fmt: str) -> Path:
    """``df`` as ``stem.csv`` or ``stem.parquet`` (no index); the path written."""
    path = stem.with_suffix(f".{fmt}")
    if fmt == "csv":
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


# --- dashboard --------------------------------------------------------------------------------


@app.command()
def dashboard(
    host: Annotated[str, typer.Option("--host", help="address to serve on; anything other "
                                      "than loopback must be asked for")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to serve on")] = 8765,
    scenarios_dir: Annotated[Path | None, typer.Option(
        "--scenarios", help="folder of saved scenario YAML files (default: here)")] = None,
    store: StoreOpt = None,
) -> None:
    """Serve the interactive dashboard (Solara) on http://127.0.0.1:8765/."""
    from onward.dashboard.server import ServerError, serve

    try:
        serve(host, port, store, scenarios_dir)
    except ServerError as exc:
        _fail(str(exc))


# --- entry point ------------------------------------------------------------------------------


def _show_warnings_as_lines() -> None:
    """onward's own warnings (e.g. a posterior read from an unfinished calibration) print as
    one 'warning:' line on stderr instead of Python's file:line form."""
    import warnings

    from onward.calibration import PosteriorWarning
    from onward.store import StoreBusyWarning
    from onward.workers import ClusterWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        if issubclass(category, PosteriorWarning | ClusterWarning | StoreBusyWarning):
            _warn(str(message))
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def main() -> None:
    """Console-script entry point: run the app, turning known errors into one message."""
    import signal

    from onward.calibration import CalibrationError
    from onward.engine.compile import OverrideError
    from onward.engine.model import NumericalError
    from onward.scenario import ScenarioError
    from onward.store import StoreError
    from onward.workers import ClusterError

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    _show_warnings_as_lines()
    try:
        try:
            code = app(standalone_mode=False, prog_name="onward")
        except Exception as exc:
            # Ctrl-C inside a compiled stage surfaces as SystemError ("... returned a result
            # with an exception set") caused by the KeyboardInterrupt, and inside a DuckDB
            # statement as its "Query interrupted" (the transaction is rolled back)
            if _interrupted(exc):
                raise KeyboardInterrupt from None
            raise
        # without standalone mode Typer returns an exit code where it would exit: 130 for
        # Ctrl-C, or the code of a typer.Exit a command raised (that exit status was lost)
        if code == 130 or _CTRL_C["seen"]:
            raise KeyboardInterrupt
        if isinstance(code, int) and not isinstance(code, bool) and code != 0:
            raise SystemExit(code)
    except (ScenarioError, StoreError, OverrideError, NumericalError, UserError,
            CalibrationError, ValueError, ClusterError) as exc:
        _exit_with_error(str(exc))
    except KeyboardInterrupt:
        if not _CTRL_C["explained"]:  # (a command that said what it kept has said enough)
            err.print("interrupted; results of finished runs are kept in the store; run the "
                      "same command again to go on (an experiment skips its finished runs)")
        raise SystemExit(130) from None
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):  # e.g. `onward data T --csv | head`
            raise
        # a file or folder the command could not read or write (a missing parent folder,
        # no permission, a full disk): name it rather than print a traceback
        if not exc.filename:  # not a path: a network or system error, as it says
            _exit_with_error(str(exc.strerror or exc))
        if isinstance(exc, FileExistsError | NotADirectoryError) and Path(
                exc.filename).is_file():  # a folder was needed where a file is
            _exit_with_error(f"cannot use {exc.filename}: it is a file, and a folder is "
                             "needed there. Fix: give a path whose folders are folders")
        _exit_with_error(f"cannot use {exc.filename}: {exc.strerror or exc}. Fix: check that "
                         "the path exists and is writable (or give another with the "
                         "command's path option)")
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        raise SystemExit(1) from None
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        if _is_click_error(exc):
            exc.show()  # "Usage: ..." and the problem, as click prints them
            raise SystemExit(exc.exit_code) from None
        raise


def _interrupted(exc: BaseException) -> bool:
    """Whether a Ctrl-C is among the causes of ``exc``: a KeyboardInterrupt, or DuckDB's
    interruption of a statement (:func:`onward.store.duck.is_interrupt`)."""
    from onward.store.duck import is_interrupt

    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        if isinstance(e, KeyboardInterrupt) or is_interrupt(e):
            return True
        seen.add(id(e))
        e = e.__cause__ or e.__context__
    return False


def _at(store: Path | None) -> str:
    """`` --store PATH`` for the commands a command suggests, when it was given one: run
    ids restart in each store, so without it they would read ./onward.duckdb's."""
    return "" if store is None else f" --store {shlex.quote(str(store))}"


def _stored_on_stderr(experiment_id: str, store: Path | None) -> None:
    """With --json, stdout holds the JSON only: the id for `onward report` goes to stderr."""
    err.print(f"experiment {experiment_id} stored (onward report {experiment_id}{_at(store)})",
              markup=False, highlight=False)


def _warn(message: str) -> None:
    """Print ``warning: message`` on stderr (the message is text, never markup: it may quote
    a user's file, as ``[bold]Niger``)."""
    err.print(f"[yellow]warning:[/] {escape(message)}", markup=True, highlight=False)


def _exit_with_error(message: str) -> NoReturn:
    """Print ``error: message`` on stderr and exit with status 2."""
    err.print(f"[red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise SystemExit(2) from None


def _is_click_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a click usage or parameter error: click's own, or the copy of
    click that newer Typer releases carry inside (``typer._click``), which click's class
    does not match."""
    try:
        import click  # not a dependency of Typer 0.29, which carries its own copy
    except ImportError:
        click = None
    if click is not None and isinstance(exc, click.ClickException):
        return True
    return any(k.__name__ == "ClickException" and k.__module__.endswith("exceptions")
               for k in type(exc).__mro__) and callable(getattr(exc, "show", None))


if __name__ == "__main__":
    main()
