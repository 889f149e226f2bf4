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


def test_an_unreachable_scheduler_is_named_with_a_fix():
    """A scheduler address nobody answers at ended in "cannot use: Timed out ... Fix: check
    that the path exists" (the catch-all for files)."""
    with pytest.raises(SchedulerUnreachable, match=r"--scheduler tcp://127\.0\.0\.1:1: no "
                       r"Dask scheduler answers there .* Fix: start one"):
        connect("tcp://127.0.0.1:1", timeout="2s")
