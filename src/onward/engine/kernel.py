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
    if weights is None:
        if score is None:
            raise ValueError("give score or weights")
        weights = link_weights(g, score, softening)
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(g.indices):
        raise ValueError("one weight per edge")
    if len(w) and (not np.isfinite(w).all() or w.min() < 0):
        raise ValueError("edge weights must be finite and >= 0")
    rows = g.sources()
    total = np.bincount(rows, weights=w, minlength=g.n_locations)
    zero = total[rows] <= 0
    w = np.where(zero, 1.0, w)
    total = np.bincount(rows, weights=w, minlength=g.n_locations)
    cum = np.cumsum(w)
    start = np.concatenate(([0.0], cum))[g.indptr[:-1]]
    table = rows + (cum - start[rows]) / np.where(total[rows] > 0, total[rows], 1.0)
    # the last edge of each row closes it exactly, so rounding never spills into the next
    last = g.indptr[1:][g.degree > 0] - 1
    table[last] = rows[last] + 1.0
    return table


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
