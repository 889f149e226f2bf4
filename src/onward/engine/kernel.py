"""The movement kernel: agents on a graph of locations.

Each step, an agent at location ``i`` moves with probability ``move_chance[i]`` to a
neighbour ``j`` chosen with weight ``score[j] / (softening + distance[i, j])`` (Flee's
default rule). Locations are rows of a CSR graph; agents are one integer array of
locations, so a step costs a few passes over that array.

The choice of neighbour is one ``searchsorted`` over all edges: each row's normalised
cumulative weights are shifted by the row number, so that ``loc + u`` (``u`` uniform in
[0, 1)) falls inside the agent's own row.

Examples
--------
>>> import numpy as np
>>> g = Graph.from_edges(3, [0, 1, 1, 2], [1, 0, 2, 1], [10.0, 10.0, 5.0, 5.0])
>>> table = choice_table(g, score=np.ones(3), softening=10.0)
>>> choose(np.array([0, 1, 1]), np.array([0.2, 0.1, 0.9]), g, table).tolist()
[1, 0, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Graph:
    """Locations and directed links in CSR form: the links of ``i`` are
    ``indices[indptr[i]:indptr[i + 1]]`` with lengths ``distance[...]``."""

    indptr: np.ndarray
    indices: np.ndarray
    distance: np.ndarray

    @property
    def n_locations(self) -> int:
        return len(self.indptr) - 1

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    @classmethod
    def from_edges(cls, n: int, src, dst, distance) -> Graph:
        """Build from directed edge lists (give both directions for an undirected link)."""
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        distance = np.asarray(distance, dtype=np.float64)
        if not (len(src) == len(dst) == len(distance)):
            raise ValueError("src, dst and distance must have the same length")
        if len(src) and (src.min() < 0 or dst.min() < 0 or src.max() >= n or dst.max() >= n):
            raise ValueError(f"edge endpoints must lie in [0, {n})")
        if len(distance) and (not np.isfinite(distance).all() or distance.min() < 0):
            raise ValueError("distances must be finite and >= 0")
        order = np.lexsort((dst, src))
        counts = np.bincount(src, minlength=n)
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return cls(indptr, dst[order].astype(np.int32), distance[order])

    def sources(self) -> np.ndarray:
        """The source location of every edge."""
        return np.repeat(np.arange(self.n_locations, dtype=np.int64), self.degree)


def link_weights(g: Graph, score: np.ndarray, softening: float) -> np.ndarray:
    """Weight of every edge: ``score[destination] / (softening + distance)``."""
    return np.asarray(score, dtype=np.float64)[g.indices] / (softening + g.distance)


def choice_table(g: Graph, score: np.ndarray | None = None, softening: float = 10.0,
                 weights: np.ndarray | None = None) -> np.ndarray:
    """Row-shifted normalised cumulative edge weights for :func:`choose`.

    Entry ``e`` in row ``i`` holds ``i + (w[row start] + ... + w[e]) / sum(w[row])``; a row
    whose weights are all zero gets equal weights. Give ``weights`` directly, or ``score``
    and ``softening`` for Flee's rule.
    """
    w = _checked_weights(g, score, softening, weights)
    rows = g.sources()
    table = rows + _row_fraction(g, w, rows)
    # the last edge of each row closes it exactly, so rounding never spills into the next
    last = g.indptr[1:][g.degree > 0] - 1
    table[last] = rows[last] + 1.0
    return table


def _checked_weights(g: Graph, score, softening: float, weights) -> np.ndarray:
    if weights is None:
        if score is None:
            raise ValueError("give score or weights")
        weights = link_weights(g, score, softening)
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(g.indices):
        raise ValueError("one weight per edge")
    if len(w) and (not np.isfinite(w).all() or w.min() < 0):
        raise ValueError("edge weights must be finite and >= 0")
    return w


def _row_fraction(g: Graph, w: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Cumulative share of each edge's weight within its row (all-zero rows: equal)."""
    total = np.bincount(rows, weights=w, minlength=g.n_locations)
    zero = total[rows] <= 0
    w = np.where(zero, 1.0, w)
    total = np.bincount(rows, weights=w, minlength=g.n_locations)
    cum = np.cumsum(w)
    start = np.concatenate(([0.0], cum))[g.indptr[:-1]]
    return (cum - start[rows]) / np.where(total[rows] > 0, total[rows], 1.0)


def choose(loc: np.ndarray, u: np.ndarray, g: Graph, table: np.ndarray) -> np.ndarray:
    """Neighbour chosen by each agent at ``loc`` given uniforms ``u`` in [0, 1).

    Agents at a location without links stay where they are.
    """
    loc = np.asarray(loc)
    if len(table) == 0:
        return loc.copy()
    edge = np.searchsorted(table, loc + u, side="right")
    edge = np.minimum(edge, len(table) - 1)
    deg = g.degree[loc]
    return np.where(deg > 0, g.indices[edge], loc).astype(loc.dtype, copy=False)


def step(loc: np.ndarray, move_chance: np.ndarray, g: Graph, table: np.ndarray,
         rng: np.random.Generator) -> np.ndarray:
    """One step: each agent moves with its location's chance, to a neighbour by weight."""
    n = len(loc)
    moving = rng.random(n) < move_chance[loc]
    out = loc.copy()
    idx = np.flatnonzero(moving)
    out[idx] = choose(loc[idx], rng.random(len(idx)), g, table)
    return out


def transition_matrix(g: Graph, move_chance: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The exact one-step Markov matrix of :func:`step` (dense, for checks)."""
    n = g.n_locations
    p = np.zeros((n, n))
    rows = g.sources()
    prob = np.diff(np.concatenate(([0.0], table - rows)))
    # the difference across a row boundary is wrong by one row: recompute per row start
    starts = g.indptr[:-1][g.degree > 0]
    prob[starts] = table[starts] - rows[starts]
    np.add.at(p, (rows, g.indices), prob * move_chance[rows])
    p[np.arange(n), np.arange(n)] += 1.0 - np.where(g.degree > 0, move_chance, 0.0)
    return p


# --- The fast path: integer thresholds, 8 random bits per agent-step ------------------
#
# `step` above draws two float uniforms per agent and allocates several temporaries; it
# is the readable reference. `advance` runs the same rule on one uniform 32-bit number
# ``x`` per agent-step: agent at ``i`` moves along the first edge ``e`` of row ``i`` with
# ``x < threshold[e]``, and stays if there is none. ``threshold[e]`` is
# ``round(move_chance[i] * cumulative_share[e] * 2**32)``, so the chance of each edge is
# its Flee probability rounded to 2**-32 (`MoveTable.transition_matrix` is the exact
# chain of what runs).
#
# Only ``x``'s top 8 bits are drawn for every agent: they pick one of 256 buckets of the
# agent's location, and for nearly all buckets every ``x`` in the bucket gives the same
# destination (`MoveTable.guide`). Only an agent whose bucket straddles a threshold draws
# the low 24 bits, from the same stream, in agent order. The decision is the same function
# of a uniform 32-bit ``x`` either way, at a quarter of the random numbers.
#
# The numbers come from NumPy (SFC64 keyed by seed, step and block of agents), so the
# NumPy and Numba paths consume the same numbers and give identical locations, on any
# number of threads and however the steps are split across calls.

BLOCK = 1 << 14
"""Agents per random block: a block's locations (64 KiB) and random bytes (16 KiB) stay in
cache for all the steps of a call, and 100k agents still split evenly over 2 threads."""

_ONE = 1 << 32


@dataclass(frozen=True)
class MoveTable:
    """A graph with each location's move chance folded into integer edge thresholds.

    ``threshold[e]`` (int64, in [0, 2**32]) is non-decreasing within each row; ``stay[i]``
    is the last threshold of row ``i`` (0 for a location without links): a draw at or
    above it means the agent stays. ``key`` is ``row * 2**32 + threshold``, sorted over
    all edges, for the search.

    ``guide`` makes the common case one lookup: the draws of location ``i`` are cut into
    ``2**bits`` equal buckets, and ``guide[(i << bits) + (x >> (32 - bits))]`` is the
    destination shared by every draw in that bucket (``i`` itself for staying), or -1 for
    the few buckets that straddle a threshold, which fall back to the search. It is a
    cache of the search, so both give the same destination for every draw.
    """

    indptr: np.ndarray
    indices: np.ndarray
    threshold: np.ndarray
    stay: np.ndarray
    key: np.ndarray
    guide: np.ndarray
    bits: int

    @property
    def n_locations(self) -> int:
        return len(self.indptr) - 1

    def transition_matrix(self) -> np.ndarray:
        """The exact one-step Markov matrix of :func:`advance` (dense, for checks)."""
        n = self.n_locations
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        prev = np.concatenate(([0], self.threshold[:-1]))
        prev[self.indptr[:-1][np.diff(self.indptr) > 0]] = 0
        p = np.zeros((n, n))
        np.add.at(p, (rows, self.indices), (self.threshold - prev) / _ONE)
        p[np.arange(n), np.arange(n)] += 1.0 - self.stay / _ONE
        return p

    def expected_shares(self, start_shares: np.ndarray, steps: int) -> np.ndarray:
        """Location shares after ``steps`` steps from ``start_shares`` (exact, sparse)."""
        n = self.n_locations
        rows = np.repeat(np.arange(n), np.diff(self.indptr))
        prev = np.concatenate(([0], self.threshold[:-1]))
        prev[self.indptr[:-1][np.diff(self.indptr) > 0]] = 0
        prob = (self.threshold - prev) / _ONE
        keep = 1.0 - self.stay / _ONE
        p = np.asarray(start_shares, dtype=np.float64)
        for _ in range(steps):
            p = p * keep + np.bincount(self.indices, weights=p[rows] * prob, minlength=n)
        return p


def move_table(g: Graph, move_chance: np.ndarray, score: np.ndarray | None = None,
               softening: float = 10.0, weights: np.ndarray | None = None) -> MoveTable:
    """The :class:`MoveTable` for Flee's rule (or explicit ``weights``) on ``g``.

    >>> g = Graph.from_edges(3, [0, 1, 1, 2], [1, 0, 2, 1], [10.0, 10.0, 5.0, 5.0])
    >>> mt = move_table(g, np.array([1.0, 0.5, 0.0]), score=np.ones(3))
    >>> mt.transition_matrix().round(3).tolist()
    [[0.0, 1.0, 0.0], [0.214, 0.5, 0.286], [0.0, 0.0, 1.0]]
    """
    move_chance = np.asarray(move_chance, dtype=np.float64)
    if move_chance.shape != (g.n_locations,):
        raise ValueError(f"move_chance needs one value per location ({g.n_locations})")
    if not ((move_chance >= 0) & (move_chance <= 1)).all():
        raise ValueError("move chances must lie in [0, 1]")
    rows = g.sources()
    # the share within the row, without choice_table's row shift (exact for any row)
    frac = _row_fraction(g, _checked_weights(g, score, softening, weights), rows)
    has = g.degree > 0
    frac[g.indptr[1:][has] - 1] = 1.0
    threshold = np.rint(move_chance[rows] * frac * _ONE).astype(np.int64)
    # rounding keeps each row non-decreasing; clip guards the last ulp
    np.clip(threshold, 0, _ONE, out=threshold)
    stay = np.zeros(g.n_locations, dtype=np.int64)
    stay[has] = threshold[g.indptr[1:][has] - 1]
    key = (rows.astype(np.int64) << 32) + threshold
    indptr = g.indptr.astype(np.int64)
    indices = g.indices.astype(np.int32)
    bits = guide_bits(g.n_locations)
    guide = _guide(indptr, indices, key, bits)
    return MoveTable(indptr, indices, threshold, stay, key, guide, bits)


def guide_bits(n_locations: int, max_entries: int = 1 << 18) -> int:
    """Bucket bits per location: at most 8, and at most ``max_entries`` entries (1 MiB)."""
    bits = 8
    while bits > 0 and n_locations << bits > max_entries:
        bits -= 1
    return bits


def _search(loc: np.ndarray, x: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
            key: np.ndarray) -> np.ndarray:
    """Destination of each (location, draw) by binary search over all edges."""
    here = loc.astype(np.int64)
    edge = np.searchsorted(key, (here << 32) + x.astype(np.int64), side="right")
    inside = edge < indptr[here + 1]
    return np.where(inside, indices[np.minimum(edge, max(len(indices) - 1, 0))]
                    if len(indices) else here, here)


def _guide(indptr: np.ndarray, indices: np.ndarray, key: np.ndarray, bits: int) -> np.ndarray:
    n = len(indptr) - 1
    width = 1 << (32 - bits)
    loc = np.repeat(np.arange(n, dtype=np.int64), 1 << bits)
    lo = np.tile(np.arange(1 << bits, dtype=np.int64) * width, n)
    a = _search(loc, lo, indptr, indices, key)
    edge_lo = np.searchsorted(key, (loc << 32) + lo, side="right")
    edge_hi = np.searchsorted(key, (loc << 32) + lo + width - 1, side="right")
    return np.where(edge_lo == edge_hi, a, -1).astype(np.int32)


_GAMMA_INT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic): a bijection that
    scatters every input bit over the output."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stream_keys(seed: int, steps: np.ndarray, blocks: np.ndarray) -> np.ndarray:
    """SFC64 state words (a, b, c) for each (step, block): shape (steps, blocks, 3)."""
    s = _mix(np.array([int(seed) & (_ONE * _ONE - 1)], dtype=np.uint64))
    t = np.asarray(steps, dtype=np.int64).astype(np.uint64)[:, None]
    b = np.asarray(blocks, dtype=np.int64).astype(np.uint64)[None, :]
    h = _mix(_mix(s ^ t) ^ b)
    return np.stack([_mix(h + np.uint64(_GAMMA_INT * k & _MASK)) for k in (1, 2, 3)],
                    axis=-1)


class Draws:
    """The random numbers of one (seed, step, block): NumPy's SFC64, re-keyed for each.

    SFC64 is NumPy's fastest bit generator here (about 4x Philox per draw). Building one
    from a ``SeedSequence`` costs ~50 us, as much as a block's work, so instead the key
    is hashed with SplitMix64 (:func:`stream_keys`) into SFC64's three state words, its
    counter set to 1 and its first 12 outputs discarded - the way SFC64 seeds itself, with
    SplitMix64 in place of SeedSequence. The words are written through the generator's
    documented ``ctypes.state_address`` (the ``state`` setter costs ~5 us). One per thread.

    After :meth:`start`, :meth:`top` gives the top 8 bits of every agent's number and
    :meth:`low` then gives the low 24 bits for the agents that need them, continuing the
    same stream.

    >>> d = Draws()
    >>> d.start(stream_keys(1, [2], [3])[0, 0])
    >>> a = d.top(5)
    >>> d.start(stream_keys(1, [2], [3])[0, 0])
    >>> bool((a == d.top(5)).all()), a.dtype.name, d.low(3).dtype.name
    (True, 'uint8', 'uint32')
    """

    def __init__(self) -> None:
        import ctypes

        self._bg = np.random.SFC64(0)
        addr = self._bg.ctypes.state_address
        # sfc64_state starts with uint64 s[4]: a, b, c and the counter
        self._state = np.ctypeslib.as_array((ctypes.c_uint64 * 4).from_address(addr))

    def start(self, words: np.ndarray) -> None:
        """Key the stream with (a, b, c) from :func:`stream_keys`."""
        self._state[:3] = words
        self._state[3] = 1
        self._bg.random_raw(12)

    def top(self, n: int) -> np.ndarray:
        """``n`` uniform bytes: the top 8 bits of each agent's number (call once, first)."""
        return self._bg.random_raw((n + 7) // 8).view(np.uint8)[:n]

    def low(self, n: int) -> np.ndarray:
        """The next ``n`` numbers of the stream as uint32 (the low 24 bits are ``>> 8``).

        Drawn in whole 64-bit outputs, so asking for ``n`` then ``m`` numbers gives the
        same ``n + m`` numbers as asking for them at once when ``n`` is even.
        """
        return self._bg.random_raw((n + 1) // 2).view(np.uint32)[:n]


def _block_numpy(loc: np.ndarray, rng: Draws, mt: MoveTable) -> None:
    """Advance one block of agents in place: one guide lookup, search where it straddles."""
    top = rng.top(len(loc))
    slot = (loc << mt.bits) + (top >> (8 - mt.bits)).astype(np.int32)
    dest = mt.guide[slot]
    odd = np.flatnonzero(dest < 0)
    if odd.size:
        x = (top[odd].astype(np.int64) << 24) | (rng.low(odd.size) >> 8).astype(np.int64)
        dest[odd] = _search(loc[odd], x, mt.indptr, mt.indices, mt.key)
    loc[:] = dest


def numba_available() -> bool:
    """Whether the compiled path can be used (numba imports)."""
    try:
        from onward.engine import kernel_numba  # noqa: F401
    except ImportError:
        return False
    return True


def advance(loc: np.ndarray, mt: MoveTable, seed: int, steps: int, start: int = 0,
            backend: str = "auto", threads: int = 1, block: int = BLOCK) -> np.ndarray:
    """Run steps ``start, ..., start + steps - 1`` on ``loc`` in place and return it.

    ``loc`` is an int32 array of location indices. ``backend`` is ``"numba"``,
    ``"numpy"`` or ``"auto"`` (numba when it imports). ``threads`` splits the blocks of
    agents across threads; the result is the same for every ``threads``, ``backend`` and
    way of splitting the steps across calls, because each (step, block) has its own draws.
    Agents move independently given the table, so each block runs all its steps while it
    sits in cache; call once per step when the table changes between steps.

    >>> g = Graph.from_edges(2, [0, 1], [1, 0], [1.0, 1.0])
    >>> mt = move_table(g, np.array([1.0, 0.0]), score=np.ones(2))
    >>> advance(np.zeros(4, dtype=np.int32), mt, seed=1, steps=3).tolist()
    [1, 1, 1, 1]
    """
    if loc.dtype != np.int32 or not loc.flags.c_contiguous:
        raise TypeError("loc must be a contiguous int32 array (np.asarray(x, np.int32))")
    if backend == "auto":
        backend = "numba" if numba_available() else "numpy"
    if backend == "numba":
        from onward.engine.kernel_numba import block_all_steps
    elif backend != "numpy":
        raise ValueError(f"backend must be 'auto', 'numba' or 'numpy', not {backend!r}")
    if block <= 0:
        raise ValueError("block must be a positive number of agents")
    n_blocks = -(-len(loc) // block)
    todo = iter(range(n_blocks))  # shared: each thread takes the next block when free
    step_range = np.arange(start, start + steps)

    def run_blocks() -> None:
        args = (mt.guide, mt.bits, mt.indptr, mt.indices, mt.threshold, mt.stay)
        if backend == "numba":
            scratch = np.empty(block + 8, dtype=np.uint8)
        else:
            rng = Draws()
        for b in todo:
            part = loc[b * block:(b + 1) * block]
            keys = stream_keys(seed, step_range, [b])[:, 0]
            if backend == "numba":  # all steps of the block in one GIL-free call
                block_all_steps(part, np.ascontiguousarray(keys), scratch, *args)
                continue
            for t in range(steps):
                rng.start(keys[t])
                _block_numpy(part, rng, mt)

    threads = max(1, min(int(threads), n_blocks))
    if threads == 1:
        run_blocks()
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(threads) as pool:
            for f in [pool.submit(run_blocks) for _ in range(threads)]:
                f.result()
    return loc
