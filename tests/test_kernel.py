"""The movement kernel: the reference rule, the fast path, and their agreement."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from onward.engine import kernel
from onward.engine.kernel import (
    Graph,
    advance,
    choice_table,
    choose,
    move_table,
    step,
    transition_matrix,
)


def random_graph(seed: int, n: int = 30, m: int = 80) -> tuple[Graph, np.ndarray, np.ndarray]:
    """A random directed graph with isolated locations, zero-weight rows and edge cases
    of the move chance (0 and 1)."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n - 3, m)  # the last 3 locations have no links out
    dst = rng.integers(0, n, m)
    g = Graph.from_edges(n, src, dst, rng.uniform(0, 500, m))
    score = rng.uniform(0, 3, n)
    score[rng.integers(0, n, 3)] = 0.0
    mc = rng.uniform(0, 1, n)
    mc[:2] = [0.0, 1.0]
    return g, score, mc


def test_choose_reference_example():
    g = Graph.from_edges(3, [0, 1, 1, 2], [1, 0, 2, 1], [10.0, 10.0, 5.0, 5.0])
    table = choice_table(g, score=np.ones(3), softening=10.0)
    assert table.tolist() == pytest.approx([1.0, 1 + 15 / 35, 2.0, 3.0])
    assert choose(np.array([0, 1, 1]), np.array([0.2, 0.1, 0.9]), g, table).tolist() == [1, 0, 2]


def test_move_table_chain_matches_reference_chain():
    for seed in range(5):
        g, score, mc = random_graph(seed)
        mt = move_table(g, mc, score=score)
        p = mt.transition_matrix()
        assert np.allclose(p.sum(axis=1), 1.0)
        assert np.abs(p - transition_matrix(g, mc, choice_table(g, score=score))).max() < 1e-9


def test_expected_shares_is_the_matrix_power():
    g, score, mc = random_graph(3)
    mt = move_table(g, mc, score=score)
    p0 = np.random.default_rng(0).dirichlet(np.ones(g.n_locations))
    exact = p0 @ np.linalg.matrix_power(mt.transition_matrix(), 7)
    assert np.allclose(mt.expected_shares(p0, 7), exact)


def test_guide_is_a_cache_of_the_search():
    for seed in range(3):
        g, score, mc = random_graph(seed)
        mt = move_table(g, mc, score=score)
        n, k = g.n_locations, 1 << mt.bits
        loc = np.repeat(np.arange(n), k).astype(np.int32)
        width = 1 << (32 - mt.bits)
        lo = (np.tile(np.arange(k), n) * width).astype(np.int64)
        for x in (lo, lo + width - 1, lo + width // 3):
            found = kernel._search(loc, x, mt.indptr, mt.indices, mt.key)
            sure = mt.guide >= 0
            assert (mt.guide[sure] == found[sure]).all()


@pytest.mark.parametrize("seed", range(4))
def test_numpy_and_numba_paths_are_identical(seed):
    g, score, mc = random_graph(seed)
    mt = move_table(g, mc, score=score)
    start = np.random.default_rng(seed).integers(0, g.n_locations, 50_001).astype(np.int32)
    runs = {}
    for backend in ("numpy", "numba"):
        for threads in (1, 2, 3):
            runs[backend, threads] = advance(start.copy(), mt, seed=seed, steps=6,
                                             backend=backend, threads=threads, block=4096)
    ref = runs["numpy", 1]
    assert not (ref == start).all()
    for key, loc in runs.items():
        assert (loc == ref).all(), key


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 3000),
       block=st.sampled_from([1, 64, 1001, 4096]), steps=st.integers(0, 4),
       threads=st.integers(1, 3))
def test_paths_agree_on_any_graph_block_and_thread_count(seed, n, block, steps, threads):
    g, score, mc = random_graph(seed % 1000, n=12, m=int(seed % 40))
    mt = move_table(g, mc, score=score)
    start = np.random.default_rng(seed).integers(0, 12, n).astype(np.int32)
    a = advance(start.copy(), mt, seed=seed, steps=steps, backend="numpy", block=block)
    b = advance(start.copy(), mt, seed=seed, steps=steps, backend="numba", block=block,
                threads=threads)
    assert (a == b).all()
    assert len(a) == n and (a >= 0).all() and (a < 12).all()


def test_numba_is_the_default_backend():
    # numba is a declared dependency: the compiled path must be the one that runs
    assert kernel.numba_available()


def test_steps_split_across_calls_give_the_same_result():
    g, score, mc = random_graph(7)
    mt = move_table(g, mc, score=score)
    start = np.zeros(10_000, dtype=np.int32) + 5
    whole = advance(start.copy(), mt, seed=3, steps=9)
    parts = advance(start.copy(), mt, seed=3, steps=4)
    parts = advance(parts, mt, seed=3, steps=5, start=4, backend="numpy")
    assert (whole == parts).all()
    assert not (whole == advance(start.copy(), mt, seed=4, steps=9)).all()


def test_advance_matches_the_exact_chain():
    g, score, mc = random_graph(11)
    mt = move_table(g, mc, score=score)
    n = 200_000
    start = (np.arange(n) % g.n_locations).astype(np.int32)
    loc = advance(start.copy(), mt, seed=5, steps=12)
    got = np.bincount(loc, minlength=g.n_locations) / n
    p0 = np.bincount(start, minlength=g.n_locations) / n
    assert np.abs(got - mt.expected_shares(p0, 12)).max() < 0.005


def test_step_reference_matches_the_exact_chain():
    g, score, mc = random_graph(12)
    table = choice_table(g, score=score)
    rng = np.random.default_rng(1)
    loc = (np.arange(100_000) % g.n_locations).astype(np.int32)
    p0 = np.bincount(loc, minlength=g.n_locations) / len(loc)
    for _ in range(5):
        loc = step(loc, mc, g, table, rng)
    exact = p0 @ np.linalg.matrix_power(transition_matrix(g, mc, table), 5)
    assert np.abs(np.bincount(loc, minlength=g.n_locations) / len(loc) - exact).max() < 0.006


def test_isolated_locations_and_zero_chances_hold_their_agents():
    g, score, mc = random_graph(2)
    mt = move_table(g, mc, score=score)
    stuck = np.array([0, g.n_locations - 1, g.n_locations - 2], dtype=np.int32)  # mc 0, no links
    loc = np.repeat(stuck, 1000)
    assert (advance(loc.copy(), mt, seed=1, steps=5) == loc).all()


def test_bad_inputs_say_what_to_pass():
    g, score, mc = random_graph(0)
    mt = move_table(g, mc, score=score)
    with pytest.raises(TypeError, match="int32"):
        advance(np.zeros(4, dtype=np.int64), mt, seed=1, steps=1)
    with pytest.raises(ValueError, match="backend"):
        advance(np.zeros(4, dtype=np.int32), mt, seed=1, steps=1, backend="cuda")
    with pytest.raises(ValueError, match="one value per location"):
        move_table(g, mc[:-1], score=score)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        move_table(g, mc * 2, score=score)
