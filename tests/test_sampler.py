"""Reproducibility of ABC-SMC runs with DeterministicBatchSampler."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pyabc = pytest.importorskip("pyabc")

from onward.calibration.sampler import DeterministicBatchSampler, proposal_seed  # noqa: E402

N_GENERATIONS = 3
POPULATION_SIZE = 50

logging.getLogger("ABC").setLevel(logging.WARNING)


def _make_problem() -> tuple:
    """Gaussian model with two parameters; the model draws its noise from np.random.

    Built inside a function so that cloudpickle ships the model by value (Dask
    workers cannot import the test module).
    """

    def model(p: dict) -> dict:
        y = p["mu"] + p["sigma"] * np.random.normal(size=5)
        return {"mean": float(np.mean(y)), "sd": float(np.std(y))}

    prior = pyabc.Distribution(
        mu=pyabc.RV("uniform", -3.0, 6.0), sigma=pyabc.RV("uniform", 0.1, 2.0)
    )
    return model, prior


def _run(
    tmp_path: Path,
    name: str,
    sampler: DeterministicBatchSampler,
    population_size: int | pyabc.populationstrategy.PopulationStrategy = POPULATION_SIZE,
) -> pyabc.History:
    model, prior = _make_problem()
    abc = pyabc.ABCSMC(model, prior, population_size=population_size, sampler=sampler)
    abc.new("sqlite:///" + str(tmp_path / f"{name}.db"), {"mean": 0.7, "sd": 1.0})
    return abc.run(max_nr_populations=N_GENERATIONS)


def _assert_same(h1: pyabc.History, h2: pyabc.History) -> None:
    assert h1.max_t == h2.max_t == N_GENERATIONS - 1
    for t in range(N_GENERATIONS):
        df1, w1 = h1.get_distribution(m=0, t=t)
        df2, w2 = h2.get_distribution(m=0, t=t)
        pd.testing.assert_frame_equal(df1, df2, check_exact=True)
        np.testing.assert_array_equal(w1, w2)
    pops1, pops2 = h1.get_all_populations(), h2.get_all_populations()
    np.testing.assert_array_equal(pops1["epsilon"].to_numpy(), pops2["epsilon"].to_numpy())
    np.testing.assert_array_equal(pops1["samples"].to_numpy(), pops2["samples"].to_numpy())


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> pyabc.History:
    return _run(tmp_path_factory.mktemp("ref"), "ref", DeterministicBatchSampler(seed=1, workers=1))


def test_inline_run_is_repeatable(reference: pyabc.History, tmp_path: Path) -> None:
    np.random.seed(12345)  # the caller's RNG state must not matter
    _assert_same(reference, _run(tmp_path, "again", DeterministicBatchSampler(seed=1, workers=1)))


def test_process_pool_matches_inline(reference: pyabc.History, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    sampler = DeterministicBatchSampler(
        seed=1, workers=2, progress=lambda a, n: calls.append((a, n))
    )
    _assert_same(reference, _run(tmp_path, "pool", sampler))
    assert sampler._pool is None  # stop() was called by ABCSMC.run
    assert calls and calls[-1] == (POPULATION_SIZE, POPULATION_SIZE)


def test_small_batches_across_workers_match(tmp_path: Path) -> None:
    # a batch size that does not divide the population and forces several rounds
    h1 = _run(tmp_path, "b1", DeterministicBatchSampler(seed=3, workers=1, chunk_size=7))
    h2 = _run(tmp_path, "b2", DeterministicBatchSampler(seed=3, workers=2, chunk_size=7))
    _assert_same(h1, h2)


def test_parent_rng_use_is_reproducible(tmp_path: Path) -> None:
    # AdaptivePopulationSize bootstraps with np.random in the parent between generations;
    # without seeding the parent per generation the population sizes would differ.
    def strategy() -> pyabc.AdaptivePopulationSize:
        return pyabc.AdaptivePopulationSize(
            POPULATION_SIZE, mean_cv=0.2, max_population_size=200, n_bootstrap=5
        )

    np.random.seed(1)
    h1 = _run(tmp_path, "ad1", DeterministicBatchSampler(seed=1, workers=1), strategy())
    np.random.seed(2)
    h2 = _run(tmp_path, "ad2", DeterministicBatchSampler(seed=1, workers=2), strategy())
    _assert_same(h1, h2)
    np.testing.assert_array_equal(
        h1.get_all_populations()["particles"], h2.get_all_populations()["particles"]
    )


def test_different_seed_differs(reference: pyabc.History, tmp_path: Path) -> None:
    other = _run(tmp_path, "other", DeterministicBatchSampler(seed=2, workers=1))
    df1, _ = reference.get_distribution(m=0, t=N_GENERATIONS - 1)
    df2, _ = other.get_distribution(m=0, t=N_GENERATIONS - 1)
    assert not df1.equals(df2)


def test_sample_until_n_accepted_direct() -> None:
    def simulate_one() -> pyabc.population.Particle:
        u = np.random.uniform()
        return pyabc.population.Particle(
            m=0,
            parameter=pyabc.Parameter(u=u),
            weight=1.0,
            sum_stat={},
            distance=u,
            accepted=u < 0.3,
        )

    seen: list[tuple[int, int]] = []
    with DeterministicBatchSampler(
        seed=5, workers=1, chunk_size=4, progress=lambda a, n: seen.append((a, n))
    ) as s:
        s.sample_factory.record_rejected()
        sample = s.sample_until_n_accepted(5, simulate_one, t=0)
    # replicate by hand: proposal k uses proposal_seed(5, 0, k)
    expected = []
    for k in range(1000):
        np.random.seed(proposal_seed(5, 0, k)[0])
        u = np.random.uniform()
        expected.append(u)
        if sum(x < 0.3 for x in expected) == 5:
            break
    # Sample keeps accepted and rejected particles in two lists, each in index order
    assert [p.parameter["u"] for p in sample.accepted_particles] == [u for u in expected if u < 0.3]
    assert [p.parameter["u"] for p in sample.rejected_particles] == [
        u for u in expected if u >= 0.3
    ]
    assert s.nr_evaluations_ == len(expected)
    assert sample.n_accepted == 5 and sample.ok
    assert seen[-1] == (5, 5) and len(seen) == -(-len(expected) // 4)

    with DeterministicBatchSampler(seed=5, workers=1, chunk_size=4) as s:
        sample = s.sample_until_n_accepted(5, simulate_one, t=0, max_eval=3)
    assert not sample.ok and s.nr_evaluations_ == 3


def _uniform_particle() -> pyabc.population.Particle:
    u = np.random.uniform()
    return pyabc.population.Particle(m=0, parameter=pyabc.Parameter(u=u), weight=1.0,
                                     sum_stat={}, distance=u, accepted=u < 0.3)


@pytest.mark.parametrize("chunk_size", [1, 3, None])
def test_stream_in_parallel_matches_inline(chunk_size: int | None) -> None:
    """Workers that finish in any order still give the inline sample, and the stream stops
    at the n-th acceptance (or at max_eval) without waiting for the tasks in flight."""
    with DeterministicBatchSampler(seed=5, workers=1) as s:
        s.sample_factory.record_rejected()
        ref = s.sample_until_n_accepted(20, _uniform_particle, t=2)
        ref_evals = s.nr_evaluations_
    seen: list[tuple[int, int]] = []
    with DeterministicBatchSampler(seed=5, workers=2, chunk_size=chunk_size,
                                   progress=lambda a, n: seen.append((a, n))) as s:
        s.sample_factory.record_rejected()
        got = s.sample_until_n_accepted(20, _uniform_particle, t=2)
        assert s.nr_evaluations_ == ref_evals > 20
        for a, b in [(ref.accepted_particles, got.accepted_particles),
                     (ref.rejected_particles, got.rejected_particles)]:
            assert [p.parameter["u"] for p in a] == [p.parameter["u"] for p in b]
        assert seen[-1] == (20, 20) and all(x <= y for x, y in itertools.pairwise(seen))
        short = s.sample_until_n_accepted(20, _uniform_particle, t=2, max_eval=7)
        assert not short.ok and s.nr_evaluations_ == 7
        assert ([p.parameter["u"] for p in short.accepted_particles]
                == [p.parameter["u"] for p in ref.accepted_particles][:short.n_accepted])


def _failing_particle() -> pyabc.population.Particle:
    raise RuntimeError("model blew up")


def test_stream_reraises_a_worker_error() -> None:
    with DeterministicBatchSampler(seed=1, workers=2) as s, \
            pytest.raises(RuntimeError, match="model blew up"):
        s.sample_until_n_accepted(5, _failing_particle, t=0)


def test_calibration_generation_and_validation() -> None:
    # pyabc's calibration sample uses t = -1, which must map to a valid seed
    assert proposal_seed(0, -1, 0) != proposal_seed(0, 0, 0)
    with pytest.raises(ValueError):
        DeterministicBatchSampler(seed=-1)
    with pytest.raises(ValueError):
        DeterministicBatchSampler(seed=0, workers=0)


def test_dask_cluster_matches_inline(reference: pyabc.History, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        host="127.0.0.1",
    ) as cluster:
        sampler = DeterministicBatchSampler(seed=1, scheduler=cluster.scheduler_address)
        history = _run(tmp_path, "dask", sampler)
        assert sampler._client is None
    _assert_same(reference, history)


def test_keep_alive_keeps_the_workers_between_runs(tmp_path: Path) -> None:
    """With keep_alive the pool survives pyabc's stop() after each run (calibrate runs a
    generation per run) and close() ends it; the runs give the inline result."""
    s = DeterministicBatchSampler(seed=1, workers=2, keep_alive=True)
    try:
        h = _run(tmp_path, "alive", s)
        pool = s._pool
        assert pool is not None  # pyabc called stop() at the end of run()
        s.stop()
        assert s._pool is pool
    finally:
        s.close()
    assert s._pool is None
    _assert_same(h, _run(tmp_path, "inline", DeterministicBatchSampler(seed=1, workers=1)))


def _make_counter() -> object:
    """simulate_one stand-in whose particles count the calls on this unpickled copy (a
    class made here, so cloudpickle ships it, and its counter, by value)."""

    class Counter:
        def __init__(self) -> None:
            self.calls = 0

        def __call__(self) -> pyabc.population.Particle:
            self.calls += 1
            return pyabc.population.Particle(
                m=0, parameter=pyabc.Parameter(u=np.random.random()), weight=1.0,
                sum_stat={"calls": self.calls}, distance=0.0, accepted=True, proposal_id=0)

    return Counter()


def test_a_worker_unpickles_a_generations_payload_once() -> None:
    """A worker reuses the unpickled simulate_one for every task with the same payload
    (calls on one copy accumulate) and unpickles a new payload afresh; the proposals'
    numbers do not depend on it (each seeds the global RNGs)."""
    import cloudpickle

    from onward.calibration import sampler as sm

    payload = cloudpickle.dumps(_make_counter())
    sm._LAST_PAYLOAD.clear()
    a = sm._evaluate_chunk(payload, 3, 0, range(0, 3))
    b = sm._evaluate_chunk(payload, 3, 0, range(3, 6))
    assert [p.sum_stat["calls"] for p in a + b] == [1, 2, 3, 4, 5, 6]
    sm._LAST_PAYLOAD.clear()
    c = sm._evaluate_chunk(payload, 3, 0, range(3, 6))
    assert [p.sum_stat["calls"] for p in c] == [1, 2, 3]
    assert [p.parameter["u"] for p in b] == [p.parameter["u"] for p in c]


class _LostClient:
    """A Dask client whose scheduler has gone: every wait ends in its cancelled futures."""

    def submit(self, *args, **kwargs):
        return object()

    def cancel(self, futures):
        pass

    def nthreads(self):
        return {"tcp://127.0.0.1:2": 1}

    def close(self):
        pass


def test_a_lost_scheduler_is_one_cluster_error(monkeypatch) -> None:
    """`onward calibrate --scheduler` ended in a FuturesCancelledError traceback (exit 1)
    when the scheduler died: the wait for the next finished task raised it, outside the
    handling of each task's result."""
    distributed = pytest.importorskip("distributed")
    from distributed.client import CancelledFuturesGroup, FutureCancelledError

    from onward.workers import ClusterError

    def lost(*args, **kwargs):
        raise distributed.client.FuturesCancelledError([CancelledFuturesGroup(
            [FutureCancelledError("k", "scheduler-connection-lost")],
            "scheduler-connection-lost")])

    monkeypatch.setattr(distributed, "wait", lost)
    s = DeterministicBatchSampler(seed=1, workers=2, scheduler="tcp://127.0.0.1:1")
    s._client = _LostClient()
    with pytest.raises(ClusterError, match=r"the Dask cluster stopped the work "
                       r"\(FuturesCancelledError: .*scheduler-connection-lost.*Fix: .*"
                       r"resume=True"):
        s.sample_until_n_accepted(5, _failing_particle, t=0)


def test_a_worker_that_joined_on_other_code_stops_the_calibration(monkeypatch) -> None:
    """connect() checks the workers there at the start; one that joined later, started from
    another checkout, ran proposals whose particles went into the posterior unchecked
    (particles do not carry the code hash). Its task now says which worker and the fix."""
    distributed = pytest.importorskip("distributed")
    from onward import workers
    from onward.workers import ClusterError

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            DeterministicBatchSampler(seed=5, scheduler=cluster.scheduler_address) as s:
        s._get_client()  # connected and checked, with this process's code everywhere
        assert len(s.sample_until_n_accepted(5, _uniform_particle, t=0).accepted_particles) == 5
        # the worker now runs other code, as one that joined after the check would
        version = workers._worker_code()[0]
        monkeypatch.setattr(workers, "_worker_code", lambda: (version, "0123456789abcdef"))
        (address,) = cluster.scheduler_info["workers"]
        with pytest.raises(ClusterError, match=(
                rf"^the Dask worker {address} runs other onward code \(0123456789abcdef\) than "
                r"this process \([0-9a-f]{16}\); it joined the cluster after the check .* Fix: "
                r"start every worker from the same checkout .*resume=True")):
            s.sample_until_n_accepted(5, _uniform_particle, t=1)
