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
    from onward.flee import flee_validation_figure
    from onward.flee.summary import over_time, wide_table

    wide = wide_table(tables["flee_camps"], tables["flee_totals"])
    mase = meta.get("mase")
    metrics = {
        "case": meta.get("scenario"), "folder": meta.get("folder"), "days": meta.get("days"),
        "ard (mean over days of sum |sim - obs| / sum obs)": _fmt(meta.get("ard")),
        "ard rescaled (sim camps scaled to the day's observed total)":
            _fmt(meta.get("ard_rescaled")),
        "mase": "n/a" if mase is None else _fmt(mase),
        "agents on the last day": int(wide["total refugees (simulation)"].iloc[-1]),
        "engine seconds": _fmt(meta.get("engine_seconds")),
    }
    last = wide.iloc[-1]
    camps = [c[:-4] for c in wide.columns if c.endswith(" sim")]
    per_camp = pd.DataFrame({
        "camp": camps,
        "simulated (last day)": [int(last[f"{c} sim"]) for c in camps],
        "observed (last day)": [int(last[f"{c} data"]) for c in camps],
        "mean |sim - obs|": [float((wide[f"{c} sim"] - wide[f"{c} data"]).abs().mean())
                             for c in camps],
    })
    fig = flee_validation_figure(wide, title=str(meta.get("scenario")))
    return [
        Section("Validation against the UNHCR camp series", key_values(metrics) + paragraph(
            "Definitions as Flee's own post-processing: docs/flee.md.")),
        Section("Camps over time", figure(
            fig, "Simulated (blue) and observed (black) refugees per camp; last panel: "
                 "the daily ard and ard rescaled.")
            + table(per_camp, "Per camp") + table(over_time(wide), "Every 30 days: "
                                                  "simulated/observed per camp")),
        Section("Provenance of this run", run_provenance(meta)),
    ]


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{float(v):.4g}"


register_sections("flee", flee_sections)
