"""Flee's validation metrics, computed from an out.csv-like table.

* ``ard``: mean over days of sum_camps |sim - obs| / max(sum_camps obs, 1), Flee's
  "Error (normal)" / "Averaged relative difference".
* ``ard_rescaled``: the same after scaling each camp's sim by (sum obs / sum sim) of that
  day (0 when no agent is in a camp), Flee's "Error (rescaled)", which FabFlee's
  ``validate_flee`` prints as "Ave. rel. diff.".
* ``mase``: Flee's ``mase7`` total from extract-validation-results.py: per camp, the mean
  |rescaled sim - obs| over all days divided by the mean |obs - obs[day 7]| after day 8
  (a flat naive forecast from day 7), averaged over camps weighted by sum(obs). Camps
  whose naive error is 0 are left out (Flee would divide by zero).
* ``total_error_mean``: mean of out.csv's ``Total error`` column.

>>> import pandas as pd
>>> t = pd.DataFrame({"A sim": [2, 4], "A data": [2, 2], "B sim": [0, 0], "B data": [2, 2],
...                   "refugees in camps (UNHCR)": [4, 4],
...                   "refugees in camps (simulation)": [2, 4], "Total error": [0.5, 1.0]})
>>> m = flee_metrics(t)
>>> m["ard"], m["ard_rescaled"]
(0.75, 1.0)
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def camp_names(table: pd.DataFrame) -> list[str]:
    """Camps of an out.csv table, from its ``<camp> sim`` columns."""
    return [c[:-4] for c in table.columns if c.endswith(" sim") and "numAgents" not in c]


def rescaled(table: pd.DataFrame) -> pd.DataFrame:
    """Each camp's sim scaled by that day's sum obs / sum sim (Flee's rescaling)."""
    simtot = table["refugees in camps (simulation)"].to_numpy(dtype=np.float64)
    untot = table["refugees in camps (UNHCR)"].to_numpy(dtype=np.float64)
    f = np.where(simtot > 0, untot / np.where(simtot > 0, simtot, 1.0), 0.0)
    return pd.DataFrame({c: table[f"{c} sim"].to_numpy(dtype=np.float64) * f
                         for c in camp_names(table)})


def ard_curves(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-day ARD (unrescaled, rescaled)."""
    names = camp_names(table)
    untot = np.maximum(table["refugees in camps (UNHCR)"].to_numpy(dtype=np.float64), 1.0)
    obs = np.stack([table[f"{c} data"].to_numpy(dtype=np.float64) for c in names], axis=1)
    sim = np.stack([table[f"{c} sim"].to_numpy(dtype=np.float64) for c in names], axis=1)
    res = rescaled(table)[names].to_numpy()
    return (np.abs(sim - obs).sum(axis=1) / untot, np.abs(res - obs).sum(axis=1) / untot)


def mase(table: pd.DataFrame, naive_day: int = 7) -> float | None:
    """Flee's observation-weighted MASE of the rescaled camp counts (see module doc)."""
    names = camp_names(table)
    res = rescaled(table)
    if len(table) <= naive_day + 1:
        return None
    num = 0.0
    den = 0.0
    for c in names:
        obs = table[f"{c} data"].to_numpy(dtype=np.float64)
        naive = np.mean(np.abs(obs[naive_day + 1:] - obs[naive_day]))
        if naive <= 0:
            continue
        err = np.mean(np.abs(obs - res[c].to_numpy()))
        weight = obs.sum()
        num += err / naive * weight
        den += weight
    return float(num / den) if den > 0 else None


def flee_metrics(table: pd.DataFrame) -> dict:
    """ard, ard_rescaled, mase, total_error_mean and per-camp errors of an out.csv table."""
    ard, ard_r = ard_curves(table)
    res = rescaled(table)
    per_camp = {}
    for c in camp_names(table):
        sim = table[f"{c} sim"].to_numpy(dtype=np.float64)
        obs = table[f"{c} data"].to_numpy(dtype=np.float64)
        per_camp[c] = {
            "sim_final": int(sim[-1]),
            "obs_final": int(obs[-1]),
            "mean_abs_diff": float(np.mean(np.abs(sim - obs))),
            "mean_abs_diff_rescaled": float(np.mean(np.abs(res[c].to_numpy() - obs))),
        }
    return {
        "ard": float(np.mean(ard)),
        "ard_rescaled": float(np.mean(ard_r)),
        "mase": mase(table),
        "total_error_mean": float(table["Total error"].mean()) if "Total error" in table
        else None,
        "per_camp": per_camp,
    }
