"""Benchmark: a Flee 3.1 folder (mali2012 by default) run by Flee 3.1 and by onward, side by
side on this machine.

    python benchmarks/flee_case.py                       # mali2012, 300 days, seed 1
    python benchmarks/flee_case.py --seeds 1 2 3 --json  # several seeds, JSON on stdout
    python benchmarks/flee_case.py --folder path/to/case --days 100

Flee 3.1 runs in the benchmark environment (``benchmarks/_env.py``: a Python 3.12 venv with
flee==3.1) through ``_flee_driver.py``, which times Flee's daily loop only (conflicts,
spawning, closures, ``Ecosystem.evolve`` and the camp comparison; reading the inputs is
excluded). onward runs in this interpreter; its engine time is the same daily loop in
:func:`onward.flee.simulate_flee`. Each seed is run by both, one after the other, so they
share the machine's load. Agent-steps are the number of agents evolved, summed over days
(the ``total refugees (simulation)`` column of both tables, which agree exactly).

Prints, per seed and in total: Flee's loop seconds, onward's engine seconds, the speed-up,
agent-steps per second for both, and each side's ard / ard_rescaled. Exits 1 when the
speed-up is below ``--min-speedup`` (50).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
DEFAULT = ROOT / "tests" / "data" / "flee" / "mali2012"


def run_flee(python: Path, folder: Path, days: int, seed: int) -> tuple[dict, pd.DataFrame]:
    """One Flee 3.1 run in a scratch copy of the folder (Flee writes diagnostics there)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / folder.name
        shutil.copytree(folder, work)
        out = Path(tmp) / "out.csv"
        proc = subprocess.run([str(python), str(HERE / "_flee_driver.py"), str(work),
                               str(days), str(seed), str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"Flee failed:\n{proc.stderr[-3000:]}")
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        return info, pd.read_csv(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", type=Path, default=DEFAULT)
    ap.add_argument("--days", type=int, default=0, help="0: sim_period.csv's Length")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--env", default=".bench-env", help="benchmark venv (benchmarks/_env.py)")
    ap.add_argument("--min-speedup", type=float, default=50.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from benchmarks._env import ensure_env
    from onward.flee import flee_metrics, read_flee_folder, simulate_flee

    python = ensure_env(args.env)
    case = read_flee_folder(args.folder)
    days = args.days or case.length
    rows = []
    for seed in args.seeds:
        info, ftable = run_flee(python, args.folder, days, seed)
        run = simulate_flee(case, days=days, seed=seed)
        steps_f = int(ftable["total refugees (simulation)"].sum())
        steps_o = int(run.table["total refugees (simulation)"].sum())
        fm, om = flee_metrics(ftable), flee_metrics(run.table)
        rows.append({
            "seed": seed, "days": days, "agents": run.agents,
            "flee_loop_seconds": info["loop_seconds"],
            "onward_engine_seconds": run.engine_seconds,
            "speedup": info["loop_seconds"] / run.engine_seconds,
            "flee_agent_steps_per_s": steps_f / info["loop_seconds"],
            "onward_agent_steps_per_s": steps_o / run.engine_seconds,
            "agent_steps": steps_o, "agent_steps_equal": steps_f == steps_o,
            "flee_ard": fm["ard"], "onward_ard": om["ard"],
            "flee_ard_rescaled": fm["ard_rescaled"], "onward_ard_rescaled": om["ard_rescaled"],
        })
    tf = sum(r["flee_loop_seconds"] for r in rows)
    to = sum(r["onward_engine_seconds"] for r in rows)
    summary = {"case": case.name, "seeds": args.seeds, "runs": rows,
               "flee_loop_seconds": tf, "onward_engine_seconds": to, "speedup": tf / to,
               "min_speedup": args.min_speedup}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{case.name}: {days} days, {rows[0]['agents']} agents at the end, "
              f"{rows[0]['agent_steps']} agent-steps per run")
        print(f"{'seed':>4} {'Flee loop s':>12} {'onward s':>9} {'speed-up':>9} "
              f"{'Flee steps/s':>13} {'onward steps/s':>15} {'ard F/o':>14} {'ard resc. F/o':>14}")
        for r in rows:
            print(f"{r['seed']:>4} {r['flee_loop_seconds']:>12.2f} "
                  f"{r['onward_engine_seconds']:>9.3f} {r['speedup']:>8.0f}x "
                  f"{r['flee_agent_steps_per_s']:>13,.0f} {r['onward_agent_steps_per_s']:>15,.0f}"
                  f" {r['flee_ard']:>6.3f}/{r['onward_ard']:.3f}"
                  f" {r['flee_ard_rescaled']:>6.3f}/{r['onward_ard_rescaled']:.3f}")
        print(f"total: Flee {tf:.2f} s, onward {to:.3f} s, speed-up {tf / to:.0f}x "
              f"(target >= {args.min_speedup:.0f}x)")
    if tf / to < args.min_speedup:
        sys.exit(1)


if __name__ == "__main__":
    main()
