"""Run many simulations locally or on a Dask cluster, reproducibly and resumably.

An experiment is a list of jobs (scenario, parameter overrides, seed). Each job's seed is
derived from the master seed and the job's index, so its numbers do not depend on which
worker runs it or when. Workers only compute and return small tidy tables; the parent
process writes each finished job to the store in its own transaction. The experiment id is
a hash of everything that defines the jobs, so running the same command again after a
crash or Ctrl-C reuses the finished jobs and runs only the rest.

Examples
--------
>>> from onward.experiments.runner import Job, run_jobs
>>> jobs = [Job(0, "replicate", sc, {}, seed=11)]  # doctest: +SKIP
>>> results = run_jobs("exp-demo", jobs, outputs=["applications"])  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onward.analysis.numbers import count_text
from onward.engine.compile import check_whole, compile_scenario
from onward.engine.model import SimulationResult, simulate_compiled
from onward.engine.state import State
from onward.options import option
from onward.scenario import Scenario, scenario_hash
from onward.store import Store
from onward.workers import (
    DaskWait,
    check_workers,
    connect,
    local_pool,
    refuse_other_code,
    result_of,
    wait_first,
)


def derive_seed(master: int, index: int) -> int:
    """Seed of replicate ``index`` of an experiment with master seed ``master``."""
    return int(np.random.SeedSequence([int(master), int(index), 0xE4]).generate_state(1)[0])


# --- outputs: each a function of a finished simulation -> [year, destination, value] -------


def _yearly_flow(res: SimulationResult, name: str, route: int | None = None) -> pd.DataFrame:
    c = res.compiled
    uyears, tot = res.recorder.yearly_flow(name, c.years(), route)
    D = len(c.destinations)
    return pd.DataFrame({"year": np.repeat(uyears.astype(int), D),
                         "destination": np.tile(np.asarray(c.destinations, dtype=object),
                                                uyears.size),
                         "value": tot.ravel().astype(float)})


def _broker_share(res: SimulationResult) -> pd.DataFrame:
    dep = _yearly_flow(res, "departures", 0)
    bro = _yearly_flow(res, "broker_departures", 0)
    out = dep[["year", "destination"]].copy()
    out["value"] = np.where(dep.value > 0, bro.value / dep.value.where(dep.value > 0, 1),
                            np.nan)
    return out


def _abroad(res: SimulationResult) -> pd.DataFrame:
    c = res.compiled
    rows = []
    for t in range(c.run_months):
        if c.month_of(t) == 12 or t == c.run_months - 1:
            rows.append((c.year_of(t), "ALL", float(res.recorder.onward_abroad_p[t])))
    return pd.DataFrame(rows, columns=["year", "destination", "value"])


def _recognised_stock(res: SimulationResult) -> pd.DataFrame:
    c = res.compiled
    rows = []
    for t in range(c.run_months):
        if c.month_of(t) == 12 or t == c.run_months - 1:
            for j, d in enumerate(c.destinations):
                rows.append((c.year_of(t), d,
                             float(res.recorder.stock_p[t, State.RECOGNISED, j + 1])))
    return pd.DataFrame(rows, columns=["year", "destination", "value"])


OUTPUTS: dict[str, Callable[[SimulationResult], pd.DataFrame]] = {
    "applications": lambda r: _yearly_flow(r, "claims"),
    "onward_claims": lambda r: _yearly_flow(r, "claims", 0),
    "direct_claims": lambda r: _yearly_flow(r, "claims", 1),
    "departures": lambda r: _yearly_flow(r, "departures", 0),
    "recognised": lambda r: _yearly_flow(r, "recognised"),
    "refused": lambda r: _yearly_flow(r, "refused"),
    "returns": lambda r: _yearly_flow(r, "returns", 0),
    "broker_share": _broker_share,
    "refugee_stock": _recognised_stock,
    "abroad": _abroad,
}


#: how an output's yearly values combine over a period (:func:`over_years`): flows add up
#: (every output not named here), a year-end stock is read at the period's last year, a
#: yearly share is averaged
OUTPUT_KIND = {"broker_share": "share", "refugee_stock": "stock", "abroad": "stock"}


def output_unit(name: str, period: bool = False) -> str:
    """What an output's numbers count, for tables: yearly (or, with ``period``, over a
    period as :func:`over_years` combines them)."""
    kind = OUTPUT_KIND.get(name, "flow")
    if kind == "share":
        # of persons: the run's brokers table and report weigh households instead
        return "share 0-1 of persons, " + ("mean of the yearly shares" if period
                                           else "per year")
    if kind == "stock":
        return "persons at " + ("the period's end" if period else "the year's end")
    return "persons, " + ("total over the period" if period else "per year")


def output_text(name: str, x: float, sign: str = "") -> str:
    """A value of output ``name`` (a median, a band's end, a difference) as tables show
    it: a share to two decimals, a count of persons whole (a half away from zero,
    :func:`onward.analysis.numbers.count_text`); ``sign`` ``"+"`` signs it."""
    if OUTPUT_KIND.get(name) == "share":
        return f"{x:{sign}.2f}"
    return count_text(x, sign)


def over_years(values: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """``values`` (columns output, year, value and ``by``) combined over their years, per
    ``by`` (which holds ``output``): flows summed, stocks at the last year, shares averaged
    over the years that have one."""
    parts = []
    for name, g in values.groupby("output", sort=False):
        kind = OUTPUT_KIND.get(str(name), "flow")
        if kind == "stock":
            g = g[g.year == g.year.max()]
        agg = g.groupby(by, as_index=False).value
        parts.append(agg.mean() if kind == "share" else agg.sum())
    if not parts:
        return pd.DataFrame(columns=[*by, "value"])
    return pd.concat(parts, ignore_index=True)


def check_outputs(names: Iterable[str], keyword: str = "outputs") -> list[str]:
    """``names`` if every one is an output, else a ValueError naming the option ``keyword``
    (the command line's ``--output``)."""
    names = list(names)
    bad = [n for n in names if n not in OUTPUTS]
    if bad:
        raise ValueError(f"{option(keyword, ', '.join(bad), flag='--output')}: unknown; choose "
                         "from "
                         f"{', '.join(OUTPUTS)}")
    return names


@dataclass(frozen=True)
class Job:
    """One simulation of an experiment."""

    index: int
    label: str
    scenario: Scenario
    overrides: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    until: int | None = None
    replicate: int = 0

    def key(self) -> dict[str, Any]:
        return {"index": self.index, "label": self.label, "scenario": scenario_hash(
            self.scenario), "overrides": sorted(self.overrides.items()), "seed": self.seed,
            "until": self.until, "replicate": self.replicate}


def run_job(job: Job, outputs: list[str], extra: Callable[[SimulationResult], dict] | None
            = None) -> dict[str, pd.DataFrame]:
    """Simulate one job and return its output tables (runs in a worker), and under
    :data:`PROVENANCE` the worker's package versions and the job's seconds."""
    t0 = time.perf_counter()
    c = compile_scenario(job.scenario, overrides=job.overrides, seed=job.seed, until=job.until)
    res = simulate_compiled(c, generator=job.scenario.network.generator)
    out = {}
    for name in outputs:
        df = OUTPUTS[name](res)
        df.insert(0, "output", name)
        out[name] = df
    tables: dict[str, Any] = {"values": pd.concat(out.values(), ignore_index=True)}
    if extra is not None:
        tables.update(extra(res))
    tables[PROVENANCE] = {"versions": _worker_versions(),
                          "engine_seconds": res.engine_seconds,
                          "wall_seconds": time.perf_counter() - t0}
    return tables


#: the key of :func:`run_job`'s result that holds the job's provenance, not a table
PROVENANCE = "__provenance__"


@functools.lru_cache(maxsize=1)
def _worker_versions() -> dict[str, str]:
    from onward.analysis.runs import versions

    return versions()


def check_count_and_seed(n: object, seed: object) -> None:
    """Refuse a number of replicates below 1 (it failed later, as ``KeyError: 'job'``) and
    a master seed that is not a whole number >= 0 (neither may be None here)."""
    check_whole("n", n, 1, None, "a whole number of replicates", optional=False)
    check_whole("seed", seed, 0, None, optional=False)


def experiment_id(kind: str, jobs: list[Job], outputs: list[str], **settings: Any) -> str:
    """The hash of everything that defines an experiment's numbers: its jobs, outputs and
    settings, and the code that runs them (:func:`onward.analysis.runs.code_hash`), so a
    changed engine never reuses jobs stored by the old one."""
    from onward.analysis.runs import code_hash

    blob = json.dumps({"kind": kind, "jobs": [j.key() for j in jobs], "outputs": outputs,
                       "code": code_hash(), **settings}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def done_jobs(store: Store, exp_id: str) -> pd.DataFrame:
    """Result rows of the jobs of ``exp_id`` already in the store, each job's once (a
    store written by two processes at once before jobs were stored once may hold a job
    twice: the first is kept). A busy or unreadable store raises; it is not "no jobs"."""
    if not store.has_table("experiment_values"):
        return pd.DataFrame()  # no experiment has been stored yet
    df = store.query("select * from experiment_values where experiment_id = ?", [exp_id])
    if len(df) and "run_id" in df.columns:
        number = df.run_id.str.extract(r"(\d+)$", expand=False).astype(int)
        first = number.groupby(df.job).transform("min")
        df = df[number == first].reset_index(drop=True)
    return df


def job_table(store: str | Path | Store | None, exp_id: str, name: str) -> pd.DataFrame:
    """The ``extra`` table ``name`` of every stored job of ``exp_id``, sorted by job."""
    st = store if isinstance(store, Store) else Store(store)
    try:
        df = st.query(f"select * from experiment_{name} where experiment_id = ?", [exp_id])
    except Exception:  # the table does not exist yet
        return pd.DataFrame()
    df = df.drop(columns=[c for c in ("run_id",) if c in df.columns])
    keys = ["job"] + [c for c in df.columns if c != "experiment_id" and df[c].dtype == object]
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


class _Executor:
    """Inline, a local process pool, or a Dask client; submit(fn, *args) -> Future."""

    def __init__(self, workers: int | None, scheduler: str | None):
        check_workers(workers)
        self.workers = workers or os.cpu_count() or 1
        self.scheduler = scheduler
        self._pool: Any = None

    def __enter__(self) -> _Executor:
        if self.scheduler:
            self._pool = connect(self.scheduler)
        elif self.workers > 1:
            self._pool = local_pool(self.workers)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._pool is not None:
            if self.scheduler:
                self._pool.close()
            else:
                self._pool.shutdown(cancel_futures=True)

    def map_unordered(self, fn: Callable, items: list, *args: Any) -> Iterable[tuple[Any, Any]]:
        """Yield (item, result) as results arrive."""
        if self._pool is None:
            for it in items:
                yield it, fn(it, *args)
            return
        if self.scheduler:
            resume = "run the same command again (finished runs are not redone)"
            futs = {self._pool.submit(fn, it, *args, pure=False): it for it in items}
            for fut in DaskWait(self._pool, resume).as_completed(list(futs)):
                yield futs[fut], result_of(fut, resume)
            return
        pending: dict[Future, Any] = {self._pool.submit(fn, it, *args): it for it in items}
        while pending:
            for fut in wait_first(pending):
                yield pending.pop(fut), fut.result()


def run_jobs(exp_id: str, kind: str, jobs: list[Job], outputs: list[str], *,
             store: str | Path | Store | None = None, workers: int | None = None,
             scheduler: str | None = None, meta: dict[str, Any] | None = None,
             progress: Callable[[int, int], None] | None = None,
             extra: Callable[[SimulationResult], dict[str, pd.DataFrame]] | None = None
             ) -> pd.DataFrame:
    """Run ``jobs`` (skipping those already stored), store each, return all values.

    The returned frame has columns experiment_id, job, label, replicate, seed, output,
    year, destination, value, sorted by job: it is the same whatever the number of workers
    and whether or not the experiment was resumed.

    ``extra(result) -> {name: frame}`` (a module-level function, so that it pickles) adds
    tables of each job; they are stored, in the same transaction as the job's values, as
    ``experiment_<name>`` with experiment_id and job first. Read them back with
    :func:`job_table`.
    """
    st = store if isinstance(store, Store) else Store(store)
    have = done_jobs(st, exp_id)
    finished = set(have.job.unique()) if len(have) else set()
    todo = [j for j in jobs if j.index not in finished]
    n_done = len(finished)
    if progress:
        progress(n_done, len(jobs))
    with _Executor(workers, scheduler) as ex:
        for job, tables in ex.map_unordered(run_job, todo, outputs, extra):
            provenance = tables.pop(PROVENANCE)
            refuse_other_code(provenance["versions"].get("onward_code"),
                              f"job {job.index} was run by a worker with",
                              "it was not stored under this code's experiment id, and the "
                              "jobs stored before it are kept", "run the command again")
            vals = tables.pop("values")
            vals.insert(0, "experiment_id", exp_id)
            vals.insert(1, "job", job.index)
            vals.insert(2, "label", job.label)
            vals.insert(3, "replicate", job.replicate)
            vals.insert(4, "seed", job.seed)
            more = {}
            for name in sorted(tables):
                df = tables[name].copy()
                df.insert(0, "experiment_id", exp_id)
                df.insert(1, "job", job.index)
                df.insert(2, "replicate", job.replicate)
                more[f"experiment_{name}"] = df
            st.write_run({"kind": kind, "scenario": job.scenario.name,
                          "scenario_hash": scenario_hash(job.scenario), "seed": job.seed,
                          "experiment_id": exp_id, "job": job.index,
                          "overrides": job.overrides, **provenance, **(meta or {})},
                         {"experiment_values": vals, **more},
                         # another process running the same experiment may have stored it
                         once=("experiment_values", {"experiment_id": exp_id,
                                                     "job": job.index}))
            n_done += 1
            if progress:
                progress(n_done, len(jobs))
    out = done_jobs(st, exp_id)
    out = out.drop(columns=[c for c in ("run_id",) if c in out.columns])
    return out.sort_values(["job", "output", "year", "destination"]).reset_index(drop=True)


def quantile_bands(values: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Median and 5/25/75/95% quantiles of ``value`` over replicates, per ``by``."""
    g = values.groupby(by).value
    out = pd.DataFrame({"median": g.median(), "q05": g.quantile(0.05), "q25": g.quantile(0.25),
                        "q75": g.quantile(0.75), "q95": g.quantile(0.95),
                        "n": g.count()}).reset_index()
    return out
