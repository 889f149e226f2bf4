"""Run checked settings and read the results store, for the dashboard.

Three rules keep one dashboard responsive and safe for many open pages:

* **Work happens in worker processes.** A run (the engine, the summary against the data
  and the chart's PNG) goes to a pool of :data:`MAX_RUNNING` processes, one per core at
  most, so the server process only validates input and moves small results around and the
  pages stay live while simulations run.
* **A bounded queue.** At most :data:`MAX_WAITING` runs wait for a worker; one more is
  refused with a message rather than queued without end. Identical requests (same
  scenario, seed and last year: runs are deterministic) are answered from a small cache.
* **Short-lived store connections.** Every read opens the DuckDB file read-only, reads and
  closes it (:class:`onward.store.Store` does this), and gives up after
  :data:`STORE_TIMEOUT` seconds, so a running ``onward run`` is never locked out for longer
  than one small read and a busy store shows as a message, not a frozen page.

Nothing here raises: each function returns its result or a message for the page.
"""

from __future__ import annotations

import base64
import functools
import io
import json
import multiprocessing
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from onward.analysis.numbers import count_text
from onward.analysis.runs import (
    applications_summary,
    claim_total_text,
    claim_totals,
    observed_first_claims,
)
from onward.arguments import years_label
from onward.dashboard.inputs import Checked
from onward.scenario import (
    Scenario,
    ScenarioError,
    builtin_names,
    load_scenario,
    load_text,
    scenario_hash,
)

if TYPE_CHECKING:  # (the report's module loads matplotlib: only the workers need it)
    from onward.report.experiment import StoredExperiment
    from onward.store import Store

#: Worker processes for runs and charts (one per core, at most 4).
MAX_RUNNING = max(1, min(4, os.cpu_count() or 1))
#: Runs that may wait for a worker; one more is refused with a message.
MAX_WAITING = 32
#: Finished runs kept to answer identical requests.
CACHE_SIZE = 64
#: Seconds a store read retries on a lock held by a writer before it reports "busy".
STORE_TIMEOUT = 2.0
#: Stored runs listed at most.
MAX_LISTED_RUNS = 500

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_pending = 0
_cache: OrderedDict[tuple[Any, ...], Outcome] = OrderedDict()
_RUN_ID = re.compile(r"run-\d{1,12}")


@dataclass(frozen=True)
class Outcome:
    """One finished dashboard run, or why there is none (``messages``)."""

    ok: bool
    messages: list[str] = field(default_factory=list)
    description: str = ""
    summary: pd.DataFrame | None = None
    totals: pd.DataFrame | None = None
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0
    event_date: str | None = None
    chart: str = ""  # the flows chart as a data: URI (PNG)
    #: what the observed counts are (the toy's are synthetic, not UNHCR's)
    observed_source: str = "UNHCR first claims"
    #: the scenario that ran (a comparison of two scenarios says so)
    scenario: str = ""
    #: the scenario as run (the page's values written in), to say how two runs differ
    run: Scenario | None = None

    @property
    def years(self) -> tuple[int, int] | None:
        """The first and last year simulated (``None`` without a summary)."""
        if self.summary is None or self.summary.empty:
            return None
        return int(self.summary.year.min()), int(self.summary.year.max())


def years_text(years: tuple[int, int] | None) -> str:
    """``"2000-2005"`` (one year alone; ``"?"`` when unknown), as
    :func:`onward.arguments.years_label` labels a span everywhere else."""
    if years is None:
        return "?"
    return years_label(range(years[0], years[1] + 1))


def compare_totals(a: Outcome, b: Outcome) -> tuple[pd.DataFrame, list[str]]:
    """Simulated first claims per destination of A and B: ``(table, problems)``.

    Each column is labelled with the years it sums. ``B - A`` is there only when both ran
    the same years: otherwise it would set totals over different periods against each
    other (as ``onward compare`` refuses to), and ``problems`` says so and what to do.
    """
    assert a.totals is not None and b.totals is not None
    ya, yb = a.years, b.years
    col_a, col_b = f"simulated A ({years_text(ya)})", f"simulated B ({years_text(yb)})"
    table = a.totals[["destination", "simulated"]].rename(columns={"simulated": col_a}).merge(
        b.totals[["destination", "simulated"]].rename(columns={"simulated": col_b}),
        on="destination", how="outer").fillna(0)
    if ya != yb:
        return table, [
            f"A ran {years_text(ya)} and B {years_text(yb)}: B - A would set totals over "
            "different periods against each other, so it is not shown. Fix: type "
            f"{ya[1] if ya else '?'} in Last year and Run again, or keep a run over "
            f"{years_text(yb)} as A"]
    table["B - A"] = table[col_b] - table[col_a]
    return table, []


def _totals(summary: pd.DataFrame) -> pd.DataFrame:
    """Per destination: simulated total, and simulated vs observed over the observed years.

    :func:`onward.analysis.runs.claim_totals` over every year run, so a masked count (UNHCR
    prints 5 for 1-5) makes the observed total a range, ``observed_lower`` to ``observed``,
    as in the CLI and the report; ``simulated`` sums all years.
    """
    t = claim_totals(summary, sorted(int(y) for y in summary.year.unique()))
    out = t.rename(columns={"simulated": "simulated_observed_years",
                            "simulated_all_years": "simulated"})
    out = out[["destination", "simulated", "simulated_observed_years", "observed",
               "observed_lower", "ratio", "ratio_lower_observed"]]
    out = out.fillna({"simulated_observed_years": 0})
    return out.sort_values("simulated", ascending=False, kind="stable").reset_index(drop=True)


def totals_shown(totals: pd.DataFrame, source: str = "observed") -> pd.DataFrame:
    """The totals table as the page shows it: an observed total with a masked count in it is
    a range (``"135-199"``) and so is its ratio, as ``onward run`` prints them."""
    text = [claim_total_text(r) for r in totals.itertuples()]
    return pd.DataFrame({
        "destination": totals.destination,
        "simulated (all years)": totals.simulated,
        "simulated (observed years)": totals.simulated_observed_years,
        source: [o for o, _ in text],
        "simulated / observed": [r for _, r in text],
    })


def flows_table(sc: Scenario, res) -> pd.DataFrame:
    """Simulated vs observed first claims per year and destination, with UNHCR's intervals.

    Columns ``year``, ``destination``, ``simulated``, ``direct``, ``observed``, ``lower``,
    ``upper`` (the [1, 5] masking of small counts), ``masked`` and ``held_out``.
    """
    summary = applications_summary(sc, res)  # (with lower and upper)
    obs = observed_first_claims(sc)[["year", "destination", "masked"]]
    obs = obs.astype({"year": "int64", "destination": "object"})
    return summary.merge(obs, on=["year", "destination"], how="left")


def chart_uri(summary: pd.DataFrame, title: str, event_date: str | None) -> str:
    """The flows chart as a ``data:image/png;base64,...`` URI."""
    from onward.dashboard.figures import flows_figure

    buf = io.BytesIO()
    flows_figure(summary, title, event_date).savefig(buf, format="png")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _simulate_job(sc: Scenario, seed: int | None, until: int | None, title: str,
                  event_date: str | None) -> tuple[pd.DataFrame, float, str]:
    """Runs in a worker process: simulate, summarise, draw."""
    from onward import simulate

    res = simulate(sc, seed=seed, until=until)
    summary = flows_table(sc, res)
    return summary, res.engine_seconds, chart_uri(summary, title, event_date)


def _chart_job(summary: pd.DataFrame, title: str, event_date: str | None) -> str:
    return chart_uri(summary, title, event_date)


def _exit_with_parent(parent: int) -> None:
    """In a worker: exit as soon as the server process is gone (even after a SIGKILL)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn, not fork: the server process runs threads (uvicorn, Solara's kernels)
        _pool = ProcessPoolExecutor(MAX_RUNNING, mp_context=multiprocessing.get_context("spawn"),
                                    initializer=_exit_with_parent, initargs=(os.getpid(),))
    return _pool


def _submit(fn, *args) -> Future | str:
    """Queue a job on the pool, or return why not."""
    global _pending, _pool
    with _lock:
        if _pending >= MAX_RUNNING + MAX_WAITING:
            return (f"The server is busy ({_pending - MAX_RUNNING} runs waiting). Fix: try "
                    "again in a minute")
        try:
            fut = _get_pool().submit(fn, *args)
        except (BrokenProcessPool, RuntimeError):
            _pool = None  # a worker died (e.g. out of memory): start a fresh pool
            fut = _get_pool().submit(fn, *args)
        _pending += 1

    def done(_: Future) -> None:
        global _pending
        with _lock:
            _pending -= 1

    fut.add_done_callback(done)
    return fut


def _wait(fut: Future | str, wait: float) -> tuple[Any, str]:
    if isinstance(fut, str):
        return None, fut
    try:
        return fut.result(timeout=wait), ""
    except FutureTimeout:
        return None, f"No result within {wait:g} s (the server is busy). Fix: try again later"
    except BrokenProcessPool:
        global _pool
        with _lock:
            _pool = None
        return None, "The worker running this stopped unexpectedly. Fix: run again"
    except Exception as exc:  # an engine error is shown on the page, never raised there
        return None, f"The run failed: {type(exc).__name__}: {str(exc)[:300]}"


def run_checked(checked: Checked, wait: float = 600.0) -> Outcome:
    """Simulate a checked setting in a worker (nothing is written) and summarise it."""
    key = (scenario_hash(checked.scenario), checked.seed, checked.until)
    event_date = checked.moved_event[1] if checked.moved_event else None
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
    if hit is not None:
        return Outcome(True, [], checked.description, hit.summary, hit.totals,
                       hit.engine_seconds, 0.0, event_date, hit.chart, hit.observed_source,
                       hit.scenario, hit.run)
    t0 = time.perf_counter()
    got, message = _wait(_submit(_simulate_job, checked.scenario, checked.seed, checked.until,
                                 checked.description, event_date), wait)
    if got is None:
        return Outcome(False, [message], checked.description)
    summary, engine_seconds, chart = got
    from onward.viz import observed_label

    out = Outcome(True, [], checked.description, summary, _totals(summary), engine_seconds,
                  time.perf_counter() - t0, event_date, chart,
                  observed_label(checked.scenario), checked.scenario.name, checked.scenario)
    with _lock:
        _cache[key] = out
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return out


def compare_scenarios(a: Outcome, b: Outcome) -> tuple[str, str]:
    """How A's and B's scenarios differ: ``(warning, note)``, each ``""`` when it has nothing
    to say.

    B - A needs A and B alike in their destinations and observed data (their years are
    :func:`compare_totals`' business). Two scenarios that differ there get the warning; a
    variant of A's scenario (``extends:`` it, an event added, say) is the policy comparison
    itself, and the note says what it changes.
    """
    if a.scenario == b.scenario:
        return "", ""
    if a.run is None or b.run is None:  # cannot tell what differs: say only what is known
        return (f"A ran {a.scenario} and B {b.scenario}: check that they share destinations "
                "and observed data before reading B - A."), ""
    apart = []
    if set(a.run.destination_codes) != set(b.run.destination_codes):
        apart.append(f"destinations ({', '.join(a.run.destination_codes)} against "
                     f"{', '.join(b.run.destination_codes)})")
    if a.run.calibration != b.run.calibration:
        apart.append("observed data and calibration years")
    if apart:
        return (f"A ran {a.scenario} and B {b.scenario}, which differ in their "
                f"{' and '.join(apart)}, so B - A mixes those differences with the policy's. "
                f"Fix: keep a run of {b.scenario} as A to compare its settings"), ""
    from onward.scenario.diff import scenario_changes

    changes = scenario_changes(a.run, b.run)
    if not changes:
        return "", f"B's scenario {b.scenario} runs the same as A's {a.scenario}."
    more = f"; and {len(changes) - 6} more" if len(changes) > 6 else ""
    return "", (f"B's scenario {b.scenario} against A's {a.scenario} (same destinations and "
                f"data): {'; '.join(changes[:6])}{more}.")


def chart_for(summary: pd.DataFrame, title: str, wait: float = 120.0) -> tuple[str, str]:
    """Draw a flows chart in a worker: ``(data URI, "")`` or ``("", message)``."""
    got, message = _wait(_submit(_chart_job, summary, title, None), wait)
    return (got, "") if got else ("", message or "no chart")


# ---------------------------------------------------------------------------- scenarios


def scenario_choices(folder: Path | None) -> dict[str, str]:
    """Scenarios a page may pick: ``{key: label}``, built-ins first, then YAML files in ``folder``.

    Keys are ``builtin:<name>`` and ``file:<name>``; only these keys are ever loaded, so a
    page cannot make the server read any other file.
    """
    out = {f"builtin:{n}": f"{n} (built-in)" for n in builtin_names()}
    if folder is not None and folder.is_dir():
        try:
            files = sorted(p for p in folder.iterdir()
                           if p.suffix in (".yaml", ".yml") and p.is_file())[:200]
        except OSError:
            files = []
        for p in files:
            out[f"file:{p.name}"] = f"{p.name} (saved)"
    return out


@functools.lru_cache(maxsize=32)
def _load_file(path: str, mtime: float) -> Scenario:
    return load_scenario(path)


def load_choice(key: str, folder: Path | None, store: Path | None = None
                ) -> tuple[Scenario | None, str]:
    """Load the scenario a page picked: ``(scenario, "")`` or ``(None, message)``."""
    try:
        if isinstance(key, str) and key.startswith("run:"):
            return _load_run_scenario(key[4:], store)
        if key not in scenario_choices(folder):
            return None, f"Scenario {str(key)[:60]!r} is not on offer. Fix: pick one from the list"
        kind, name = key.split(":", 1)
        if kind == "builtin":
            return _load_builtin(name), ""
        assert folder is not None
        path = folder / name
        return _load_file(str(path), path.stat().st_mtime), ""
    except ScenarioError as exc:
        return None, "This scenario does not load: " + "; ".join(exc.messages[:3])
    except Exception as exc:
        return None, f"This scenario does not load: {type(exc).__name__}: {str(exc)[:200]}"


@functools.lru_cache(maxsize=8)
def _load_builtin(name: str) -> Scenario:
    return load_scenario(name)


def _load_run_scenario(run_id: str, store: Path | None) -> tuple[Scenario | None, str]:
    from onward.store import Store, StoreError

    if not _RUN_ID.fullmatch(run_id):
        return None, f"{run_id[:40]!r} is not a run id"
    try:
        meta = Store(store, timeout=STORE_TIMEOUT).get_run(run_id)
    except (StoreError, OSError) as exc:
        return None, str(exc)
    text = meta.get("scenario_yaml")
    if not text:
        return None, f"{run_id} did not store its scenario (older run or not `onward run`)"
    return load_text(text, f"{run_id}.yaml"), ""


def run_setting(run_id: str, store: Path | None) -> tuple[str, str]:
    """The seed and the overrides (as lines of the overrides field) a stored run ran
    with: opening a run of ``onward run --posterior`` took its file only, so running it
    again gave the plain scenario's numbers."""
    from onward.store import Store, StoreError

    if not _RUN_ID.fullmatch(run_id):
        return "", ""
    try:
        meta = Store(store, timeout=STORE_TIMEOUT).get_run(run_id)
    except (StoreError, OSError):
        return "", ""
    overrides = meta.get("overrides") or {}
    lines = "\n".join(f"{k} = {float(v)!r}" for k, v in sorted(overrides.items()))
    seed = meta.get("seed")
    return ("" if seed is None else str(int(seed))), lines


# ---------------------------------------------------------------------------- store


def _list_runs(store: Path | None) -> tuple[pd.DataFrame | None, str]:
    """Every row of the store's runs table, or ``(None, message)`` when it cannot be read."""
    from onward.store import Store, StoreError

    try:
        return Store(store, timeout=STORE_TIMEOUT).list_runs(), ""
    except StoreError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"Could not read the store: {type(exc).__name__}: {str(exc)[:200]}"


def stored_runs(store: Path | None) -> tuple[pd.DataFrame | None, str]:
    """The runs in the store, newest first: ``(table, "")`` or ``(None, message)``."""
    df, message = _list_runs(store)
    if df is None:
        return None, message
    if "kind" in df.columns:  # the runs this page can show: those of `onward run` (an
        # experiment's, a calibration's or a Flee folder's rows could be picked, then said
        # "has no simulated-vs-observed table")
        df = df[df.kind == "run"]
    # a run of a posterior says so (it looked the same as the plain run of its scenario)
    posterior = [(json.loads(x) if isinstance(x, str) else x or {}).get("posterior") or ""
                 for x in df.get("extra", pd.Series([None] * len(df), index=df.index))]
    df = df.assign(posterior=posterior)
    cols = [c for c in ("run_id", "kind", "scenario", "posterior", "seed", "created_at",
                        "engine_seconds") if c in df.columns]
    out = df[cols].head(MAX_LISTED_RUNS).reset_index(drop=True)
    if "created_at" in out.columns:  # to the second (microseconds said nothing)
        out["created_at"] = pd.to_datetime(out.created_at).dt.strftime("%Y-%m-%d %H:%M:%S")
    if "seed" in out.columns:  # a seed is an id: no thousands separators in the table
        out["seed"] = [("" if pd.isna(v) else str(int(v))) for v in out.seed]
    return out, ""


#: The kinds of the experiments' summaries that Stored runs lists beside the runs.
EXPERIMENT_KINDS = ("compare", "sensitivity", "destinations", "ensemble")


def stored_experiments(store: Path | None) -> tuple[pd.DataFrame | None, str]:
    """The experiments in the store (compare, sensitivity, destinations, ensemble), newest
    first, with their id (what ``onward report`` takes) and kind: ``(table, "")`` or
    ``(None, message)``. Their single runs (``-job`` kinds) are not listed."""
    df, message = _list_runs(store)
    if df is None:
        return None, message
    if "kind" not in df.columns:
        return df.iloc[0:0], ""
    df = df[df.kind.isin(EXPERIMENT_KINDS)].head(MAX_LISTED_RUNS)
    extra = [(json.loads(x) if isinstance(x, str) else x or {})
             for x in df.get("extra", pd.Series([None] * len(df), index=df.index))]
    out = pd.DataFrame({
        "experiment": [str(e.get("experiment_id") or "") for e in extra],
        "kind": df.kind.astype(str).tolist(),
        "scenario": df.scenario.astype(str).tolist() if "scenario" in df else "",
        "run_id": df.run_id.astype(str).tolist(),
        "created_at": pd.to_datetime(df.created_at).dt.strftime("%Y-%m-%d %H:%M:%S").tolist()
        if "created_at" in df else "",
    })
    return out, ""


def stored_flows(store: Path | None, run_id: str) -> tuple[pd.DataFrame | None, str]:
    """Simulated vs observed first claims of a stored run: ``(table, "")`` or ``(None, msg)``."""
    from onward.store import Store, StoreError

    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        return None, f"{str(run_id)[:40]!r} is not a run id. Fix: pick one from the list"
    try:
        df = Store(store, timeout=STORE_TIMEOUT).read_table("summary_applications", run_id)
    except StoreError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"Could not read {run_id}: {type(exc).__name__}: {str(exc)[:200]}"
    if df.empty:
        return None, f"{run_id} has no simulated-vs-observed table (not written by `onward run`)"
    return df.drop(columns=["run_id"]), ""


# ---------------------------------------------------------------------------- experiments

#: An experiment's id as the store and ``onward report`` name it.
_EXPERIMENT_ID = re.compile(r"(?:ensemble|compare|sensitivity|destinations)-[0-9a-f]{1,64}")


@dataclass(frozen=True)
class Part:
    """One piece of a stored experiment on the page: a heading, then a sentence, a chart
    (a PNG ``data:`` URI) and a table, each where it has one. ``name`` marks it for
    styles and tests (``onward-exp-<name>``)."""

    title: str
    name: str
    text: str = ""
    chart: str = ""
    table: pd.DataFrame | None = None


@dataclass(frozen=True)
class ExperimentView:
    """What the page shows of one stored experiment: what was run (``facts``, a table of
    two columns), warnings (``notes``: an experiment with jobs missing) and its ``parts``."""

    experiment: str
    kind: str
    facts: pd.DataFrame
    parts: list[Part]
    notes: list[str] = field(default_factory=list)


class _MissingRows(Exception):
    """An experiment is listed (its summary row is there) but a table of it is empty."""


def _chart(draw: Callable[[], Any], name: str) -> tuple[str, str]:
    """Draw a figure and encode it: ``(data URI, "")``, or ``("", why not)``."""
    from onward.viz import png_base64

    try:
        return "data:image/png;base64," + png_base64(draw(), dpi=90), ""
    except Exception as exc:  # a chart must never cost the user the rest of the page
        return "", f"({name} could not be drawn: {type(exc).__name__}: {str(exc)[:200]})"


def _chart_part(draw: Callable[[], Any], title: str, name: str, caption: str) -> Part:
    uri, problem = _chart(draw, title)
    return Part(title, name, problem or caption, uri)


def _missing(e: StoredExperiment, table: str) -> _MissingRows:
    return _MissingRows(
        f"{e.id} is listed in the store, but its rows of {table} are missing (an "
        f"interrupted run, or rows deleted). Fix: run the `onward {e.kind}` "
        "command that made it again (the jobs already stored are not run again), then "
        "press Refresh; or pick another experiment")


def compare_claims(values: pd.DataFrame, observed: dict[str, tuple[str, pd.DataFrame]],
                   years: list[int], destinations: list[str] | None = None) -> pd.DataFrame:
    """A comparison's first claims, scenario beside scenario, against the observed ones.

    For each scenario (``label`` of its ``values``) and replicate,
    :func:`onward.analysis.runs.claim_totals` over ``years`` (like for like: the simulated
    total counts the years with a data row), then the median over replicates; shown as
    ``onward run`` prints totals (:func:`onward.analysis.runs.claim_total_text`: a masked
    count makes the observed total a range, and the ratio one too). A destination without
    a data row shows its simulated total over every year, and ``-``. ``observed``: each
    scenario's source and first claims (year, destination, observed, lower, upper); one
    column serves scenarios with the same counts.
    """
    app = values[values.output == "applications"]
    labels = list(dict.fromkeys(app.label))
    dests = [d for d in dict.fromkeys(app.destination)
             if not destinations or d in destinations]
    none = pd.DataFrame(columns=["year", "destination", "observed", "lower", "upper"])
    said: dict[str, list[str]] = {}
    simulated: dict[str, tuple[list[str], list[str]]] = {}  # label: (totals, ratios)
    for label in labels:
        obs = observed.get(label, ("", none))[1]
        obs = obs[["year", "destination", "observed", "lower", "upper"]].astype(
            {"year": "int64", "destination": "object", "observed": "float64",
             "lower": "float64", "upper": "float64"})
        per = []
        for _, g in app[app.label == label].groupby("replicate"):
            summary = g[["year", "destination", "value"]].rename(
                columns={"value": "simulated"}).astype({"year": "int64"}).merge(
                obs, on=["year", "destination"], how="left")
            per.append(claim_totals(summary, years))
        # the observed columns are the same in every replicate and the ratio is the total
        # over them, so their medians are the median replicate's
        tot = pd.concat(per).groupby("destination").median(numeric_only=True)
        texts, totals, ratios = [], [], []
        for d in dests:
            if d not in tot.index:  # a destination only the other scenarios have
                texts.append("-"), totals.append("0"), ratios.append("-")
                continue
            r = tot.loc[d]
            text, ratio = claim_total_text(r)
            texts.append(text)
            ratios.append(ratio)
            # a median of an even number of replicates may be a half: away from zero
            totals.append(count_text(r.simulated_all_years if text == "-" else r.simulated,
                                     ","))
        said[label] = texts
        simulated[label] = (totals, ratios)
    out = pd.DataFrame({"destination": dests})
    source = {label: observed.get(label, ("none", none))[0] or "none" for label in labels}
    # one observed column serves every scenario of the same data (a policy's variant)
    shared = len({(source[k], tuple(v)) for k, v in said.items()}) == 1
    if shared:
        out[f"observed ({source[labels[0]]})"] = said[labels[0]]
    for label in labels:
        if not shared:
            out[f"{label}: observed ({source[label]})"] = said[label]
        out[f"{label}: simulated"], out[f"{label}: simulated / observed"] = simulated[label]
    return out


def _ensemble_parts(st: Store, e: StoredExperiment) -> list[Part]:
    from onward.experiments.ensemble import bands_text
    from onward.experiments.runner import output_unit
    from onward.report.experiment import applications_chart
    from onward.store import experiment_table
    from onward.viz import observed_label

    bands = experiment_table(st, "ensemble_bands", e.id)
    if bands.empty:
        raise _missing(e, "ensemble_bands")
    parts = []
    for o in dict.fromkeys(bands.output):
        b = bands[bands.output == o]
        if o == "applications":
            parts.append(_chart_part(
                lambda b=b: applications_chart(e, b), "Applications by destination",
                "chart-applications", "Ensemble median with 50% and 90% bands vs observed "
                f"first claims ({observed_label(e.scenario)})."))
        parts.append(Part(f"{o} ({output_unit(o)}): median [90% band] over "
                          f"{int(b.n.max())} replicates", f"bands-{o}", table=bands_text(b)))
    return parts


def _compare_parts(st: Store, e: StoredExperiment) -> list[Part]:
    from onward.arguments import label_years
    from onward.report.experiment import (
        compare_charts,
        effects_tables,
        experiment_scenarios,
        scenario_changes_of,
    )
    from onward.store import experiment_table
    from onward.viz import observed_label

    effects = experiment_table(st, "compare_effects", e.id)
    if effects.empty:
        raise _missing(e, "compare_effects")
    if e.values.empty:
        raise _missing(e, "experiment_values")
    parts = []
    for alt, said in scenario_changes_of(e.recorded, e.baseline).items():
        parts.append(Part(f"{alt} changes against {e.baseline}", "changes",
                          "; ".join(said) or "nothing that changes a run"))
    if "applications" in e.outputs:
        period = str(effects.period.iloc[0])
        years = [y for y in label_years(period) if y in set(e.values.year)] or sorted(
            e.values.year.unique())
        chosen = list(dict.fromkeys(effects.destination))
        observed = {name: (observed_label(sc), observed_first_claims(sc))
                    for name, sc in experiment_scenarios(e).items() if sc is not None}
        parts.append(Part(
            f"First claims over {period}, scenario beside scenario", "claims",
            "Simulated: the median over the replicates of each scenario's total, summed "
            "over the years with a data row, so the ratio sets like against like; a "
            "destination without one shows its simulated total over every year. A masked "
            "count (1-5) makes the observed total a range, and the ratio one too.",
            table=compare_claims(e.values, observed, years, chosen)))
    for o, draw, text in compare_charts(e, effects):
        parts.append(Part(f"{o} by scenario", f"chart-{o}", text) if draw is None
                     else _chart_part(draw, f"{o} by scenario", f"chart-{o}", text))
    for alt, caption, table in effects_tables(effects, e.baseline):
        parts.append(Part(f"Effects of {alt} against {e.baseline}", "effects", caption,
                          table=table))
    return parts


def _sensitivity_parts(st: Store, e: StoredExperiment) -> list[Part]:
    from onward.report.experiment import sensitivity_analyses

    analyses = sensitivity_analyses(st, e.id, e.summary)
    if not analyses:
        raise _missing(e, "sensitivity_indices")
    parts = []
    for sentence, caption, wide in analyses:
        shown = wide.copy()
        shown.columns.name = None  # (pivot's "index")
        for col in shown.columns[1:]:  # three decimals, as the report rounds them
            # (Morris's mu* column is text already: mu* [low-high], as the report shows it)
            shown[col] = [v if isinstance(v, str) else "–" if v != v else f"{v:.3f}"
                          for v in shown[col]]
        parts.append(Part("Which mechanism matters", "indices",
                          f"{sentence} Table: {caption}.", table=shown))
    return parts


def _destinations_parts(st: Store, e: StoredExperiment) -> list[Part]:
    from onward.report.experiment import (
        DESTINATIONS_CAPTION,
        destination_summary,
        destinations_chart,
        destinations_table,
    )

    summary = destination_summary(st, e.id)
    if summary.empty:
        raise _missing(e, "destination_summary")
    return [_chart_part(lambda: destinations_chart(summary, e.values, e.first),
                        "Destinations side by side", "chart-destinations",
                        DESTINATIONS_CAPTION),
            Part("Median [90% interval] per destination", "destinations",
                 table=destinations_table(summary))]


_PARTS = {"ensemble": _ensemble_parts, "compare": _compare_parts,
          "sensitivity": _sensitivity_parts, "destinations": _destinations_parts}


def experiment_view(store: Path | None, exp_id: str) -> tuple[ExperimentView | None, str]:
    """What the page shows of stored experiment ``exp_id``, read and drawn here (the
    worker that :func:`stored_experiment` sends it to): ``(view, "")`` or ``(None,
    message)``. The readers and figures are the report's
    (:mod:`onward.report.experiment`); every read opens and closes the store file."""
    from onward.report.experiment import experiment_facts, read_experiment
    from onward.store import Store, StoreError, UnknownRunError

    if not isinstance(exp_id, str) or not _EXPERIMENT_ID.fullmatch(exp_id):
        return None, f"{str(exp_id)[:40]!r} is not an experiment id. Fix: pick one from the list"
    st = Store(store, timeout=STORE_TIMEOUT)
    try:
        e = read_experiment(exp_id, st)
        parts = _PARTS[e.kind](st, e)
        facts = experiment_facts(e)
    except _MissingRows as exc:
        return None, str(exc)
    except UnknownRunError:
        return None, (f"{exp_id} is no longer in the store {st.path} (deleted since the "
                      "list was read). Fix: press Refresh and pick one from the list")
    except StoreError as exc:
        return None, str(exc)
    except Exception as exc:
        return None, f"Could not read {exp_id}: {type(exc).__name__}: {str(exc)[:200]}"
    notes = [f"{exp_id}: jobs stored {v}" for k, v in facts
             if k == "jobs stored" and "INCOMPLETE" in str(v)]
    table = pd.DataFrame({"": [k for k, _ in facts],
                          " ": ["–" if v is None or v != v else str(v) for _, v in facts]})
    return ExperimentView(exp_id, e.kind, table, parts, notes), ""


def stored_experiment(store: Path | None, exp_id: str, wait: float = 120.0
                      ) -> tuple[ExperimentView | None, str]:
    """:func:`experiment_view` in a worker process (its figures are drawn with pyplot,
    which is not safe in the server's threads): ``(view, "")`` or ``(None, message)``."""
    got, message = _wait(_submit(experiment_view, store, exp_id), wait)
    if got is None:
        return None, message
    return got
