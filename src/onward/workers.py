"""Where experiments and calibrations run their simulations: a pool of local processes or
a Dask cluster (shared by :mod:`onward.experiments.runner` and
:mod:`onward.calibration.sampler`)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any


class SchedulerUnreachable(ValueError):
    """No Dask scheduler answers at the address given."""


def check_workers(workers: int | None) -> None:
    """Refuse a number of local workers below 1 (None: all local cores)."""
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be at least 1, got {workers!r}. Fix: leave it "
                         "out to use all local cores")


#: how often a local worker checks that its parent still lives (seconds)
PARENT_CHECK_SECONDS = 1.0


def _worker_start(parent: int) -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent stops the work and
    # says what is kept; a worker that took the signal too would print a traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A parent killed outright (kill -9, the OOM killer) cannot stop its pool: its workers
    # would wait for work forever. Each ends itself once its parent is gone.
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="onward-parent-watch", daemon=True).start()


def local_pool(workers: int) -> ProcessPoolExecutor:
    """``workers`` local processes (forked, so they start at once with what the parent
    has loaded), which leave Ctrl-C to the parent and end when the parent dies."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                               initializer=_worker_start, initargs=(os.getpid(),))


def connect(scheduler: str, timeout: str | None = None) -> Any:
    """A Dask client of the scheduler at ``scheduler`` (``tcp://host:8786``); ``timeout``
    (e.g. ``"5s"``) replaces Dask's connection timeout."""
    from distributed import Client

    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
    if scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise SchedulerUnreachable(
            f"--scheduler {scheduler}: '{scheme}://' is not a Dask address. Fix: give the "
            "scheduler's address as `dask scheduler` prints it, e.g. tcp://127.0.0.1:8786 "
            "(the dashboard's http:// address is another port)")
    try:
        return Client(scheduler) if timeout is None else Client(scheduler, timeout=timeout)
    except OSError as exc:  # distributed's timeout is an OSError without a file name
        raise SchedulerUnreachable(
            f"--scheduler {scheduler}: no Dask scheduler answers there ({exc}). Fix: start "
            "one (`dask scheduler`, or dask-jobqueue on a cluster) and give its address, "
            "e.g. tcp://127.0.0.1:8786; or leave --scheduler out to use local cores") from None
