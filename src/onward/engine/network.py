"""The social network among households, as a symmetric sparse CSR matrix.

Generators share one small interface: a callable ``(agents, compiled) -> csr_matrix``,
registered in :data:`GENERATORS` under the name a scenario's ``network.generator`` uses.

The built-in ``clustered_pareto`` generator gives a heavy-tailed degree distribution
(Pareto, as in many observed migrant and kin networks) with a tunable share of ties inside
the same arrival cohort and region of origin (people who crossed together, kin, church),
the rest spread across the whole community (small-world shortcuts).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from onward.engine import stages_numba
from onward.engine.compile import Compiled
from onward.engine.rng import Stage, stream
from onward.engine.state import Agents

MAX_DEGREE = 2000


def clustered_pareto(ag: Agents, c: Compiled) -> sp.csr_matrix:
    """Heavy-tailed, cohort- and region-clustered network over first-country households."""
    rng = stream(c.seed, Stage.NETWORK, 0)
    n = ag.n
    members = np.flatnonzero(~ag.direct)
    m = members.size
    mean_degree = float(c.glob["network.mean_degree"][0])
    alpha = float(c.glob["network.degree_tail"][0])
    clustering = float(c.glob["network.clustering"][0])
    if m < 2 or mean_degree <= 0:
        return sp.csr_matrix((n, n), dtype=np.int8)
    # each household starts about half of its ties; the other half are received
    xm = mean_degree * (alpha - 1.0) / alpha if alpha > 1 else mean_degree / 2
    k = np.floor(xm * (1.0 + rng.pareto(alpha, m))).clip(0, MAX_DEGREE)
    starts = rng.binomial(k.astype(np.int64), 0.5)
    src_local = np.repeat(np.arange(m), starts)
    # groups: arrival cohort (year) x region
    cohort = np.floor_divide(ag.arrive[members], 12).astype(np.int64)
    key = (cohort - cohort.min()) * 256 + ag.region[members].astype(np.int64)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    uniq, gstart, gsize = np.unique(skey, return_index=True, return_counts=True)
    gid = np.searchsorted(uniq, key)
    local = rng.random(src_local.size) < clustering
    dst_local = rng.integers(0, m, src_local.size)
    g = gid[src_local[local]]
    pick = gstart[g] + np.floor(rng.random(g.size) * gsize[g]).astype(np.int64)
    dst_local[local] = order[pick]
    keep = dst_local != src_local
    src = members[src_local[keep]]
    dst = members[dst_local[keep]]
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    return csr_01(rows, cols, n)


def csr_01(rows: np.ndarray, cols: np.ndarray, n: int) -> sp.csr_matrix:
    """The ``n x n`` 0/1 int8 matrix with ones at ``(rows, cols)`` (duplicates count once),
    in canonical CSR form, built in one compiled pass."""
    indptr, indices = stages_numba.csr_from_pairs(np.asarray(rows, np.int64),
                                                  np.asarray(cols, np.int64), n)
    return _canonical(indptr, indices, n)


def _canonical(indptr: np.ndarray, indices: np.ndarray, n: int) -> sp.csr_matrix:
    adj = sp.csr_matrix((np.ones(indices.size, np.int8), indices, indptr), shape=(n, n))
    adj.has_sorted_indices = True
    adj.has_canonical_format = True
    return adj


def permuted(adj: sp.csr_matrix, order: np.ndarray) -> sp.csr_matrix:
    """``adj[order][:, order]`` (rows and columns renumbered), in canonical form; a 0/1
    matrix in one compiled pass, any other (a plug-in generator's weights) by SciPy."""
    a = adj.tocsr()
    if not a.has_canonical_format:
        a = a.copy()
        a.sum_duplicates()
    if not (a.dtype == np.int8 and (a.data == 1).all()):
        b = a[order][:, order].tocsr()
        b.sort_indices()
        return b
    indptr, indices = stages_numba.permute_csr(a.indptr.astype(np.int64),
                                               a.indices.astype(np.int64),
                                               np.asarray(order, np.int64))
    return _canonical(indptr, indices, a.shape[0])


def top_by_degree(degree: np.ndarray, jitter: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` of ``np.lexsort((jitter, -degree))`` (highest degree first, ties by
    ``jitter``), sorting only the candidates with at least the k-th largest degree."""
    cand = np.arange(degree.size)
    if 0 < k < degree.size:
        cand = np.flatnonzero(degree >= np.partition(degree, degree.size - k)[degree.size - k])
    return cand[np.lexsort((jitter[cand], -degree[cand]))][:k]


GENERATORS: dict[str, Callable[[Agents, Compiled], sp.csr_matrix]] = {
    "clustered_pareto": clustered_pareto,
}


def build_network(ag: Agents, c: Compiled, generator: str = "clustered_pareto") -> sp.csr_matrix:
    """Build the network, store degrees on the agents and choose the brokers.

    Brokers are the best-connected households (an ordinary person with a dense social
    network, MODEL.md section 1): the top ``brokers.share`` of first-country households by
    degree, ties broken at random.
    """
    adj = GENERATORS[generator](ag, c)
    ag.degree[:] = np.diff(adj.indptr).astype(np.int32)
    share = float(c.glob["brokers.share"][0])
    members = np.flatnonzero(~ag.direct)
    nb = int(round(share * members.size))
    if nb > 0:
        rng = stream(c.seed, Stage.NETWORK, 1)
        jitter = rng.random(members.size)
        ag.broker[members[top_by_degree(ag.degree[members], jitter, nb)]] = True
    return adj

