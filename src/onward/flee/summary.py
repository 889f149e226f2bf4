"""Run a Flee folder end to end: read, simulate, score, store; the ``onward run DIR`` payload.

>>> from onward.flee.summary import run_flee_folder           # doctest: +SKIP
>>> payload, run = run_flee_folder("tests/data/flee/tiny", days=30)  # doctest: +SKIP
>>> sorted(payload)                                           # doctest: +SKIP
['agents', 'ard', 'ard_rescaled', 'case', 'days', 'engine_seconds', 'mase', 'per_camp',
 'total_error_mean', 'warnings']
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from onward.flee.metrics import flee_metrics
from onward.flee.reader import read_flee_folder
from onward.flee.sim import FleeRun, simulate_flee


def run_flee_folder(folder: str | Path, days: int | None = None, seed: int = 1,
                    ) -> tuple[dict[str, Any], FleeRun]:
    """Read and run a Flee folder; returns the JSON payload and the run."""
    case = read_flee_folder(folder)
    run = simulate_flee(case, days=days, seed=seed)
    m = flee_metrics(run.table)
    payload = {
        "case": case.name,
        "days": run.days,
        "agents": run.agents,
        "engine_seconds": round(run.engine_seconds, 4),
        "ard": m["ard"],
        "ard_rescaled": m["ard_rescaled"],
        "mase": m["mase"],
        "total_error_mean": m["total_error_mean"],
        "per_camp": m["per_camp"],
        "warnings": list(case.warnings),  # file:line: field: problem, as on stderr
    }
    return payload, run


def folder_hash(folder: str | Path) -> str:
    """SHA-256 over the folder's input files (names and bytes), for the store (first 16
    hex digits, as a scenario's hash)."""
    h = hashlib.sha256()
    root = Path(folder)
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.suffix in (".csv", ".yml", ".yaml"):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]  # as a scenario's hash: the first 16 hex digits


def tidy_tables(run: FleeRun) -> dict[str, pd.DataFrame]:
    """The run as tidy tables: ``flee_camps`` (day, date, camp, simulated, observed) and
    ``flee_totals`` (one row per day: spawned agents, raw UNHCR total, debt, camp sums)."""
    t = run.table
    rows = []
    for c in run.camp_names:
        rows.append(pd.DataFrame({"day": t["Day"], "date": t["Date"], "camp": c,
                                  "simulated": t[f"{c} sim"], "observed": t[f"{c} data"]}))
    camps = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["day", "date", "camp", "simulated", "observed"])
    totals = pd.DataFrame({
        "day": t["Day"], "date": t["Date"],
        "agents": t["total refugees (simulation)"],
        "raw_unhcr_total": t["raw UNHCR refugee count"],
        "refugee_debt": t["refugee_debt"],
        "camps_simulated": t["refugees in camps (simulation)"],
        "camps_observed": t["refugees in camps (UNHCR)"],
        "total_error": t["Total error"],
    })
    return {"flee_camps": camps, "flee_totals": totals}


def store_flee_run(run: FleeRun, payload: dict[str, Any], store: str | Path | None,
                   wall_seconds: float) -> str:
    """Write the run to the DuckDB store (``kind`` ``flee``); returns the run id."""
    from onward.analysis.runs import versions
    from onward.store import Store

    meta = {
        "scenario": f"flee:{run.case.name}",
        "scenario_hash": folder_hash(run.case.folder),
        "seed": run.seed,
        "versions": versions(),
        "wall_seconds": wall_seconds,
        "engine_seconds": run.engine_seconds,
        "kind": "flee",
        "folder": str(Path(run.case.folder).resolve()),
        "days": run.days,
        "hasten": run.case.settings.hasten,
        "ard": payload["ard"],
        "ard_rescaled": payload["ard_rescaled"],
        "mase": payload["mase"],
        "warnings": payload.get("warnings", []),
    }
    return Store(store).write_run(meta, tidy_tables(run))


def timed_run(folder: str | Path, days: int | None, seed: int,
              ) -> tuple[dict[str, Any], FleeRun, float]:
    t0 = time.perf_counter()
    payload, run = run_flee_folder(folder, days=days, seed=seed)
    return payload, run, time.perf_counter() - t0


def wide_table(flee_camps: pd.DataFrame, flee_totals: pd.DataFrame) -> pd.DataFrame:
    """Back from the stored tidy tables (one run) to the out.csv-like table that
    :func:`onward.flee.flee_validation_figure` and :func:`onward.flee.flee_metrics` take."""
    totals = flee_totals.sort_values("day").reset_index(drop=True)
    cols: dict[str, Any] = {"Day": totals["day"].to_numpy(), "Date": totals["date"].tolist()}
    for camp, g in flee_camps.groupby("camp", sort=False):
        g = g.sort_values("day")
        cols[f"{camp} sim"] = g["simulated"].to_numpy()
        cols[f"{camp} data"] = g["observed"].to_numpy()
    cols["Total error"] = totals["total_error"].to_numpy()
    cols["refugees in camps (UNHCR)"] = totals["camps_observed"].to_numpy()
    cols["total refugees (simulation)"] = totals["agents"].to_numpy()
    cols["raw UNHCR refugee count"] = totals["raw_unhcr_total"].to_numpy()
    cols["refugees in camps (simulation)"] = totals["camps_simulated"].to_numpy()
    cols["refugee_debt"] = totals["refugee_debt"].to_numpy()
    return pd.DataFrame(cols)


def out_csv_table(flee_camps: pd.DataFrame, flee_totals: pd.DataFrame) -> pd.DataFrame:
    """One run's stored tables in the layout of Flee 3.1's ``out.csv``: :func:`wide_table`
    with each camp's ``error`` after its ``data`` (|sim - data| / data to 4 decimals, 0 where
    data is 0, as Flee writes it)."""
    wide = wide_table(flee_camps, flee_totals)
    cols: dict[str, Any] = {}
    for c in wide.columns:
        cols[c] = wide[c]
        if c.endswith(" data"):
            camp = c[: -len(" data")]
            sim = wide[f"{camp} sim"].to_numpy(np.float64)
            data = wide[c].to_numpy(np.float64)
            err = np.divide(np.abs(sim - data), data, out=np.zeros_like(sim), where=data > 0)
            cols[f"{camp} error"] = np.round(err, 4)
    return pd.DataFrame(cols)


def over_time(table: pd.DataFrame, every: int = 30) -> pd.DataFrame:
    """Per-camp simulated / observed every ``every`` days (and the last day), with the
    day's ARD: the validation table that goes with the figure."""
    from onward.flee.metrics import ard_curves, camp_names

    ard, ard_r = ard_curves(table)
    days = sorted(set(range(0, len(table), every)) | {len(table) - 1})
    rows = []
    for d in days:
        r: dict[str, Any] = {"day": int(table["Day"].iloc[d]), "date": table["Date"].iloc[d]}
        for c in camp_names(table):
            r[c] = f"{int(table[f'{c} sim'].iloc[d])}/{int(table[f'{c} data'].iloc[d])}"
        r["ard"] = round(float(ard[d]), 3)
        r["ard rescaled"] = round(float(ard_r[d]), 3)
        rows.append(r)
    return pd.DataFrame(rows)
