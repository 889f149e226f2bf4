"""Random streams keyed by seed and stage.

Set-up draws (population, network) come from counter-based Philox streams keyed by
(seed, stage, month). The monthly stages draw from :class:`Streams`: one fast SFC64
generator per (seed, stage), seeded through NumPy's SeedSequence, that lives for the whole
run. Either way a stage never shifts the numbers another stage sees, and a run's numbers
depend only on its seed, never on how runs are scheduled across workers.

Examples
--------
>>> from onward.engine.rng import stream, Stage
>>> a = stream(7, Stage.INTEGRATION, 3).random(2)
>>> b = stream(7, Stage.INTEGRATION, 3).random(2)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

import ctypes
from enum import IntEnum
from typing import Any

import numpy as np


class Stage(IntEnum):
    POPULATION = 1
    NETWORK = 2
    BACKGROUND = 3
    ARRIVAL = 10
    BIRTHS = 11
    INTEGRATION = 12
    INFORMATION = 13
    BROKERS = 14
    DECISION = 15
    JOURNEY = 16
    ASYLUM = 17
    AFTER = 18
    DESTINATION = 19
    ROUTES = 20  # route choice on the route graph
    CAPACITY = 21  # who waits at a full location (route graph)


def stream(seed: int, stage: int, month: int = 0) -> np.random.Generator:
    """A generator for one (seed, stage, month); months may be negative (set-up draws)."""
    key = ((int(seed) & (2**64 - 1)) << 64) | ((int(stage) & 0xFFFF) << 32) | (
        (int(month) + 2**20) & 0xFFFFFFFF)
    return np.random.Generator(np.random.Philox(key=key))


Handle = tuple[int, int, int, int, int]


def generator_handle(g: np.random.Generator) -> Handle:
    """The addresses a compiled stage draws through: ``g``'s bit-generator state, its
    ``next_uint64``, ``next_uint32`` and ``next_double`` functions, and 1 if the state is
    an SFC64 that the compiled stages may step themselves (else 0)
    (:func:`onward.engine.stages_numba.as_generator` turns it back into a generator).
    Numba unboxes a tuple of ints ~15x faster than a ``Generator``, and the draws are the
    same numbers from the same state. Valid only while ``g`` lives: keep ``g``."""
    from onward.engine import stages_numba

    c = g.bit_generator.ctypes

    def address(f: Any) -> int:  # a ctypes function pointer
        return int(ctypes.cast(f, ctypes.c_void_p).value or 0)

    inline = type(g.bit_generator) is np.random.SFC64 and stages_numba.sfc64_inline_ok()
    return (int(c.state_address), address(c.next_uint64), address(c.next_uint32),
            address(c.next_double), int(inline))


class Streams:
    """One generator per stage for a whole run (SFC64, about 3x faster than Philox).

    >>> a = Streams(7)(Stage.DECISION).random(2)
    >>> b = Streams(7)(Stage.DECISION).random(2)
    >>> bool((a == b).all())
    True
    """

    def __init__(self, seed: int):
        self.seed = int(seed) & (2**64 - 1)
        self._gens: dict[int, np.random.Generator] = {}
        # id -> (generator, handle): holding the generator keeps its id and addresses valid
        self._handles: dict[int, tuple[np.random.Generator, Handle]] = {}

    def __call__(self, stage: int) -> np.random.Generator:
        g = self._gens.get(stage)
        if g is None:
            ss = np.random.SeedSequence([self.seed & 0xFFFFFFFF, self.seed >> 32, int(stage)])
            g = self._gens[stage] = np.random.Generator(np.random.SFC64(ss))
        return g

    def handle(self, g: np.random.Generator) -> Handle:
        """:func:`generator_handle` of ``g`` (a stream of this run, or any generator, which
        this object then keeps alive), computed once."""
        h = self._handles.get(id(g))
        if h is None or h[0] is not g:  # (a copy's entries name other objects' ids)
            h = self._handles[id(g)] = (g, generator_handle(g))
        return h[1]

    def __getstate__(self) -> dict:
        # addresses do not survive a copy or a pickle: a copy computes its own handles
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state
