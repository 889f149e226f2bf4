"""Benchmark: simulations per minute of a calibration, and wall time of full calibrations.

    python benchmarks/calibration.py                 # 3,000 and 10,000 simulations, 2 workers
    python benchmarks/calibration.py --budgets 300   # a quick look

Prints, for each budget: wall time, simulations per minute, generations, final epsilon,
and the calibration-year ARD of the posterior (overall, GBR, CAN) against the targets the
flagship sets (ARD <= 0.3, 90% coverage >= 0.8), with the ARD floor that `onward score`
prints (the ensemble's median against its own draws). Writes to a temporary store.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from onward.calibration.abc import calibrate, stored_generations
from onward.calibration.score import score
from onward.scenario import load_scenario
from onward.store import Store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budgets", type=int, nargs="+", default=[3000, 10000])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", default="nk-onward")
    ap.add_argument("--draws", type=int, default=40)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sc = load_scenario(args.scenario)
    results = []
    for budget in args.budgets:
        with tempfile.TemporaryDirectory() as tmp:
            store = Path(tmp) / "bench.duckdb"
            t0 = time.perf_counter()
            post = calibrate(sc, f"bench-{budget}", budget=budget, workers=args.workers,
                             store=store)
            wall = time.perf_counter() - t0
            gens = stored_generations(Store(store), f"bench-{budget}")
            sims = int(gens.total_simulations.max())
            sc_res = score(sc, f"bench-{budget}", draws=args.draws, store=store)
            cal = sc_res["calibration"]
            row = {
                "budget": budget, "workers": args.workers, "wall_seconds": round(wall, 1),
                "simulations": sims, "simulations_per_minute": round(sims / wall * 60, 1),
                "generations": int(post.generation) + 1, "epsilon": post.epsilon,
                "ard": cal["ard"], "ard_GBR": cal["per_destination"]["GBR"]["ard"],
                "ard_CAN": cal["per_destination"]["CAN"]["ard"],
                "coverage90": cal["coverage90"],
                "ess": round(post.ess, 1), "particles": len(post.weights),
                "held_out_ard": (sc_res["held_out"] or {}).get("ard"),
                # the ARD the ensemble scores against its own draws (onward score's floor)
                "ard_floor": ((sc_res.get("ard_floor") or {}).get("calibration")
                              or {}).get("mean"),
                "target_ard": sc.calibration.target_ard,
                "target_coverage90": sc.calibration.target_coverage90,
            }
            results.append(row)
            if not args.json:
                print(" ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
