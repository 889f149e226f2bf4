"""Report sections of a Flee-folder run (stored with kind ``flee``): the validation against
the UNHCR camp series as Flee reports it — per-camp simulated vs observed over time, ard,
ard rescaled and MASE, as tables and a figure."""

from __future__ import annotations

from typing import Any

import pandas as pd

from onward.report.html import Section, figure, key_values, paragraph, table
from onward.report.run import register_sections, run_provenance


def flee_sections(tables: dict[str, pd.DataFrame], meta: dict[str, Any], sc: Any,
                  network: Any) -> list[Section]:
    from onward.flee import flee_metrics, flee_validation_figure
    from onward.flee.summary import over_time, wide_table

    wide = wide_table(tables["flee_camps"], tables["flee_totals"])
    m = flee_metrics(wide)
    mase = meta.get("mase")
    metrics = {
        "case": meta.get("scenario"), "folder": meta.get("folder"), "days": meta.get("days"),
        "ard (mean over days of sum |sim - obs| / sum obs)": _fmt(meta.get("ard")),
        "ard rescaled (sim camps scaled to the day's observed total)":
            _fmt(meta.get("ard_rescaled")),
        "mase": "n/a" if mase is None else _fmt(mase),
        "total error (mean over days, Flee's 'Total error')": _fmt(m["total_error_mean"]),
        "agents on the last day": int(wide["total refugees (simulation)"].iloc[-1]),
        "persons per agent (simsetting.yml hasten; counts are in agents)":
            meta.get("hasten", "not recorded"),
        "engine seconds": _fmt(meta.get("engine_seconds")),
    }
    per_camp = pd.DataFrame([
        # counts as floats: the table writes every number >= 100 with separators alike
        {"camp": camp, "simulated (last day)": float(r["sim_final"]),
         "observed (last day)": float(r["obs_final"]), "mean |sim - obs|": r["mean_abs_diff"],
         "mean |sim - obs| rescaled": r["mean_abs_diff_rescaled"]}
        for camp, r in m["per_camp"].items()])
    fig = flee_validation_figure(wide, title=str(meta.get("scenario")))
    return [
        Section("Validation against the UNHCR camp series", key_values(metrics) + paragraph(
            "Definitions as Flee's own post-processing: docs/flee.md.")),
        Section("Camps over time", figure(
            fig, "Simulated (blue) and observed (black) refugees per camp; last panel: "
                 "the daily ard and ard rescaled.")
            + table(per_camp, "Per camp") + table(over_time(wide), "Every 30 days: "
                                                  "simulated/observed per camp")),
        Section("Warnings from reading the folder", _warnings(meta.get("warnings"))),
        Section("Provenance of this run", run_provenance(meta)),
    ]


def _warnings(warnings: list[str] | None) -> str:
    """The reader's warnings (file:line: field: problem), as the terminal showed them."""
    if warnings is None:
        return paragraph("Not recorded (a run stored before warnings were kept).")
    if not warnings:
        return paragraph("None: every file was read as written.")
    return paragraph(f"{len(warnings)} warning(s): the run went ahead as Flee 3.1 would, "
                     "but check each.") + "".join(paragraph(w) for w in warnings)


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{float(v):.4g}"


register_sections("flee", flee_sections)
