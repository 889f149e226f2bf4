"""The compiled inner loop of :func:`onward.engine.kernel.advance` (Numba).

A block of agents runs all its steps in one call that holds no GIL, so blocks run on
several threads at once and Python is not entered between steps. The random numbers are
those of the NumPy path, number for number: each (step, block) is keyed into NumPy's
SFC64 exactly as :class:`onward.engine.kernel.Draws` does it (three state words, counter 1,
twelve outputs discarded), and SFC64's step is written out here. Agents then take the top
8 bits of the stream in order (8 agents per 64-bit output), and the few agents whose bucket
straddles a threshold take, in order, the 32-bit halves of the outputs that follow: the
same guide-then-search rule as the NumPy path, so the same locations.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

#: outputs SFC64 discards after it is keyed (NumPy's ``sfc64_set_seed``)
DISCARD = 12


@njit(nogil=True, cache=True, inline="always")
def sfc64_step(a, b, c, w):  # pragma: no cover - compiled
    """One SFC64 step (NumPy's ``sfc64_next``) on the state words a, b, c, w (uint64):
    ``(output, a, b, c, w)``, the state as it is after the step."""
    tmp = a + b + w
    return (tmp, b ^ (b >> uint64(11)), c + (c << uint64(3)),
            ((c << uint64(24)) | (c >> uint64(40))) + tmp, w + uint64(1))


@njit(nogil=True, cache=True, inline="always")
def _next(s):  # pragma: no cover - compiled
    """One SFC64 output; ``s`` is the uint64[4] state a, b, c, w, stepped in place."""
    tmp, s[0], s[1], s[2], s[3] = sfc64_step(s[0], s[1], s[2], s[3])
    return tmp


@njit(nogil=True, cache=True, boundscheck=False)
def block_all_steps(loc, keys, top, guide, bits, indptr, indices,
                    threshold, stay):  # pragma: no cover - compiled
    """Advance the agents of one block through every step in ``keys``, in place.

    ``keys`` is (steps, 3) uint64: the SFC64 words of each (step, this block) from
    :func:`onward.engine.kernel.stream_keys`. ``top`` is a scratch uint8 buffer of at least
    ``len(loc)`` rounded up to 8.
    """
    n = loc.shape[0]
    shift = 8 - bits
    words = (n + 7) // 8
    top64 = top[:words * 8].view(np.uint64)
    s = np.empty(4, dtype=np.uint64)
    for t in range(keys.shape[0]):
        s[0] = keys[t, 0]
        s[1] = keys[t, 1]
        s[2] = keys[t, 2]
        s[3] = uint64(1)
        for _ in range(DISCARD):
            _next(s)
        # the top byte of every agent: the stream's first ``words`` outputs, byte by byte
        # (little-endian, as NumPy's uint8 view of them)
        for k in range(words):
            top64[k] = _next(s)
        half = 0  # 32-bit halves of the current output still unused (low half first)
        cur = uint64(0)
        for a in range(n):
            i = loc[a]
            hi = np.int64(top[a])
            d = guide[(np.int64(i) << bits) + (hi >> shift)]
            if d < 0:  # the bucket straddles a threshold (rare): the full 32-bit number
                if half == 0:
                    cur = _next(s)
                    low = np.int64(cur & uint64(0xFFFFFFFF))
                    half = 1
                else:
                    low = np.int64(cur >> uint64(32))
                    half = 0
                u = (hi << 24) | (low >> 8)
                d = i
                if u < stay[i]:
                    e = indptr[i]
                    while u >= threshold[e]:
                        e += 1
                    d = indices[e]
            loc[a] = d
