"""The compiled inner loop of :func:`onward.engine.kernel.advance` (Numba).

It only consumes the numbers that NumPy drew, and follows the same guide-then-search rule
as the NumPy path, so it gives exactly the same locations; it releases the GIL, so blocks
of agents run on several threads at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, boundscheck=False)
def block_steps(loc, top, start, low, guide, bits, indptr, indices, threshold,
                stay):  # pragma: no cover - compiled
    """One step for agents ``start:`` of a block, in place (rule: see ``MoveTable``).

    ``top`` holds every agent's top 8 random bits; ``low`` the next numbers of the stream,
    taken in order by the agents whose bucket straddles a threshold. Returns the index of
    the first agent not done: ``len(loc)``, or earlier when ``low`` ran out (the caller
    draws more and calls again from there).
    """
    shift = 8 - bits
    k = 0
    for a in range(start, loc.shape[0]):
        i = loc[a]
        hi = np.int64(top[a])
        d = guide[(np.int64(i) << bits) + (hi >> shift)]
        if d < 0:  # the bucket straddles a threshold (rare): the full 32-bit number
            if k == low.shape[0]:
                return a
            u = (hi << 24) | (np.int64(low[k]) >> 8)
            k += 1
            d = i
            if u < stay[i]:
                e = indptr[i]
                while u >= threshold[e]:
                    e += 1
                d = indices[e]
        loc[a] = d
    return loc.shape[0]
