"""Counter-based random streams keyed by (seed, stage, month).

Each stage of each month draws from its own Philox stream, so adding a stage or skipping
one never shifts the numbers another stage sees, and results do not depend on how runs are
scheduled across workers.

Examples
--------
>>> from onward.engine.rng import stream, Stage
>>> a = stream(7, Stage.INTEGRATION, 3).random(2)
>>> b = stream(7, Stage.INTEGRATION, 3).random(2)
>>> bool((a == b).all())
True
"""

from __future__ import annotations

from enum import IntEnum

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


def stream(seed: int, stage: int, month: int = 0) -> np.random.Generator:
    """A generator for one (seed, stage, month); months may be negative (set-up draws)."""
    key = ((int(seed) & (2**64 - 1)) << 64) | ((int(stage) & 0xFFFF) << 32) | (
        (int(month) + 2**20) & 0xFFFFFFFF)
    return np.random.Generator(np.random.Philox(key=key))
