"""Where simulations run: local worker processes and Dask schedulers."""

from __future__ import annotations

import os
import signal
import time

import pytest

from onward.options import command_line
from onward.workers import SchedulerUnreachable, connect, local_pool


def _sigint_handler() -> object:
    return signal.getsignal(signal.SIGINT)


@pytest.mark.usefixtures("ctrl_c")
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
    with pytest.raises(SchedulerUnreachable, match=r"^scheduler='http://127\.0\.0\.1:8787': "
                       r"'http://' is not a Dask address\. Fix: .* tcp://127\.0\.0\.1:8786"):
        connect("http://127.0.0.1:8787")


def test_an_unreachable_scheduler_is_named_with_a_fix():
    """A scheduler address nobody answers at ended in "cannot use: Timed out ... Fix: check
    that the path exists" (the catch-all for files)."""
    with (command_line(),  # as the command line spells it
          pytest.raises(SchedulerUnreachable, match=r"--scheduler tcp://127\.0\.0\.1:1: no "
                        r"Dask scheduler answers there .* Fix: start one")):
        connect("tcp://127.0.0.1:1", timeout="2s")


def test_a_refused_connection_is_reported_at_once():
    """--scheduler tcp://127.0.0.1:1 (nothing listening) took 30 s to fail: Dask retries a
    refused connection for its whole connect timeout."""
    start = time.monotonic()
    with (command_line(),
          pytest.raises(SchedulerUnreachable, match=r"^--scheduler tcp://127\.0\.0\.1:1: no "
                        r"Dask scheduler answers there \(the connection to 127\.0\.0\.1:1 was "
                        r"refused: nothing listens on that port\)\. Fix: start one")):
        connect("tcp://127.0.0.1:1")
    assert time.monotonic() - start < 5


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


def test_a_port_that_never_answers_is_given_up_on(monkeypatch):
    """--scheduler tcp://host:8787 (the dashboard's port, printed just below the
    scheduler's) hung for 715 s in silence: the port accepts and never speaks Dask."""
    import socket
    import threading

    from onward import workers

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held = []
    threading.Thread(target=lambda: held.append(server.accept()), daemon=True).start()
    monkeypatch.setattr(workers, "CONNECT_SECONDS", 3.0)
    port = server.getsockname()[1]
    with pytest.raises(SchedulerUnreachable, match=r"nothing answered as a Dask scheduler "
                       r"within 3 s \(is it the dashboard's port\?"):
        connect(f"tcp://127.0.0.1:{port}")
    server.close()


class _FakeClient:
    def __init__(self, workers, versions, scheduler=None):
        from onward.workers import _worker_code

        self._workers, self._versions = workers, versions
        self._scheduler = scheduler or _worker_code()
        self.closed = False

    def run_on_scheduler(self, fn):
        if isinstance(self._scheduler, Exception):
            raise self._scheduler
        return self._scheduler

    def scheduler_info(self):
        return {"workers": self._workers}

    def run(self, fn, *args, on_error="raise"):
        return self._versions


def test_workers_without_onward_are_refused_and_an_empty_cluster_is_warned_of():
    """A worker from an environment without onward died on each task while the command
    waited forever; a scheduler with no workers showed 'a first run compiles' and waited."""
    import importlib.metadata

    from onward.workers import ClusterError, ClusterWarning, _check_cluster, _worker_code

    missing = importlib.metadata.PackageNotFoundError("onward")
    with pytest.raises(ClusterError, match=r"1 of 2 Dask workers at tcp://x:1 cannot import "
                       "onward .*Fix: start the workers with the Python environment"):
        _check_cluster(_FakeClient({"a": {}, "b": {}}, {"a": missing, "b": _worker_code()}),
                       "tcp://x:1")
    with pytest.warns(ClusterWarning, match="has no workers yet: the work waits"):
        _check_cluster(_FakeClient({}, {}), "tcp://x:1")


def test_workers_running_other_onward_code_are_refused():
    """Workers on another checkout with the same version string (0.1.0) were accepted, and
    their jobs stored under this process's experiment id (which holds its code hash)."""
    from onward.workers import ClusterError, _check_cluster, _worker_code

    version, code = _worker_code()
    with pytest.raises(ClusterError, match=(
            r"^1 of 2 Dask workers at tcp://x:1 run other onward code than this process "
            rf"\(onward {version}, code {code}\): b \(onward {version}, code 0123456789abcdef\)\."
            r".* Fix: start every worker from the same checkout or installation")):
        _check_cluster(_FakeClient({"a": {}, "b": {}}, {"a": (version, code),
                                                        "b": (version, "0123456789abcdef")}),
                       "tcp://x:1")
    _check_cluster(_FakeClient({"a": {}}, {"a": (version, code)}), "tcp://x:1")


def test_a_cluster_failure_is_one_message_with_what_to_do():
    """A lost scheduler or a task that killed its workers ended in a 40-129 line
    traceback with exit status 1."""
    from onward.workers import ClusterError, cluster_failure

    killed = type("KilledWorker", (Exception,), {"__module__": "distributed.scheduler"})
    err = cluster_failure(killed("Attempted to run task 'run_job-1' on 4 different workers"),
                          "run the same command again")
    assert isinstance(err, ClusterError)
    assert "KilledWorker: Attempted to run task" in str(err) and "ran out of memory" in \
        str(err) and "Finished work is kept in the store" in str(err) and \
        str(err).endswith("then run the same command again")
    lost = type("FutureCancelledError", (Exception,), {"__module__": "distributed.client"})
    assert "scheduler-connection-lost" in str(cluster_failure(
        lost("run_job cancelled for reason: scheduler-connection-lost."), "go on"))
    assert cluster_failure(ValueError("a model error"), "go on") is None


def test_a_lost_scheduler_is_said_without_the_task_ids():
    """The message of a calibration whose scheduler died went on with 'Futures:
    ['_evaluate_chunk-de64...', ...' up to its 300 characters."""
    from distributed.client import (
        CancelledFuturesGroup,
        FutureCancelledError,
        FuturesCancelledError,
    )

    from onward.workers import cluster_failure

    exc = FuturesCancelledError([CancelledFuturesGroup(
        [FutureCancelledError(f"_evaluate_chunk-{i}", "scheduler-connection-lost")
         for i in range(4)], "scheduler-connection-lost")])
    message = str(cluster_failure(exc, "go on"))
    assert "4 Futures cancelled for reason: scheduler-connection-lost" in message
    assert "_evaluate_chunk" not in message


def test_a_client_or_cluster_object_is_taken_for_its_address():
    """onward.ensemble(..., scheduler=client) failed with "argument of type 'Client' is not
    iterable"."""
    from types import SimpleNamespace

    from onward.workers import scheduler_address

    assert scheduler_address("tcp://h:1") == "tcp://h:1"
    assert scheduler_address(SimpleNamespace(scheduler_address="tcp://h:2")) == "tcp://h:2"
    assert scheduler_address(SimpleNamespace(scheduler=SimpleNamespace(address="tcp://h:3"))) \
        == "tcp://h:3"
    with pytest.raises(ValueError, match="scheduler=int: give a Dask scheduler's address"):
        scheduler_address(42)


def test_a_local_pool_failure_is_not_called_a_cluster_failure():
    """result_of serves local futures too (the calibration sampler): their errors pass
    through as they are, not as 'the Dask cluster stopped the work'."""
    from concurrent.futures import CancelledError, Future

    from onward.workers import cluster_failure, result_of

    f: Future = Future()
    f.set_exception(ZeroDivisionError("a model's error"))
    with pytest.raises(ZeroDivisionError):
        result_of(f, "go on")
    assert cluster_failure(CancelledError(), "go on") is None
    done: Future = Future()
    done.set_result(7)
    assert result_of(done, "go on") == 7


class _ShrinkingClient:
    """A Dask client whose workers all leave after the first look."""

    def __init__(self, looks_with_workers: int) -> None:
        self.looks = looks_with_workers

    def nthreads(self):
        self.looks -= 1
        return {"tcp://w:1": 1} if self.looks >= 0 else {}


def test_work_left_without_workers_is_given_up_on(monkeypatch):
    """A worker that could not import onward died on its first task and the command then
    waited in silence forever; the work now stops once no worker is back in time. A
    cluster that never had a worker (Slurm jobs pending) is still waited for."""
    import distributed

    from onward import workers
    from onward.workers import ClusterError, DaskWait

    def never(*args, **kwargs):
        raise TimeoutError

    monkeypatch.setattr(distributed, "wait", never)
    monkeypatch.setattr(workers, "WATCH_SECONDS", 0.01)
    import dask.config

    with dask.config.set({"onward.no-workers-timeout": "200ms"}), pytest.raises(
            ClusterError, match=r"^every Dask worker has died or left, and none came "
            r"back within 0\.2 s: the work would wait forever\. Finished work is kept "
            r"in the store\. Fix: .*then go on \(where new workers wait longer in a queue, "
            r"raise Dask's onward.no-workers-timeout\)$"):
        DaskWait(_ShrinkingClient(1), "go on").wait_any([object()])
    # a Slurm job replacing one past its wall time may wait in the queue: the default gives
    # it half an hour, and it can wait for ever
    assert workers.no_workers_seconds() == 1800
    with dask.config.set({"onward.no-workers-timeout": None}):
        assert workers.no_workers_seconds() is None
    pending = DaskWait(_ShrinkingClient(0), "go on")
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        pending.check()  # never had a worker: waits, as connect() warned


def test_a_scheduler_on_other_code_is_refused():
    """A scheduler started before the code changed (or from another environment) failed
    every task with a RuntimeError traceback, 'Error during deserialization of the task
    graph': it unpickles the tasks with the onward it loaded."""
    from onward.workers import ClusterError, _check_cluster, _worker_code

    version, code = _worker_code()
    with pytest.raises(ClusterError, match=r"^the Dask scheduler at tcp://x:1 runs other onward "
                       rf"code \(onward {version}, code 0123456789abcdef\) than this process "
                       rf"\(onward {version}, code {code}\)\. Fix: start the scheduler from"):
        _check_cluster(_FakeClient({}, {}, (version, "0123456789abcdef")), "tcp://x:1")
    with pytest.raises(ClusterError, match=r"^the Dask scheduler at tcp://x:1 cannot import "
                       r"onward's code \(AttributeError: no _worker_code\)\. Fix: start the "
                       "scheduler"):
        _check_cluster(_FakeClient({}, {}, AttributeError("no _worker_code")), "tcp://x:1")


class _InterruptingLock:
    """A future's lock whose first taking is followed by a Ctrl-C (SIGINT to this
    process), as a Ctrl-C that lands while ``concurrent.futures.wait`` takes the locks."""

    def __init__(self) -> None:
        import threading

        self._lock = threading.RLock()
        self.fired = False

    def acquire(self, *args, **kwargs):
        got = self._lock.acquire(*args, **kwargs)
        if not self.fired:
            self.fired = True
            os.kill(os.getpid(), signal.SIGINT)
        return got

    def release(self) -> None:
        self._lock.release()

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _free_in_another_thread(futures) -> list[bool]:
    import threading

    free: list[bool] = []

    def probe() -> None:
        for f in futures:
            got = f._condition.acquire(timeout=1)
            free.append(bool(got))
            if got:
                f._condition.release()

    t = threading.Thread(target=probe)
    t.start()
    t.join()
    return free


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_waiting_on_local_workers_leaves_no_future_locked():
    """A Ctrl-C that landed while ``concurrent.futures.wait`` took the futures' locks left
    one taken: the pool's thread blocked on it for ever, and so did the shutdown waiting
    for that thread (CI saw a two-worker ensemble never end after Ctrl-C). wait_first
    holds the Ctrl-C until the wait is over, then raises it, with every lock free."""
    import threading
    from concurrent.futures import Future

    from onward.workers import wait_first

    assert threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT)
    futures = [Future() for _ in range(3)]
    lock = _InterruptingLock()
    futures[1]._condition = threading.Condition(lock)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        wait_first(futures)
    assert lock.fired and time.monotonic() - started < 5  # at once, not after the work
    assert _free_in_another_thread(futures) == [True, True, True]
    assert signal.getsignal(signal.SIGINT) is handler  # put back


def test_held_ctrl_c_is_acted_on_by_the_handler_in_place():
    """The Ctrl-C held during a wait goes to the handler that was in place (the CLI's,
    which also records it), and a wait without one returns what finished."""
    from concurrent.futures import Future

    from onward.interrupts import held_interrupts
    from onward.workers import wait_first

    seen: list[int] = []

    def handler(signum, frame):
        seen.append(signum)
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        with pytest.raises(KeyboardInterrupt), held_interrupts() as check:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert seen == []  # held
            check()
        assert seen == [signal.SIGINT]
        done = Future()
        done.set_result(1)
        assert wait_first([Future(), done]) == {done}
        assert wait_first([]) == set()  # (it waited for ever)
    finally:
        signal.signal(signal.SIGINT, old)


@pytest.mark.usefixtures("ctrl_c")
def test_a_ctrl_c_held_in_a_nested_block_waits_for_the_outer_one():
    """A block that holds Ctrl-C inside another (a store write inside another held step)
    raised the KeyboardInterrupt at its own check or end, in the middle of the outer step
    that must not be cut either. It now hands it to the outer block, which acts on it at
    its end; the handler in place before is put back."""
    from onward.interrupts import held_interrupts

    handler = signal.getsignal(signal.SIGINT)
    steps = []
    with pytest.raises(KeyboardInterrupt), held_interrupts():
        with held_interrupts() as inner:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            inner()  # held by the outer block: no KeyboardInterrupt here
            steps.append("inner done")
        steps.append("outer done")
    assert steps == ["inner done", "outer done"]
    assert signal.getsignal(signal.SIGINT) is handler
