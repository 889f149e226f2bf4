"""The figures of docs/reliability.md (small PNGs in docs/img/reliability-*.png).

    python3 scripts/reliability_figures.py \\
        --fuzz-json /tmp/fuzz.json --crash-log /tmp/crash.json

``--fuzz-json`` is written by ``scripts/fuzz_scenarios.py --json``, ``--crash-log`` by
``ONWARD_CRASH_LOG=... pytest tests/test_crash.py`` (see docs/reliability.md); without
them those two figures are left as they are. The edge-case and privacy figures are
computed here (a minute or so).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

COLOURS = {"accepted": "#4c9f70", "refused": "#4a78b5", "unclear": "#e0a030",
           "crash": "#c0392b", "hang": "#7d3c98"}


def fuzz_figure(path: Path) -> Path:
    import fuzz_scenarios as fuzz

    data = json.loads(path.read_text())
    fams = list(data["by_family"])
    fig, ax = plt.subplots(figsize=(7.5, 4.6), dpi=100)
    left = np.zeros(len(fams))
    for o in fuzz.OUTCOMES:
        vals = np.array([data["by_family"][f][o] for f in fams])
        ax.barh(fams, vals, left=left, color=COLOURS[o], label=f"{o}: {int(vals.sum()):,}")
        left += vals
    ax.invert_yaxis()
    ax.set_xlabel("generated scenario files per mutation family")
    sub = data.get("subprocess") or {}
    title = f"Loader fuzzing: {data['cases']:,} cases in {data['seconds'] / 60:.0f} min"
    if sub:
        title += "\n`onward validate` sample: " + ", ".join(f"{k} {v}"
                                                           for k, v in sorted(sub.items()))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.45, -0.13), ncol=5)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    out = OUT / "reliability-fuzz.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def crash_figure(path: Path) -> Path:
    log = json.loads(path.read_text())
    events = log["events"]
    cmds = ["run", "ensemble", "calibrate"]
    fig, ax = plt.subplots(figsize=(7.5, 3.3), dpi=100)
    for y, cmd in enumerate(cmds):
        kills = [e for e in events if e["command"] == cmd and e["event"] == "kill"]
        base = next(e for e in events if e["command"] == cmd and e["event"] == "baseline")
        x = [e["fraction"] for e in kills]
        committed = [e["runs"] > e["runs_before"] for e in kills]
        ax.scatter([v for v, c in zip(x, committed, strict=True) if not c],
                   [y] * (len(x) - sum(committed)), marker="x", color="#c0392b", s=40,
                   label="killed; nothing new committed" if y == 0 else None)
        ax.scatter([v for v, c in zip(x, committed, strict=True) if c],
                   [y] * sum(committed), marker="o", facecolors="none", color="#4a78b5",
                   s=50, label="killed after committing runs" if y == 0 else None)
        res = next(e for e in events if e["command"] == cmd and e["event"] == "resume")
        ax.text(1.03, y, f"{len(kills)} kills; resume ok\n(run {base['seconds']:.0f} s, "
                f"resume {res['seconds']:.0f} s)",
                va="center", fontsize=8)
    ax.set_yticks(range(len(cmds)), [f"onward {c}" for c in cmds])
    ax.set_xlim(-0.02, 1.3)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("moment of SIGKILL, as a fraction of an uninterrupted run")
    n = sum(e["event"] == "kill" for e in events)
    ax.set_title(f"{n} SIGKILLs: store readable, completed runs identical, no partial run, "
                 "every resume completes", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.4, -0.3), ncol=2)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    out = OUT / "reliability-crash.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def edges_figure() -> Path:
    import test_edges as te
    from test_engine import small

    from onward.api import simulate
    from onward.engine.state import State

    cases = {
        "every prior at its low end": (small(end="2003-12"),
                                       te.admissible({k: v[0] for k, v in te.ENDS.items()})),
        "every prior at its high end": (small(end="2003-12"),
                                        te.admissible({k: v[1] for k, v in te.ENDS.items()})),
        "no agent at all": (small(extra=te.NO_INFLOW + te.dest_yaml(background_claims=0)), {}),
        "zero inflow, direct claims only": (
            small(extra=te.NO_INFLOW + te.dest_yaml(background_claims=20)), {}),
        "zero brokers": (small(extra="parameters: {brokers: {share: 0, contacts: 0}}\n"), {}),
        "recognition 0 everywhere": (small(extra=te.dest_yaml(recognition_rate=0)), {}),
        "recognition 1, all detected": (small(extra=te.dest_yaml(
            recognition_rate=1, checks_prior_nationality=1, detection=1)), {}),
        "every destination closed": (small(extra=te.dest_yaml(open=0)), {}),
        "all events in month 1": (small(events="".join(
            f"  - {{date: 2000-01, target: destinations.{d}.open, value: 0}}\n"
            for d in te.DESTS)), {}),
    }
    names, residual, n_agents, abroad = [], [], [], []
    for name, (sc, overrides) in cases.items():
        res = simulate(sc, overrides=overrides)
        te.check_conservation(res)
        rec = res.recorder
        by_state = rec.stock_h.sum(axis=2)
        prev = np.vstack([np.eye(by_state.shape[1], dtype=np.int64)[State.PENDING]
                          * res.agents.n, by_state[:-1]])
        r = max(int(np.abs(rec.trans_h.sum(axis=2) - prev).max()),
                int(np.abs(rec.trans_h.sum(axis=1) - by_state).max()),
                int(np.abs(by_state.sum(axis=1) - res.agents.n).max()))
        names.append(name)
        residual.append(r)
        n_agents.append(res.agents.n)
        abroad.append(int(res.applications.persons.sum()))
    fig, ax = plt.subplots(figsize=(7.5, 4.0), dpi=100)
    y = np.arange(len(names))
    ax.barh(y, n_agents, color="#4a78b5", label="households simulated")
    ax.barh(y, abroad, color="#4c9f70", label="first asylum claims (persons)")
    for i, r in enumerate(residual):
        ax.text(max(n_agents) * 1.02, i, f"residual {r}", va="center", fontsize=8)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlim(0, max(n_agents) * 1.3)
    ax.set_xlabel("count over the run (toy scenario, 2000-2004)")
    ax.set_title("Edges of the priors: every run completes, and the conservation residual\n"
                 "(agents in exactly one state; flows reconcile stocks) is 0", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    out = OUT / "reliability-edges.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def privacy_figure() -> Path:
    import duckdb
    import test_microdata as tm

    from onward.analysis.runs import run_and_store
    from onward.scenario import load_scenario

    df = tm.survey(n=400)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sc = load_scenario(tm.write(folder, df))
        store = folder / "s.duckdb"
        run_and_store(sc, store=store)
        text_needles, num_needles = tm._needles(df)
        con = duckdb.connect(str(store), read_only=True)
        cells = hits = 0
        tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
        for t in tables:
            frame = con.execute(f'select * from "{t}"').fetchdf()
            cells += frame.size
            for col in frame.columns:
                s = frame[col].dropna()
                if s.dtype.kind in "fiu":
                    hits += len(set(map(float, s)) & num_needles)
                else:
                    blob = "\n".join(map(str, s))
                    hits += sum(n in blob for n in text_needles)
        con.close()
    d = sc.population.attributes.funds
    fig, ax = plt.subplots(figsize=(7.5, 3.2), dpi=100)
    ax.hist(df.funds, bins=80, color="#bbbbbb", label=f"the {len(df)} records (never stored)")
    widths = np.diff(d.edges)
    ax.bar(d.edges[:-1], np.array(d.weights) / widths * (df.funds.max() / 80), width=widths,
           align="edge", fill=False, edgecolor="#4a78b5", linewidth=1.5,
           label="what the scenario keeps: binned counts, cells < 10 suppressed")
    ax.set_xlabel("funds (months of native wage)")
    ax.set_ylabel("records per 1/80 of the range")
    ax.set_title(f"Microdata in, aggregates out: {hits} of {len(df)} records' values found in "
                 f"{len(tables)} tables ({cells:,} cells) of the store", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    out = OUT / "reliability-privacy.png"
    fig.savefig(out)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fuzz-json", type=Path)
    ap.add_argument("--crash-log", type=Path)
    ap.add_argument("--only", choices=["fuzz", "crash", "edges", "privacy"])
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    made = []
    if args.fuzz_json and args.only in (None, "fuzz"):
        made.append(fuzz_figure(args.fuzz_json))
    if args.crash_log and args.only in (None, "crash"):
        made.append(crash_figure(args.crash_log))
    if args.only in (None, "edges"):
        made.append(edges_figure())
    if args.only in (None, "privacy"):
        made.append(privacy_figure())
    for p in made:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
