"""A pyabc sampler whose results do not depend on the number or kind of workers.

pyabc's stock parallel samplers schedule proposals dynamically, so which particles
end up in a population depends on which worker happens to finish first.  The
:class:`DeterministicBatchSampler` defined here gives every proposal its own random
seed derived from ``(seed, t, k)`` (``t`` the generation, ``k`` the proposal's index
within the generation) and assembles the population in index order, whatever order
the workers finish in.  The accepted population, the number of evaluations and
therefore the whole ABC-SMC run are then a function of the seed alone: one inline
worker, a local process pool or a Dask cluster all give identical results.

Workers are kept busy: proposals go out as a stream of small tasks in index order
(a few in flight per worker), and the stream stops once the ``n``-th acceptance in
index order is known, so no worker waits for a whole batch to finish and few
proposals are evaluated past that acceptance.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from numbers import Real
from types import TracebackType
from typing import Any

import cloudpickle
import numpy as np
import pyabc
from pyabc.inference_util import AnalysisVars
from pyabc.population import Particle, Sample

from onward.options import option
from onward.workers import (
    DaskWait,
    check_workers,
    connect,
    local_pool,
    refuse_other_code,
    result_of,
    this_worker,
    wait_first,
)

__all__ = ["DeterministicBatchSampler", "proposal_seed"]

#: spawn-key tags keeping the per-proposal and the per-generation parent streams apart
_TAG_PROPOSAL = 0
_TAG_PARENT = 1

#: proposals per task when running in parallel (small: little is evaluated past the
#: n-th acceptance; large enough that shipping the task costs little)
_CHUNK = 4
#: tasks in flight per worker (one running, one queued behind it)
_IN_FLIGHT_PER_WORKER = 2

def _resume() -> str:
    """How to go on after the cluster stopped a calibration (as the interface spells it)."""
    return (f"run the same command with {option('resume', True, flag='--resume')} "
            "(finished generations are stored)")


#: The global RNGs are process-wide; a Dask worker with several threads would
#: otherwise interleave the draws of concurrently running proposals.
_GLOBAL_RNG_LOCK = threading.Lock()


def _encode_t(t: int) -> int:
    """Map a generation index (pyabc uses ``t = -1`` for calibration) to a natural number."""
    return 2 * t if t >= 0 else -2 * t - 1


def _seed_words(seed: int, *key: int) -> tuple[int, int]:
    state = np.random.SeedSequence(seed, spawn_key=key).generate_state(2)
    return int(state[0]), int(state[1])


def proposal_seed(seed: int, t: int, k: int) -> tuple[int, int]:
    """Seeds for numpy's and Python's global RNG for proposal ``k`` of generation ``t``.

    Parameters
    ----------
    seed
        The sampler's master seed (non-negative).
    t
        Generation index as passed by pyabc (``-1`` for the calibration sample).
    k
        Global index of the proposal within the generation.

    Returns
    -------
    tuple of int
        ``(numpy_seed, python_seed)``, both in ``[0, 2**32)``.
    """
    return _seed_words(seed, _TAG_PROPOSAL, _encode_t(t), k)


def _seed_global_rngs(words: tuple[int, int]) -> None:
    np.random.seed(words[0])
    random.seed(words[1])


#: the last payload a worker unpickled, and what it unpickled to (a worker gets the same
#: payload for every task of a generation: unpickling it, ~7 ms for a calibration, and
#: refilling its caches once a generation is enough)
_LAST_PAYLOAD: list[tuple[bytes, Callable[[], Particle]]] = []


def _unpickled(payload: bytes) -> Callable[[], Particle]:
    if _LAST_PAYLOAD and _LAST_PAYLOAD[0][0] == payload:
        return _LAST_PAYLOAD[0][1]
    fn = cloudpickle.loads(payload)
    _LAST_PAYLOAD[:] = [(payload, fn)]
    return fn


@contextlib.contextmanager
def quiet_zero_density() -> Iterator[None]:
    """Silence pyabc's "divide by zero" / "invalid value encountered in scalar divide"
    (a proposal's weight prior / kernel density with a density of 0, and the sum of such
    weights): calibrate says what happened, as a CalibrationError, when the generation
    fails on them."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"(divide by zero|invalid value) encountered in "
                                "scalar divide", RuntimeWarning, r"pyabc\.")
        yield


def _evaluate_chunk(
    simulate_one_pickled: bytes, seed: int, t: int, indices: Sequence[int]
) -> list[Particle]:
    """Evaluate the proposals ``indices`` of generation ``t``; runs in a worker.

    Only returns the particles; writes nothing. Every proposal seeds the global RNGs
    first, so it does not depend on which proposals the worker ran before it.
    """
    simulate_one = _unpickled(simulate_one_pickled)
    particles = []
    with _GLOBAL_RNG_LOCK, quiet_zero_density():
        for k in indices:
            _seed_global_rngs(proposal_seed(seed, t, k))
            particles.append(simulate_one())
    return particles


def _evaluate_task(
    simulate_one_pickled: bytes, seed: int, t: int, indices: Sequence[int]
) -> tuple[str, str, list[Particle]]:
    """:func:`_evaluate_chunk` in a worker, its particles with the worker's address and
    :func:`onward.analysis.runs.code_hash`: a Dask worker that joined the cluster after
    :func:`onward.workers.connect` checked it may run other onward code."""
    from onward.workers import _worker_code  # (looked up at call: tests replace it)

    particles = _evaluate_chunk(simulate_one_pickled, seed, t, indices)
    return this_worker(), _worker_code()[1], particles


class DeterministicBatchSampler(pyabc.sampler.Sampler):
    """Reproducible pyabc sampler: results depend on ``seed`` only, not on the workers.

    Proposals of a generation get consecutive global indices ``k = 0, 1, 2, ...``.
    Before proposal ``k`` of generation ``t`` runs, numpy's and Python's global
    RNGs are seeded from ``(seed, t, k)`` (see :func:`proposal_seed`), so each
    proposal is a pure function of its index.  The particles are walked in index
    order and appended to the sample until ``n`` are accepted; any evaluated
    beyond that are discarded.  Seeds and the order of assembly never depend on
    the number of workers, nor on whether they are local processes or a Dask
    cluster, nor on completion order; only how many proposals are evaluated and
    thrown away past the ``n``-th acceptance does.

    In parallel the proposals go out as a stream of tasks of ``chunk_size``
    proposals, in index order, two tasks in flight per worker; a worker that
    finishes starts the next task at once (there is no batch to wait for), and
    the tasks still in flight when the ``n``-th acceptance is known are
    cancelled.

    At the start of every :meth:`sample_until_n_accepted` call the parent
    process's global RNGs are also seeded from ``(seed, t)``, so that pyabc code
    running in the parent between generations (e.g. bootstrapping in
    :class:`pyabc.AdaptivePopulationSize`) is reproducible as well.  Note that
    this is a side effect on the calling process.

    Parameters
    ----------
    seed
        Master seed, a non-negative integer.
    workers
        Number of local worker processes (default :func:`os.cpu_count`).  With
        ``1`` and no ``scheduler`` the proposals run inline in the calling
        process (its RNG state is saved and restored around them).  With a
        ``scheduler`` it sets how many tasks are kept in flight (default: the
        cluster's total number of threads).
    scheduler
        Address of a Dask scheduler, e.g. ``"tcp://127.0.0.1:8786"``.  If given,
        proposals run on that cluster through :class:`distributed.Client`; the
        workers must be able to import :mod:`onward` and the model code.  Use
        ``threads_per_worker=1``: the global RNGs are per process, so proposals
        in one worker process are serialised by a lock.
    chunk_size
        Proposals per task (default 4 in parallel; inline, the population size
        ``n``).  It changes only how many proposals are evaluated past the
        ``n``-th acceptance, never the result.
    progress
        Called as ``progress(accepted_so_far, n)`` after each task's particles
        are assembled (``evaluated_`` then holds the proposals of the generation
        evaluated so far).
    keep_alive
        Keep the workers between pyabc runs (pyabc calls :meth:`stop` at the end of
        every run; then only :meth:`close` or leaving a ``with`` block shuts them
        down). A caller that runs one generation per ``run`` saves starting the
        workers, and their loading of the compiled engine, every generation.

    Attributes
    ----------
    nr_evaluations_ : int
        Particles appended to the last sample, i.e. the evaluations up to and
        including the ``n``-th accepted one in index order (independent of the
        workers; proposals evaluated beyond it are not counted).

    Notes
    -----
    The executor (process pool or Dask client) is created lazily and released by
    :meth:`stop`, which :meth:`pyabc.ABCSMC.run` calls when it finishes (unless
    ``keep_alive``; :meth:`close` always releases it); the sampler can also be used
    as a context manager.  ``simulate_one`` is shipped to the workers with
    :mod:`cloudpickle` (as pyabc's own samplers do); a worker unpickles each
    generation's copy once, and an inline generation works on a fresh unpickled
    copy, so the parent's pyabc objects are never mutated by the simulations.  Look-ahead sampling
    is not supported (pyabc only offers it with its Redis sampler).
    Rejected particles are recorded if pyabc asks for them (e.g. for adaptive
    distances), in the same index order.

    Examples
    --------
    >>> import numpy as np
    >>> import pyabc
    >>> from onward.calibration.sampler import DeterministicBatchSampler
    >>> def model(p):
    ...     return {"y": p["mu"] + np.random.normal()}
    >>> prior = pyabc.Distribution(mu=pyabc.RV("uniform", -5, 10))
    >>> with DeterministicBatchSampler(seed=1, workers=1) as sampler:
    ...     abc = pyabc.ABCSMC(model, prior, population_size=20, sampler=sampler)
    ...     _ = abc.new("sqlite://", {"y": 1.0})  # doctest: +SKIP
    ...     history = abc.run(max_nr_populations=2)  # doctest: +SKIP
    """

    def __init__(
        self,
        seed: int,
        workers: int | None = None,
        scheduler: str | None = None,
        chunk_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        keep_alive: bool = False,
    ) -> None:
        super().__init__()
        if int(seed) != seed or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        check_workers(workers)
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size!r}")
        self.seed = int(seed)
        self.workers = workers
        self.scheduler = scheduler
        self.chunk_size = chunk_size
        self.progress = progress
        self.evaluated_ = 0
        self.keep_alive = keep_alive
        self._pool: ProcessPoolExecutor | None = None
        self._client: Any = None  # distributed.Client, imported lazily
        self._dask_wait: DaskWait | None = None

    # ------------------------------------------------------------------ executor
    @property
    def n_workers(self) -> int:
        """Workers the proposals are spread over (local processes or Dask threads)."""
        if self.workers is not None:
            return self.workers
        if self.scheduler is not None:
            return max(1, sum(self._get_client().nthreads().values()))
        return os.cpu_count() or 1

    @property
    def inline(self) -> bool:
        """Whether proposals run in the calling process."""
        return self.scheduler is None and self.n_workers == 1

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = connect(self.scheduler)
        return self._client

    def _get_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = local_pool(self.n_workers)
        return self._pool

    def stop(self) -> None:
        """Shut down the process pool or close the Dask client (not the cluster); with
        ``keep_alive`` (a caller that runs pyabc a generation at a time: pyabc calls this
        after every run) only :meth:`close` does."""
        if not self.keep_alive:
            self.close()

    def close(self) -> None:
        """Shut down the process pool or close the Dask client (not the cluster)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()
            self._client = None
            self._dask_wait = None

    def __enter__(self) -> DeterministicBatchSampler:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_pool"] = None
        state["_client"] = None
        state["_dask_wait"] = None
        return state

    # ------------------------------------------------------------------ sampling
    def _inline(self, payload: bytes, t: int, indices: range) -> list[Particle]:
        """Evaluate the proposals ``indices`` here; the caller's global RNG state is kept."""
        np_state, py_state = np.random.get_state(), random.getstate()
        try:
            _LAST_PAYLOAD.clear()  # a fresh copy, never the parent's objects
            return _evaluate_chunk(payload, self.seed, t, indices)
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)

    def _inline_chunks(self, payload: bytes, t: int, stop: float, size: int
                       ) -> Generator[list[Particle], None, None]:
        """The particles of proposals 0, 1, 2, ... (below ``stop``), ``size`` at a time,
        evaluated here when asked for."""
        k = 0
        while k < stop:
            r = range(k, int(min(k + size, stop)))
            yield self._inline(payload, t, r)
            k = r.stop

    def _submit(self, payload: bytes, t: int, indices: range) -> Any:
        if self.scheduler is not None:
            return self._get_client().submit(_evaluate_task, payload, self.seed, t, indices,
                                             pure=False)
        return self._get_pool().submit(_evaluate_task, payload, self.seed, t, indices)

    def _wait_any(self, futures: list[Any]) -> None:
        if self.scheduler is not None:
            if self._dask_wait is None:
                self._dask_wait = DaskWait(self._get_client(), _resume())
            self._dask_wait.wait_any(futures)
        else:
            wait_first(futures)

    def _cancel(self, futures: list[Any]) -> None:
        if not futures:
            return
        if self.scheduler is not None:
            self._get_client().cancel(futures)
        else:
            for f in futures:
                f.cancel()

    def _stream(self, payload: bytes, t: int, stop: float) -> Generator[list[Particle], None, None]:
        """The particles of proposals 0, 1, 2, ... (below ``stop``), chunk by chunk in
        index order, evaluated by the workers a few tasks ahead of the consumer.

        Tasks still running when the consumer stops are cancelled (a task already
        started finishes in its worker, and its particles are dropped).
        """
        chunk = self.chunk_size or _CHUNK
        window = _IN_FLIGHT_PER_WORKER * self.n_workers
        in_flight: dict[int, tuple[range, Any]] = {}  # start index -> (indices, future)
        ready: dict[int, tuple[range, list[Particle]]] = {}
        next_submit = next_yield = 0
        try:
            while True:
                while len(in_flight) < window and next_submit < stop:
                    r = range(next_submit, int(min(next_submit + chunk, stop)))
                    in_flight[r.start] = (r, self._submit(payload, t, r))
                    next_submit = r.stop
                if next_yield in ready:
                    r, particles = ready.pop(next_yield)
                    next_yield = r.stop
                    yield particles
                    continue
                if not in_flight:
                    return
                self._wait_any([f for _, f in in_flight.values()])
                for start in [k for k, (_, f) in in_flight.items() if f.done()]:
                    r, f = in_flight.pop(start)
                    # a failed task raises here
                    worker, code, particles = result_of(f, _resume())
                    refuse_other_code(
                        code, f"the Dask worker {worker} runs", "it joined the cluster after "
                        "the check at the start, and its particles would mix two engines in "
                        "one posterior, so the calibration stopped without them", _resume())
                    ready[start] = (r, particles)
        finally:
            self._cancel([f for _, f in in_flight.values()])

    def sample_until_n_accepted(
        self,
        n: int,
        simulate_one: Callable[[], Particle],
        t: int,
        *,
        max_eval: Real = np.inf,
        all_accepted: bool = False,
        ana_vars: AnalysisVars | None = None,
    ) -> Sample:
        """Sample generation ``t`` until ``n`` particles are accepted.

        Parameters
        ----------
        n
            Number of particles to accept (the population size).
        simulate_one
            pyabc's closure that proposes, simulates and accepts/rejects one particle.
        t
            Generation index (``-1`` for pyabc's calibration sample).
        max_eval
            Stop with ``sample.ok = False`` once this many particles were
            appended without reaching ``n`` acceptances.
        all_accepted
            Ignored: a fully accepted generation stops at its ``n``-th proposal
            anyway.
        ana_vars
            Ignored (no look-ahead sampling).

        Returns
        -------
        pyabc.population.Sample
            The particles (accepted, and rejected ones if recorded) in index order.
        """
        del all_accepted, ana_vars
        # pyabc may use the global RNGs in the parent between generations
        _seed_global_rngs(_seed_words(self.seed, _TAG_PARENT, _encode_t(t)))

        payload = cloudpickle.dumps(simulate_one)
        stop = math.ceil(max_eval) if max_eval < np.inf else np.inf
        chunks = (self._inline_chunks(payload, t, stop, self.chunk_size or n) if self.inline
                  else self._stream(payload, t, stop))
        sample = self._create_empty_sample()
        n_appended = 0
        n_accepted = 0
        self.evaluated_ = 0
        done = n_accepted >= n
        try:
            while not done and n_appended < stop:
                particles = next(chunks, None)
                if particles is None:
                    break
                for particle in particles:
                    sample.append(particle)
                    n_appended += 1
                    if particle.accepted:
                        n_accepted += 1
                        if n_accepted >= n:
                            done = True
                            break
                self.evaluated_ = n_appended
                if self.progress is not None:
                    self.progress(n_accepted, n)
        finally:
            chunks.close()  # cancels the tasks still in flight

        self.nr_evaluations_ = n_appended
        if n_accepted < n:
            sample.ok = False
        return sample
