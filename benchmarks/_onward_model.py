"""The benchmark model in onward: ``onward.engine.kernel.advance`` on an int32 array.

Run by ``benchmarks/run.py`` in the project's interpreter; prints one JSON line. The
kernel is compiled (or loaded from Numba's cache) on a tiny array before the clock starts.
``--backend numpy`` runs the pure NumPy path instead (same locations, slower).
"""

from __future__ import annotations

import sys
import time

import numpy as np
from _measure import emit, peak_bytes, reset_peak, rss_bytes

from benchmarks import _spec
from onward.engine.kernel import Graph, advance, move_table

#: runs shorter than this (seconds) are repeated, and the median time reported
REPEAT_BELOW_S = 0.5
REPEATS = 5


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=180.0)
    ap.add_argument("--backend", default="numba", choices=["numba", "numpy"])
    args = ap.parse_args()
    t_start = time.perf_counter()
    spec = _spec.model()
    g = Graph.from_edges(len(spec["names"]), *_spec.edges(spec))
    mt = move_table(g, spec["move_chance"], score=spec["score"], softening=_spec.SOFTENING)
    # warm up the path the timed run takes (compiled code loaded, threads started), as
    # Flee's and Mesa's set-up is outside their clocks too
    advance(np.zeros(4 << 14, dtype=np.int32), mt, seed=0, steps=2, backend=args.backend,
            threads=args.cores)
    base = rss_bytes()
    reset_peak()
    loc = _spec.start_locations(spec, args.agents)
    setup = time.perf_counter() - t_start
    # never cut: 10M agents x 100 steps take seconds (--budget is accepted for symmetry).
    # A run shorter than REPEAT_BELOW_S is one scheduler hiccup away from a wrong rate,
    # so it is repeated from the same start (same seed: the same result) and the median
    # time is reported; the repeats are counted in the output.
    walls, cpus = [], []
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        advance(loc, mt, args.seed, args.steps, backend=args.backend, threads=args.cores)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        if walls[0] >= REPEAT_BELOW_S or len(walls) == REPEATS:
            break
        _spec.refill_start(spec, loc)
    run_s, cpu_s = float(np.median(walls)), float(np.median(cpus))
    emit(framework="onward" if args.backend == "numba" else "onward-numpy",
         version=_version(), agents=args.agents, steps=args.steps, steps_done=args.steps,
         cores=args.cores, setup_s=setup, run_s=run_s, cpu_s=cpu_s, repeats=len(walls),
         peak_increase_bytes=peak_bytes() - base,
         shares=_spec.shares(loc, g.n_locations).tolist())


def _version() -> str:
    from importlib.metadata import version
    try:
        return version("onward")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        return "dev"


if __name__ == "__main__":
    sys.exit(main())
