"""Where experiments and calibrations run their simulations: a pool of local processes or
a Dask cluster (shared by :mod:`onward.experiments.runner` and
:mod:`onward.calibration.sampler`)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from onward.interrupts import held_interrupts
from onward.options import option


class SchedulerUnreachable(ValueError):
    """No Dask scheduler answers at the address given."""


class ClusterError(RuntimeError):
    """The Dask cluster cannot run the work: its workers lack onward, or it stopped the
    work (the scheduler was lost, a task killed its workers). Finished work is kept."""


class ClusterWarning(UserWarning):
    """Something about the Dask cluster the user should know (no workers yet); the work
    goes on."""


#: seconds to wait for a Dask scheduler's answer before giving up (Dask's own connect
#: timeout does not cover a port that accepts the connection but never answers, such as
#: the dashboard's)
CONNECT_SECONDS = 60.0


def check_workers(workers: int | None) -> None:
    """Refuse a number of local workers below 1 (None: all local cores)."""
    from onward.arguments import check_type

    check_type(workers, "workers", "whole", optional=True)
    if workers is not None and workers < 1:
        raise ValueError(f"{option('workers')} must be at least 1, got {workers!r}. Fix: leave it "
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


#: how often a wait on local workers looks for a Ctrl-C held meanwhile (seconds)
HELD_CHECK_SECONDS = 0.2


def wait_first(futures: Iterable[Future]) -> set[Future]:
    """The finished ones of local ``futures``, once at least one has finished
    (``concurrent.futures.wait`` with ``FIRST_COMPLETED``), where a Ctrl-C ends the wait
    only between the library's steps (:func:`held_interrupts`); none given, none finished
    (not a wait for ever)."""
    futures = list(futures)
    with held_interrupts() as check:
        while futures:
            done, _ = wait(futures, timeout=HELD_CHECK_SECONDS, return_when=FIRST_COMPLETED)
            check()
            if done:
                return done
    return set()


def scheduler_address(scheduler: Any) -> str:
    """The address of a Dask scheduler given as an address, a ``distributed.Client`` or a
    cluster object (``LocalCluster``, dask-jobqueue's ``SLURMCluster``)."""
    if isinstance(scheduler, str):
        return scheduler
    address = getattr(scheduler, "scheduler_address", None)  # a cluster, or a Client
    if not isinstance(address, str):
        address = getattr(getattr(scheduler, "scheduler", None), "address", None)
    if isinstance(address, str) and address:
        return address
    raise ValueError(f"scheduler={type(scheduler).__name__}: give a Dask scheduler's address "
                     "(e.g. 'tcp://127.0.0.1:8786'), a distributed.Client or a cluster "
                     "object (its .scheduler_address)")


def connect(scheduler: Any, timeout: str | None = None) -> Any:
    """A Dask client of the scheduler at ``scheduler`` (``tcp://host:8786``, or a Client or
    cluster object: a client of its own is made, so closing it leaves the user's alone);
    ``timeout`` (e.g. ``"5s"``) replaces Dask's connection timeout.

    Raises :class:`SchedulerUnreachable` when nothing answers (within
    :data:`CONNECT_SECONDS`) and :class:`ClusterError` when workers cannot import onward
    or run other onward code (:func:`onward.analysis.runs.code_hash`); warns
    (:class:`ClusterWarning`) when there are no workers yet.
    """
    from distributed import Client

    scheduler = scheduler_address(scheduler)
    scheme = scheduler.split("://", 1)[0] if "://" in scheduler else "tcp"
    if scheme not in ("tcp", "tls", "ws", "wss", "inproc", "ucx"):
        raise SchedulerUnreachable(
            f"{option('scheduler', scheduler)}: '{scheme}://' is not a Dask address. Fix: "
            "give the scheduler's address as `dask scheduler` prints it, e.g. tcp://127.0.0.1:8786 "
            "(the dashboard's http:// address is another port)")
    fix = ("Fix: start one (`dask scheduler`, or dask-jobqueue on a cluster) and give its "
           "address, e.g. tcp://127.0.0.1:8786; or leave "
           f"{option('scheduler')} out to use local cores")
    refused = _refused(scheduler) if scheme == "tcp" else None
    if refused is not None:  # Dask would retry for its whole connect timeout (30 s)
        raise SchedulerUnreachable(
            f"{option('scheduler', scheduler)}: no Dask scheduler answers there ({refused}). "
            + fix)
    try:
        client = _within(CONNECT_SECONDS, lambda: Client(scheduler) if timeout is None
                         else Client(scheduler, timeout=timeout))
    except TimeoutError:
        raise SchedulerUnreachable(
            f"{option('scheduler', scheduler)}: nothing answered as a Dask scheduler within "
            f"{CONNECT_SECONDS:.0f} s (is it the dashboard's port? `dask scheduler` prints "
            "'Scheduler at: tcp://...:8786', and the dashboard's address on the line below). "
            + fix) from None
    except OSError as exc:  # distributed's timeout is an OSError without a file name
        raise SchedulerUnreachable(
            f"{option('scheduler', scheduler)}: no Dask scheduler answers there ({exc}). "
            + fix) from None
    try:
        _check_cluster(client, scheduler)
    except BaseException:
        client.close()
        raise
    return client


def _refused(address: str) -> str | None:
    """Why nothing can be listening at the TCP ``address`` (the connection was refused,
    or the host does not exist), or None if something accepts it or the answer is slow."""
    import socket

    host, _, port = address.split("://", 1)[-1].rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit():
        return None  # Dask says what is wrong with the address
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except ConnectionRefusedError:
        return f"the connection to {host}:{port} was refused: nothing listens on that port"
    except socket.gaierror as exc:
        return f"no host {host!r} is known ({exc.strerror})"
    except OSError:
        return None  # slow or unrouted: Dask's own timeout decides
    return None


def _within(seconds: float, make: Any) -> Any:
    """``make()``, or TimeoutError if it has not returned after ``seconds`` (it is left to
    finish in a daemon thread)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = make()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    th = threading.Thread(target=run, name="onward-dask-connect", daemon=True)
    th.start()
    th.join(seconds)
    if th.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]


def _worker_code() -> tuple[str, str]:
    """onward's version and :func:`onward.analysis.runs.code_hash` in this process (run on
    each Dask worker: it fails there, and says why, if the worker cannot import onward)."""
    import onward
    from onward.analysis.runs import code_hash

    return onward.__version__, code_hash()


def this_worker() -> str:
    """The address of the Dask worker that runs this (``tcp://10.0.0.5:40123``), or the
    process's id outside Dask (a local pool's worker)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):  # ValueError: not in a Dask worker
        return f"process {os.getpid()}"


#: how to put every Dask worker on this process's code (the fix of a mismatch)
SAME_CODE_FIX = ("start every worker from the same checkout or installation as this command "
                 "(the same environment and PYTHONPATH)")


def refuse_other_code(theirs: str | None, who: str, why: str, then: str) -> None:
    """Raise :class:`ClusterError` when ``theirs``, the code hash a worker returned with a
    result, is not this process's (:func:`onward.analysis.runs.code_hash`): a Dask worker
    that joined the cluster after :func:`connect` checked it may run another checkout.
    The message is ``who`` (``"job 3 was run by a worker with"``, ``"the Dask worker W
    runs"``) other onward code, ``why`` (what was kept or dropped), and the fix, then
    ``then`` (how to go on)."""
    from onward.analysis.runs import code_hash  # (looked up at call: tests replace it)

    if theirs != code_hash():
        raise ClusterError(f"{who} other onward code ({theirs}) than this process "
                           f"({code_hash()}); {why}. Fix: {SAME_CODE_FIX}, then {then}")


def _check_cluster(client: Any, address: str) -> None:
    """Refuse a scheduler or workers that cannot import onward (each worker died on its
    first task and the command waited forever) or run other onward code (their jobs were
    stored under this code's experiment id, and reused by later runs); warn of no workers
    yet."""

    version, code = _worker_code()
    # the scheduler unpickles every task, so it needs onward too, and the same (one started
    # before a change keeps the old modules: every task failed in 'Error during
    # deserialization of the task graph')
    fix = ("Fix: start the scheduler from the same checkout or installation as this command "
           "(the same environment and PYTHONPATH), then run the command again")
    try:
        there = client.run_on_scheduler(_worker_code)
    except Exception as exc:
        raise ClusterError(f"the Dask scheduler at {address} cannot import onward's code "
                           f"({type(exc).__name__}: {exc}). {fix}") from None
    if there[1] != code:
        raise ClusterError(f"the Dask scheduler at {address} runs other onward code (onward "
                           f"{there[0]}, code {there[1]}) than this process (onward {version}, "
                           f"code {code}). {fix}")
    workers = client.scheduler_info().get("workers", {})
    if not workers:
        warnings.warn(ClusterWarning(
            f"the Dask scheduler at {address} has no workers yet: the work waits until one "
            "connects (on Slurm, until a worker job starts; squeue lists them)"), stacklevel=3)
        return
    found = client.run(_worker_code, on_error="return")
    lacking = {w: v for w, v in found.items() if not isinstance(v, tuple)}
    if lacking:
        w, exc = next(iter(lacking.items()))
        raise ClusterError(
            f"{len(lacking)} of {len(found)} Dask workers at {address} cannot import onward "
            f"(e.g. {w}: {type(exc).__name__}: {exc}). Fix: start the workers with the Python "
            "environment where onward is installed (dask-jobqueue: "
            "SLURMCluster(python='/path/to/venv/bin/python', ...))")
    other = {w: v for w, v in found.items() if v[1] != code}
    if other:
        named = ", ".join(f"{w} (onward {v}, code {c})"
                          for w, (v, c) in sorted(other.items())[:3])
        more = f" and {len(other) - 3} more" if len(other) > 3 else ""
        raise ClusterError(
            f"{len(other)} of {len(found)} Dask workers at {address} run other onward code "
            f"than this process (onward {version}, code {code}): {named}{more}. Their results "
            f"would be stored as this code's and reused by later runs. Fix: {SAME_CODE_FIX}, "
            "then run the command again")


#: how long the work waits for a Dask worker once every worker it had has died or left
#: (seconds), unless Dask's config sets ``onward.no-workers-timeout``: the scheduler keeps
#: the tasks, and the command waited for them forever. Long enough for a Slurm job that
#: replaces one past its wall time to leave the queue on most clusters.
NO_WORKERS_SECONDS = 1800.0


def no_workers_seconds() -> float | None:
    """:data:`NO_WORKERS_SECONDS`, or Dask's ``onward.no-workers-timeout`` ("2 hours";
    ``null`` waits forever): set it in ~/.config/dask/ or ``DASK_ONWARD__NO_WORKERS_TIMEOUT``
    where replacement jobs wait longer in the queue."""
    import dask.config
    from dask.utils import parse_timedelta

    value = dask.config.get("onward.no-workers-timeout", NO_WORKERS_SECONDS)
    return None if value is None else float(parse_timedelta(value, default="seconds"))
#: how often a wait for Dask tasks looks whether the cluster still has workers (seconds)
WATCH_SECONDS = 5.0


class DaskWait:
    """Waits for the tasks of a Dask ``client``: the cluster's failure, or a cluster left
    without workers for :data:`NO_WORKERS_SECONDS` after having some, raises one
    :class:`ClusterError` that says how to go on (``resume``). A cluster that has had no
    workers yet (Slurm jobs pending) is waited for, as :func:`connect` warned."""

    def __init__(self, client: Any, resume: str) -> None:
        self.client, self.resume = client, resume
        self._seen = bool(self._workers())
        self._none_since: float | None = None
        self._checked = time.monotonic()
        self._limit = no_workers_seconds()

    def _workers(self) -> int:
        with cluster_errors(self.resume):
            return len(self.client.nthreads())

    def check(self) -> None:
        """Raise :class:`ClusterError` if the cluster has been without workers too long
        (looks at most every :data:`WATCH_SECONDS`)."""
        now = time.monotonic()
        if now - self._checked < WATCH_SECONDS:
            return
        self._checked = now
        if self._workers():
            self._seen, self._none_since = True, None
            return
        if not self._seen:
            return
        if self._none_since is None:
            self._none_since = now
            if self._limit is None or self._limit > 60:
                warnings.warn(ClusterWarning(
                    "every Dask worker has died or left; waiting for new ones "
                    + ("for ever" if self._limit is None else f"up to {self._limit:g} s")
                    + " (Dask config onward.no-workers-timeout)"), stacklevel=2)
        elif self._limit is not None and now - self._none_since >= self._limit:
            raise ClusterError(
                "every Dask worker has died or left, and none came back within "
                f"{self._limit:g} s: the work would wait forever. Finished work is kept "
                "in the store. Fix: read the workers' logs (a worker that cannot import onward, "
                "or runs out of memory, dies on its first task), start workers again, then "
                f"{self.resume} (where new workers wait longer in a queue, raise Dask's "
                "onward.no-workers-timeout)")

    def wait_any(self, futures: list[Any]) -> None:
        """Return once one of ``futures`` has finished."""
        from distributed import wait

        while True:
            try:
                with cluster_errors(self.resume):  # a lost scheduler raises here
                    wait(futures, timeout=WATCH_SECONDS, return_when="FIRST_COMPLETED")
                return
            except TimeoutError:  # (not the cluster's failure: it passes through)
                pass
            self.check()

    def as_completed(self, futures: list[Any]) -> Iterator[Any]:
        """``futures`` as they finish (whatever their outcome)."""
        from distributed import as_completed

        done = as_completed(futures)
        while not done.is_empty():
            batch = done.next_batch(block=False)
            if not batch:
                self.check()
                time.sleep(0.1)
            yield from batch


#: what the distributed package raises when the cluster, not the model, failed
_CLUSTER_FAILURES = ("FutureCancelledError", "FuturesCancelledError", "KilledWorker",
                     "CommClosedError")


def result_of(future: Any, resume: str) -> Any:
    """A Dask future's result; the cluster's failure (not the model's) as one
    :class:`ClusterError` that says how to go on (``resume``)."""
    with cluster_errors(resume):
        return future.result()


@contextmanager
def cluster_errors(resume: str) -> Iterator[None]:
    """Turn the cluster's failure inside the block into one :class:`ClusterError` that says
    how to go on (``resume``); the model's errors pass through as they are."""
    try:
        yield
    except Exception as exc:
        failed = cluster_failure(exc, resume)
        if failed is None:
            raise
        raise failed from exc


def cluster_failure(exc: BaseException, resume: str) -> ClusterError | None:
    """A :class:`ClusterError` saying what happened and how to go on (``resume``: the
    command to give) if ``exc`` is the cluster's failure, not the model's; else None."""
    name = type(exc).__name__
    if name not in _CLUSTER_FAILURES and not type(exc).__module__.startswith("distributed"):
        return None
    # (FuturesCancelledError gives its reasons, scheduler-connection-lost, on later lines)
    why = " ".join(line.strip() for line in str(exc).splitlines() if line.strip()) or name
    why = why.split(" Futures: ")[0].split(" Future: ")[0]  # (a list of task ids follows)
    hint = (" A task that killed several workers usually ran out of memory: give each "
            "worker more (dask worker --memory-limit, or dask-jobqueue's memory=)."
            if name == "KilledWorker" else "")
    return ClusterError(f"the Dask cluster stopped the work ({name}: {why[:300]}). Finished "
                        f"work is kept in the store.{hint} Fix: check the scheduler and its "
                        f"workers, then {resume}")
