"""Candidate routes of Flee 3.1's route choice, as a CSR table of paths.

With ``awareness_level`` L an agent weighs every loop-free path of up to L links from
where it stands (markers neither end a path nor count as a step) and follows the path it
draws, one link at a time. The paths depend only on which links are open, so they are
enumerated once per change of the road network, not once per agent as Flee does; their
weights depend on each endpoint's score and fill and are recomputed every round.

>>> from onward.engine.kernel import Graph
>>> g = Graph.from_edges(3, [0, 1, 1, 2], [1, 0, 2, 1], [10.0, 10.0, 5.0, 5.0])
>>> p = enumerate_paths(g, np.ones(4, bool), np.zeros(3, bool), awareness=2)
>>> [p.nodes[i, :p.length[i]].tolist() for i in range(p.graph.indptr[0], p.graph.indptr[1])]
[[1], [1, 2]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from onward.engine.kernel import Graph


@dataclass(frozen=True)
class Paths:
    """Paths grouped by origin: ``graph.indices`` are path ids, ``graph.distance`` their
    lengths in km; ``nodes[p, :length[p]]`` the locations after the origin; ``end[p]``
    the last one."""

    graph: Graph
    nodes: np.ndarray
    length: np.ndarray
    end: np.ndarray

    @property
    def width(self) -> int:
        return self.nodes.shape[1]


def enumerate_paths(g: Graph, open_edge: np.ndarray, marker: np.ndarray, awareness: int,
                    ) -> Paths:
    """All candidate routes from every location over the open links of ``g``."""
    n = g.n_locations
    out_links: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i in range(n):
        for e in range(g.indptr[i], g.indptr[i + 1]):
            if open_edge[e]:
                out_links[i].append((int(g.indices[e]), float(g.distance[e])))
    src: list[int] = []
    seqs: list[list[int]] = []
    dists: list[float] = []

    def walk(origin: int, v: int, d: float, prior: float, visited: list[int],
             step: int) -> None:
        total = prior + d
        if not marker[v]:
            src.append(origin)
            seqs.append(visited[1:] + [v])
            dists.append(total)
        else:
            step -= 1
        if awareness > step:
            for w, dw in out_links[v]:
                # Flee 3.1 skips a neighbour already on the path before v
                if w not in visited:
                    walk(origin, w, dw, total, visited + [v], step + 1)

    if awareness != 0:
        for i in range(n):
            for v, d in out_links[i]:
                walk(i, v, d, 0.0, [i], 1)
    m = len(seqs)
    width = max((len(s) for s in seqs), default=1)
    nodes = np.full((m, width), -1, dtype=np.int32)
    for k, s in enumerate(seqs):
        nodes[k, :len(s)] = s
    length = np.asarray([len(s) for s in seqs], dtype=np.int32)
    counts = np.bincount(np.asarray(src, dtype=np.int64), minlength=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    graph = Graph(indptr, np.arange(m, dtype=np.int32), np.asarray(dists, dtype=np.float64))
    end = nodes[np.arange(m), length - 1] if m else np.zeros(0, dtype=np.int32)
    return Paths(graph, nodes, length, end.astype(np.int32))
