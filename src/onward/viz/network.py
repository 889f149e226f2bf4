"""The social network with brokers highlighted: a readable sample around a few brokers.

The full network has tens of thousands of households, so the figure shows a sampled
subgraph (a few brokers, some of their contacts, and the ties among the sampled
households), laid out with a small Fruchterman-Reingold spring layout written in NumPy.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from onward.viz.style import BLUE, GREY, ORANGE, STYLE


def sample_around_brokers(adj: sp.csr_matrix, broker: np.ndarray, max_nodes: int = 240,
                          per_broker: int = 22, per_other: int = 3, seed: int = 0
                          ) -> np.ndarray:
    """Indices (sorted) of a readable, connected subgraph: a snowball sample that starts at
    a random broker and walks outwards, keeping up to ``per_broker`` contacts of each
    broker and ``per_other`` of anyone else, always keeping contacts who are brokers
    themselves, until ``max_nodes`` households are in."""
    rng = np.random.default_rng(seed)
    brokers = np.flatnonzero(broker)
    if brokers.size == 0:  # no brokers: start from the best-connected household
        brokers = np.argsort(-np.diff(adj.indptr), kind="stable")[:1]
    seen = {int(rng.choice(brokers))}
    frontier = list(seen)
    while frontier and len(seen) < max_nodes:
        nxt: list[int] = []
        for v in frontier:
            nb = adj.indices[adj.indptr[v]:adj.indptr[v + 1]]
            nb = np.array([u for u in nb if int(u) not in seen], dtype=np.int64)
            if nb.size == 0:
                continue
            is_b = broker[nb].astype(bool)
            quota = per_broker if broker[v] else per_other
            rest = nb[~is_b]
            take = np.concatenate([nb[is_b][:4], rng.choice(rest, size=min(quota, rest.size),
                                                           replace=False)])
            for u in take[: max(0, max_nodes - len(seen))]:
                seen.add(int(u))
                nxt.append(int(u))
        rng.shuffle(nxt)
        frontier = nxt
    return np.array(sorted(seen), dtype=np.int64)


def spring_layout(edges: np.ndarray, n: int, iterations: int = 120, seed: int = 0
                  ) -> np.ndarray:
    """Fruchterman-Reingold positions (n, 2) in [0, 1] for an undirected edge list."""
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 2))
    k = 1.0 / np.sqrt(max(n, 1))
    temp = 0.1
    for _ in range(iterations):
        delta = pos[:, None, :] - pos[None, :, :]
        dist = np.sqrt((delta**2).sum(-1)) + 1e-9
        force = (k * k / dist**2)[:, :, None] * delta  # repulsion
        disp = force.sum(axis=1)
        if edges.size:
            d = pos[edges[:, 0]] - pos[edges[:, 1]]
            dl = np.sqrt((d**2).sum(-1))[:, None] + 1e-9
            pull = d * dl / k
            np.add.at(disp, edges[:, 0], -pull)
            np.add.at(disp, edges[:, 1], pull)
        length = np.sqrt((disp**2).sum(-1))[:, None] + 1e-9
        pos += disp / length * np.minimum(length, temp)
        temp *= 0.97
    pos -= pos.min(axis=0)
    return pos / np.maximum(pos.max(axis=0), 1e-9)


def network_figure(adj: sp.csr_matrix, broker: np.ndarray, moved: np.ndarray | None = None,
                   max_nodes: int = 240, seed: int = 0, title: str | None = None) -> Figure:
    """A sampled subgraph of the social network: brokers (orange, large), households who
    moved on (blue, when ``moved`` is given), others (grey); ties in light grey.

    Node artists carry ``gid`` "brokers", "movers" and "others"; ties "ties".
    """
    idx = sample_around_brokers(adj, broker, max_nodes=max_nodes, seed=seed)
    sub = adj[idx][:, idx].tocoo()
    mask = sub.row < sub.col
    edges = np.column_stack([sub.row[mask], sub.col[mask]]).astype(np.int64)
    pos = spring_layout(edges, idx.size, seed=seed)
    is_b = broker[idx].astype(bool)
    is_m = (moved[idx].astype(bool) & ~is_b) if moved is not None else np.zeros_like(is_b)
    other = ~is_b & ~is_m
    deg = np.diff(adj.indptr)[idx]
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 5.4))
        ax.add_collection(LineCollection(pos[edges], colors="#c9c9c9", linewidths=0.45,
                                         zorder=1, gid="ties"))
        ax.scatter(pos[other, 0], pos[other, 1], s=9, c=GREY, edgecolors="white",
                   linewidths=0.3, zorder=2, gid="others")
        if moved is not None:
            ax.scatter(pos[is_m, 0], pos[is_m, 1], s=14, c=BLUE, edgecolors="white",
                       linewidths=0.3, zorder=3, gid="movers")
        ax.scatter(pos[is_b, 0], pos[is_b, 1], s=40 + 0.5 * np.minimum(deg[is_b], 400),
                   c=ORANGE, edgecolors=DARK_EDGE, linewidths=0.6, zorder=4, gid="brokers")
        ax.set_xlim(-0.04, 1.04)
        ax.set_ylim(-0.04, 1.04)
        ax.set_aspect("equal")
        ax.axis("off")
        handles = [Line2D([], [], marker="o", ls="", color=ORANGE, mec=DARK_EDGE, ms=8,
                          label=f"broker ({int(is_b.sum())} sampled)")]
        if moved is not None:
            handles.append(Line2D([], [], marker="o", ls="", color=BLUE, ms=5,
                                  label="moved on"))
        handles.append(Line2D([], [], marker="o", ls="", color=GREY, ms=4,
                              label="other household"))
        ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.07),
                  ncol=len(handles), frameon=False)
        n_all = int(np.diff(adj.indptr).astype(bool).sum())
        share = float(broker.sum()) / max(n_all, 1)
        ax.set_title(title or f"Social network: a snowball sample of {idx.size} of {n_all:,} "
                     f"connected households\n(brokers: the best-connected {share:.1%}; "
                     "all ties among the sampled households)")
        fig.tight_layout()
    return fig


DARK_EDGE = "#5a2a0a"

__all__ = ["network_figure", "sample_around_brokers", "spring_layout"]
