"""Benchmark: the same movement model in Flee 3.1, Mesa 3 and onward.

    python benchmarks/run.py            # full run: 10k, 100k, 1M agents x 100 steps,
                                        # memory bandwidth, the 10M-agent scale table
    python benchmarks/run.py --quick    # 10k agents only (CI)
    python benchmarks/run.py --json     # one JSON object on stdout, progress on stderr

The model (benchmarks/_spec.py): agents on a random graph of 200 locations; each step an
agent moves with its location type's move chance to a neighbour chosen with weight
``score / (10 + distance)``, Flee's default rule. Flee and Mesa run in a virtualenv of
their own (benchmarks/_env.py builds it on first use: Python 3.12, flee==3.1, mesa);
onward runs in this interpreter. Every (framework, agents, cores) is one subprocess, run
one after another, that reports the seconds of its steps, the peak resident memory it
added per agent, and its final location shares; the harness compares every framework's
shares with the exact Markov-chain expectation (``p0 @ P**steps``). Agent-steps per
second = agents x steps / seconds of all steps (set-up excluded).

A run that would pass ``--budget`` seconds (180, set-up included) stops early and is
labelled ``extrapolated``: the steps it did not make are predicted from the steps it made
and each step's exactly known share of movers (see ``step_seconds``); its shares are
checked at the step where it stopped. The load average is printed at the start and at the
end: the machine has 2 cores, and timings taken while other work runs are low.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks import _spec  # noqa: E402
from benchmarks._env import ensure_env, mpiexec  # noqa: E402
from onward.engine.kernel import (  # noqa: E402
    BLOCK,
    Graph,
    choice_table,
    numba_available,
    transition_matrix,
)

SIZES = (10_000, 100_000, 1_000_000)
SCALE_SIZES = (1_250_000, 2_500_000, 5_000_000, 10_000_000)
STEPS = 100
TOLERANCE = 0.01
TARGETS = {"onward_vs_flee": 500.0, "onward_vs_mesa": 300.0, "bytes_per_agent_1M": 200.0}
# bytes the onward kernel touches per agent-step: its location (int32) read and written,
# its random byte written by NumPy and read by the loop, and the chunk of 32-bit numbers
# drawn per block for the few agents that need 24 more bits (1/16 of the agents, 4 bytes)
BYTES_PER_AGENT_STEP = 4 + 4 + 1 + 1 + 4 / 16


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_one(py: Path | str, runner: str, agents: int, steps: int, cores: int, budget: float,
            extra: tuple[str, ...] = ()) -> dict:
    """Run one framework runner in a subprocess and return its JSON result."""
    cmd = [str(py), str(HERE / runner), "--agents", str(agents), "--steps", str(steps),
           "--cores", str(cores), "--budget", str(budget), *extra]
    if runner == "_flee_model.py" and cores > 1:  # pflee: one MPI rank per core
        cmd = [str(mpiexec(Path(py))), "-n", str(cores), *cmd]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=budget * 2 + 300,
                           cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {time.perf_counter() - t0:.0f} s"}
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode or not lines:
        return {"error": (r.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    return json.loads(lines[-1])


class Exact:
    """The exact chain of the model with float probabilities (Flee's and Mesa's rule)."""

    def __init__(self) -> None:
        self.spec = _spec.model()
        self.g = Graph.from_edges(len(self.spec["names"]), *_spec.edges(self.spec))
        table = choice_table(self.g, score=self.spec["score"], softening=_spec.SOFTENING)
        self.p = transition_matrix(self.g, self.spec["move_chance"], table)

    def shares(self, agents: int, steps: int) -> np.ndarray:
        p = _spec.shares(_spec.start_locations(self.spec, agents), self.g.n_locations)
        for _ in range(steps):
            p = p @ self.p
        return p


def step_seconds(raw: dict, exact: Exact) -> float:
    """Seconds for all the steps: measured, or extrapolated when the run was cut.

    A step of Flee or Mesa costs about ``a + b * movers``: the agents that move pick a
    route, the others only draw a number. The expected share of movers at step ``t`` is
    known exactly (``p_t . move_chance``), so the steps made fix ``a`` and ``b`` (least
    squares; proportional to the movers when that is all they can tell), and the steps not
    made are predicted from their expected movers.
    """
    steps, done = raw["steps"], raw["steps_done"]
    if done >= steps:
        return raw["run_s"]
    times = np.array(raw["step_times"], dtype=float)
    p = _spec.shares(_spec.start_locations(exact.spec, raw["agents"]), exact.g.n_locations)
    movers = []
    for _ in range(steps):
        movers.append(float(p @ exact.spec["move_chance"]))
        p = p @ exact.p
    m = np.array(movers)
    a, b = 0.0, times.sum() / m[:done].sum()
    if done >= 2 and np.ptp(m[:done]) > 1e-9:
        a_fit, b_fit = np.linalg.lstsq(np.c_[np.ones(done), m[:done]], times, rcond=None)[0]
        if a_fit >= 0 and b_fit >= 0:
            a, b = a_fit, b_fit
    return float(times.sum() + (a + b * m[done:]).sum())


def result_row(raw: dict, exact: Exact, framework: str, agents: int, steps: int,
               cores: int) -> dict:
    row = {"framework": framework, "agents": agents, "steps": steps, "cores": cores}
    if "error" in raw:
        return row | {"agent_steps_per_s": None, "bytes_per_agent": None,
                      "max_share_error": None, "extrapolated": False, "error": raw["error"]}
    done = raw["steps_done"]
    err = np.abs(np.array(raw["shares"]) - exact.shares(agents, done)).max()
    run_s = step_seconds(raw, exact)
    return row | {
        "agent_steps_per_s": agents * steps / run_s,
        "bytes_per_agent": raw["peak_increase_bytes"] / agents,
        "max_share_error": float(err),
        "extrapolated": done < steps,
        # CPU seconds of the steps made, all threads/ranks: robust to a busy machine
        "agent_steps_per_cpu_s": agents * done / raw["cpu_s"] if raw.get("cpu_s") else None,
        "steps_done": done,
        "setup_s": raw["setup_s"],
        "time_s": raw["setup_s"] + run_s,
        "version": raw.get("version"),
        # a short onward run is repeated from the same start; run_s is the median
        "repeats": raw.get("repeats", 1),
    }


def bandwidth(mib: int = 512, repeats: int = 5) -> dict:
    """Memory bandwidth (GB/s) from copying a large array, on 1 and on 2 threads.

    A copy reads and writes each byte once, so bytes moved = 2 x size (write-allocate
    traffic is not counted, as in STREAM's copy).
    """
    a = np.ones(mib * 2**20 // 8)
    b = np.empty_like(a)
    out = {"array_mib": mib}
    for threads in (1, 2):
        parts = np.array_split(np.arange(len(a)), threads)
        spans = [(int(p[0]), int(p[-1]) + 1) for p in parts]

        def copy(span: tuple[int, int]) -> None:
            np.copyto(b[span[0]:span[1]], a[span[0]:span[1]])

        best = float("inf")
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(repeats):
                t0 = time.perf_counter()
                list(pool.map(copy, spans))
                best = min(best, time.perf_counter() - t0)
        out[f"copy_gb_s_{threads}"] = 2 * a.nbytes / best / 1e9
    return out


def scale_table(sizes: tuple[int, ...], steps: int, cores: int) -> list[dict]:
    rows = []
    for n in sizes:
        log(f"  scale: onward {n:,} agents x {steps} steps, {cores} cores")
        raw = run_one(sys.executable, "_onward_model.py", n, steps, cores, 600.0)
        if "error" in raw:
            rows.append({"agents": n, "steps": steps, "error": raw["error"]})
            continue
        rows.append({
            "agents": n, "steps": steps, "cores": cores, "time_s": raw["run_s"],
            "ns_per_agent_step": raw["run_s"] / (n * raw["steps_done"]) * 1e9,
            "peak_mib": raw["peak_increase_bytes"] / 2**20,
            "bytes_per_agent": raw["peak_increase_bytes"] / n,
        })
    return rows


def ratios(results: list[dict]) -> dict:
    def rate(fw: str, n: int, cores: int | None = None) -> float | None:
        rs = [r["agent_steps_per_s"] for r in results if r["framework"] == fw
              and r["agents"] == n and r["agent_steps_per_s"]
              and (cores is None or r["cores"] == cores)]
        return max(rs) if rs else None

    out = {}
    for n in sorted({r["agents"] for r in results}):
        best = rate("onward", n)
        for other in ("flee", "mesa", "onward-numpy"):
            o = rate(other, n)
            if best and o:
                out[f"onward_vs_{other.replace('-', '_')}_{n}"] = best / o
        one, two = rate("onward", n, 1), rate("onward", n, 2)
        if one and two:
            out[f"onward_2_vs_1_cores_{n}"] = two / one
    return out


def verdicts(results: list[dict], rat: dict) -> dict:
    """PASS/FAIL against the issue's targets (only those this run measured)."""
    v = {"share_errors_below_0.01": all(
        r["max_share_error"] is not None and r["max_share_error"] < TOLERANCE
        for r in results)}
    for key, target in (("onward_vs_flee_100000", TARGETS["onward_vs_flee"]),
                        ("onward_vs_mesa_100000", TARGETS["onward_vs_mesa"])):
        if key in rat:
            v[f"{key}>={target:g}"] = rat[key] >= target
    mem = [r["bytes_per_agent"] for r in results
           if r["framework"] == "onward" and r["agents"] == 1_000_000 and r["bytes_per_agent"]]
    if mem:
        v["onward_1M_bytes_per_agent<200"] = max(mem) < TARGETS["bytes_per_agent_1M"]
    return v


def print_report(rep: dict) -> None:
    p = print
    p(f"onward movement benchmark  {rep['date']}  {rep['machine']}")
    p(f"load average at start {rep['load_start']}, at end {rep['load_end']}")
    p(f"{rep['steps']} steps; frameworks: {rep['versions']}")
    p("")
    p(f"{'framework':14} {'agents':>10} {'cores':>5} {'agent-steps/s':>14} "
      f"{'per CPU-s':>10} {'bytes/agent':>12} {'max share err':>14} {'time s':>8}  note")
    for r in rep["results"]:
        if r.get("error"):
            p(f"{r['framework']:14} {r['agents']:>10,} {r['cores']:>5}  ERROR {r['error']}")
            continue
        notes = []
        if r["framework"] == "flee" and r["cores"] > 1:
            notes.append("pflee, MPI ranks")
        if r["extrapolated"]:
            notes.append(f"extrapolated from {r['steps_done']} steps")
        if r.get("repeats", 1) > 1:
            notes.append(f"median of {r['repeats']} runs")
        note = ", ".join(notes)
        p(f"{r['framework']:14} {r['agents']:>10,} {r['cores']:>5} "
          f"{r['agent_steps_per_s']:>14.3g} {r['agent_steps_per_cpu_s'] or 0:>10.3g} "
          f"{r['bytes_per_agent']:>12.1f} "
          f"{r['max_share_error']:>14.5f} {r['time_s']:>8.1f}  {note}")
    p("time s: wall seconds of the run, its set-up included (agent-steps/s count the steps "
      "only)")
    p("")
    p("ratios (onward at its best core count over the other):")
    for k, v in rep["ratios"].items():
        p(f"  {k:32} {v:10.1f}")
    if rep.get("bandwidth"):
        b = rep["bandwidth"]
        p("")
        p(f"memory bandwidth (copy, {b['array_mib']} MiB): {b['copy_gb_s_1']:.1f} GB/s on 1 "
          f"thread, {b['copy_gb_s_2']:.1f} GB/s on 2")
        p(f"onward touches {BYTES_PER_AGENT_STEP:.2f} bytes per agent-step; if they all came from "
          f"memory the bound would be {b['bound_1']:.3g} (1 core) / {b['bound_2']:.3g} "
          f"(2 cores) agent-steps/s")
        for k in ("fraction_1", "fraction_2"):
            if k in b:
                p(f"  onward at {b['agents']:,} agents reaches {b[k]:.2f} of the bound "
                  f"({k[-1]} core{'s' if k[-1] == '2' else ''})")
        p(f"  (blocks of {b['block_agents']:,} agents stay in cache for all steps, so main "
          f"memory sees about {b['dram_bytes_per_agent_step']:.2f} bytes per agent-step)")
    if rep.get("scale"):
        p("")
        p("scale (onward, one process per row):")
        p(f"{'agents':>12} {'steps':>6} {'cores':>5} {'time s':>8} {'ns/agent-step':>14} "
          f"{'peak MiB':>9} {'bytes/agent':>12}")
        for r in rep["scale"]:
            if r.get("error"):
                p(f"{r['agents']:>12,} ERROR {r['error']}")
                continue
            p(f"{r['agents']:>12,} {r['steps']:>6} {r['cores']:>5} {r['time_s']:>8.2f} "
              f"{r['ns_per_agent_step']:>14.2f} {r['peak_mib']:>9.1f} "
              f"{r['bytes_per_agent']:>12.2f}")
    p("")
    for k, ok in rep["verdicts"].items():
        p(f"{'PASS' if ok else 'FAIL'}  {k}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k agents only, no scale table")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ap.add_argument("--sizes", type=int, nargs="+", help="agent counts (default 10k 100k 1M)")
    ap.add_argument("--steps", type=int, default=STEPS, help=f"steps per run (default {STEPS})")
    ap.add_argument("--budget", type=float, default=180.0, help="seconds per run before "
                    "it is cut and extrapolated")
    ap.add_argument("--frameworks", nargs="+", default=["flee", "mesa", "onward"],
                    choices=["flee", "mesa", "onward"])
    ap.add_argument("--no-scale", action="store_true", help="skip the 10M-agent scale table")
    ap.add_argument("--env", default=".bench-env", help="virtualenv for Flee and Mesa, "
                    "created on first use with pip (flee==3.1, mesa; Python 3.12 if pyenv "
                    "has it) (default: .bench-env in the current folder)")
    ap.add_argument("--save", metavar="PATH", help="also write the JSON report to PATH")
    args = ap.parse_args(argv)
    sizes = tuple(args.sizes or ((10_000,) if args.quick else SIZES))
    t_all = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    log(f"load average {load_start}")
    # pflee (2 MPI ranks) runs in the full benchmark only: CI skips installing MPI
    pflee = "flee" in args.frameworks and not args.quick
    py = (ensure_env(args.env, mpi=pflee) if {"flee", "mesa"} & set(args.frameworks)
          else None)
    if "onward" in args.frameworks and not numba_available():
        log("numba does not import: onward runs its NumPy path only")
    exact = Exact()
    plan: list[tuple[str, str, Path | str, int, tuple[str, ...]]] = []
    if "flee" in args.frameworks:
        plan += [("flee", "_flee_model.py", py, c, ()) for c in ((1, 2) if pflee else (1,))]
    if "mesa" in args.frameworks:
        plan.append(("mesa", "_mesa_model.py", py, 1, ()))
    if "onward" in args.frameworks:
        if numba_available():
            plan += [("onward", "_onward_model.py", sys.executable, c, ()) for c in (1, 2)]
        plan.append(("onward-numpy", "_onward_model.py", sys.executable, 1,
                     ("--backend", "numpy")))
    results = []
    for n in sizes:
        for fw, runner, interp, cores, extra in plan:
            log(f"{fw} {n:,} agents x {args.steps} steps, {cores} core(s) ...")
            raw = run_one(interp, runner, n, args.steps, cores, args.budget, extra)
            row = result_row(raw, exact, fw, n, args.steps, cores)
            err = row.get("max_share_error")
            log(f"  -> {row.get('agent_steps_per_s') or 0:.3g} agent-steps/s, max share "
                f"error {'-' if err is None else f'{err:.4f}'}"
                + (f", {row['error']}" if row.get("error") else ""))
            results.append(row)
    rat = ratios(results)
    rep: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python "
                   f"{platform.python_version()}",
        "command": "python benchmarks/run.py " + " ".join(argv if argv is not None
                                                         else sys.argv[1:]),
        "steps": args.steps, "load_start": load_start,
        "versions": {r["framework"]: r.get("version") for r in results},
        "results": results, "ratios": rat,
    }
    if not args.quick:
        log("memory bandwidth ...")
        b = bandwidth()
        b["block_agents"] = BLOCK
        b["agents"] = max(sizes)
        b["dram_bytes_per_agent_step"] = 8 / args.steps
        for c in (1, 2):
            b[f"bound_{c}"] = b[f"copy_gb_s_{c}"] * 1e9 / BYTES_PER_AGENT_STEP
            rs = [r["agent_steps_per_s"] for r in results if r["framework"] == "onward"
                  and r["cores"] == c and r["agents"] == max(sizes) and r["agent_steps_per_s"]]
            if rs:
                b[f"fraction_{c}"] = rs[0] / b[f"bound_{c}"]
        rep["bandwidth"] = b
        rep["bytes_per_agent_step"] = BYTES_PER_AGENT_STEP
        if not args.no_scale and "onward" in args.frameworks:
            rep["scale"] = scale_table(SCALE_SIZES, args.steps, 2 if numba_available() else 1)
    rep["verdicts"] = verdicts(results, rat)
    rep["load_end"] = [round(x, 2) for x in os.getloadavg()]
    rep["harness_s"] = time.perf_counter() - t_all
    if args.save:
        Path(args.save).write_text(json.dumps(rep, indent=1))
    if args.json:
        print(json.dumps(rep))
    else:
        print_report(rep)
        print(f"\nharness time {rep['harness_s'] / 60:.1f} min")
    return 0 if rep["verdicts"]["share_errors_below_0.01"] else 1


if __name__ == "__main__":
    sys.exit(main())
