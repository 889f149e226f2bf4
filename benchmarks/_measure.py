"""Timing and memory helpers shared by the framework runners (standard library + NumPy).

Each runner is one subprocess per (framework, agents, cores): it builds the model, takes
its resident memory as the baseline, resets the kernel's peak-RSS mark, creates the agents
and runs the steps, then reports the peak increase per agent. A run that would pass its
time budget stops early and says how many steps it made; the harness extrapolates.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runners are started as scripts, possibly in another venv
    sys.path.insert(0, str(ROOT))


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; else the peak so far)."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else peak_bytes()


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS, where Linux allows."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_bytes() -> int:
    """Peak resident set size since the last :func:`reset_peak` (or process start)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * 1024


def timed_steps(step: Callable[[int], None], steps: int, budget_s: float,
                spent_s: float, agree: Callable[[float], float] = lambda x: x,
                ) -> list[float]:
    """Run ``step(t)`` for t = 0..steps-1 while the next step fits in the budget.

    Returns the seconds of each step done (their CPU seconds go to ``CPU["s"]``). The
    run stops when the time spent (``spent_s`` for set-up plus the steps so far) and one
    more step like the last would pass ``budget_s``; the harness extrapolates the rest.
    ``agree`` makes MPI ranks share one clock (the slowest rank's) so they stop together.
    """
    times: list[float] = []
    t_start = time.perf_counter()
    c_start = time.process_time()
    for t in range(steps):
        t0 = time.perf_counter()
        step(t)
        times.append(agree(time.perf_counter() - t0))
        left = steps - t - 1
        if left and spent_s + agree(time.perf_counter() - t_start) + times[-1] > budget_s:
            break
    CPU["s"] = time.process_time() - c_start
    return times


CPU = {"s": 0.0}
"""CPU seconds of this process in the last :func:`timed_steps` (all its threads)."""


def cli(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--agents", type=int, required=True)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cores", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--budget", type=float, default=180.0, help="seconds for the whole run")
    return ap.parse_args()


def emit(**fields) -> None:
    """Print the runner's result as one JSON line (the harness reads the last line)."""
    print(json.dumps(fields), flush=True)
