"""Benchmark: flagship runs per minute on local workers, and the overhead of Dask.

    python benchmarks/experiments.py            # 16 replicates, 2 workers
    python benchmarks/experiments.py -n 40 --workers 2 --json

Runs the same ensemble (same master seed, so the same simulations) three ways, each into
a fresh store: inline (1 worker), a local process pool, and a local Dask cluster with the
same number of worker processes (loopback only). Prints runs per minute for each, the
speed-up of the pool over inline, the ratio of Dask to local-pool wall time (the Dask
overhead), and checks that all three give identical numbers.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from onward.experiments.ensemble import ensemble


def timed(scenario: str, n: int, seed: int, **kw) -> tuple[float, object]:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = ensemble(scenario, n=n, seed=seed, store=Path(tmp) / "b.duckdb", **kw)
        return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--scenario", default="nk-onward")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    from distributed import LocalCluster

    rows = []
    inline_s, a = timed(args.scenario, args.n, 1, workers=1)
    rows.append({"mode": "inline", "workers": 1, "seconds": inline_s})
    pool_s, b = timed(args.scenario, args.n, 1, workers=args.workers)
    rows.append({"mode": "local-pool", "workers": args.workers, "seconds": pool_s})
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster:
        dask_s, c = timed(args.scenario, args.n, 1, scheduler=cluster.scheduler_address)
    rows.append({"mode": "dask-local-cluster", "workers": args.workers, "seconds": dask_s})
    for r in rows:
        r["runs_per_minute"] = round(args.n / r["seconds"] * 60, 1)
        r["seconds"] = round(r["seconds"], 2)
    same = a.bands.equals(b.bands) and a.bands.equals(c.bands)
    summary = {"scenario": args.scenario, "replicates": args.n, "results": rows,
               "pool_speedup": round(inline_s / pool_s, 2),
               "dask_overhead_ratio": round(dask_s / pool_s, 2), "identical": same}
    if args.json:
        print(json.dumps(summary))
    else:
        for r in rows:
            print(f"{r['mode']:>20}: {r['workers']} worker(s), {r['seconds']:7.2f} s, "
                  f"{r['runs_per_minute']:6.1f} runs/min")
        print(f"pool speed-up over inline: {summary['pool_speedup']}x; Dask/local wall-time "
              f"ratio: {summary['dask_overhead_ratio']}; identical results: {same}")


if __name__ == "__main__":
    main()
