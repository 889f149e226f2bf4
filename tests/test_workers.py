"""Where simulations run: local worker processes and Dask schedulers."""

from __future__ import annotations

import os
import signal

import pytest

from onward.workers import SchedulerUnreachable, connect, local_pool


def _sigint_handler() -> object:
    return signal.getsignal(signal.SIGINT)


def test_local_workers_leave_ctrl_c_to_the_parent():
    """A worker that took the terminal's Ctrl-C printed its own KeyboardInterrupt
    traceback beside the parent's one-line message; workers ignore SIGINT."""
    with local_pool(2) as pool:
        handlers = {pool.submit(_sigint_handler).result() for _ in range(4)}
        pids = {pool.submit(os.getpid).result() for _ in range(4)}
    assert handlers == {signal.SIG_IGN}
    assert os.getpid() not in pids
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN  # the parent keeps it


def test_a_dashboard_address_is_not_taken_for_a_scheduler():
    """--scheduler http://... ended in distributed's 'unknown address scheme' without naming
    the option."""
    with pytest.raises(SchedulerUnreachable, match=r"--scheduler http://127\.0\.0\.1:8787: "
                       r"'http://' is not a Dask address\. Fix: .* tcp://127\.0\.0\.1:8786"):
        connect("http://127.0.0.1:8787")


def test_an_unreachable_scheduler_is_named_with_a_fix():
    """A scheduler address nobody answers at ended in "cannot use: Timed out ... Fix: check
    that the path exists" (the catch-all for files)."""
    with pytest.raises(SchedulerUnreachable, match=r"--scheduler tcp://127\.0\.0\.1:1: no "
                       r"Dask scheduler answers there .* Fix: start one"):
        connect("tcp://127.0.0.1:1", timeout="2s")


_ORPHAN_SCRIPT = """
import os, sys, time
from onward.workers import local_pool
pool = local_pool(2)
pids = {pool.submit(os.getpid).result() for _ in range(8)}
print(" ".join(map(str, sorted(pids))), flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"  # a zombie has ended
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc (Linux)")
def test_local_workers_end_when_their_parent_is_killed():
    """kill -9 of a calibration left its two workers waiting for work forever (parent 1)."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT], stdout=subprocess.PIPE,
                            text=True)
    try:
        pids = [int(x) for x in proc.stdout.readline().split()]
        assert len(pids) >= 1 and all(_alive(p) for p in pids)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in pids if _alive(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, f"workers {left} outlived their killed parent"
