"""The benchmark model, defined once for Flee, Mesa and onward (NumPy only).

A random connected graph of ``N_LOCATIONS`` locations: a ring plus as many random chords,
link lengths uniform in [SPEED, 2 * SPEED) km. Location types follow Flee's defaults:
conflict zones (move chance 1.0, score CONFLICT_WEIGHT), camps (0.001, CAMP_WEIGHT) and
towns (0.3, 1.0). Agent ``a`` starts in conflict zone ``a % n_conflict``. Each step an
agent moves with its location's move chance to a neighbour chosen with weight
``score / (SOFTENING + distance)``.

This module is imported by every framework's runner, in the project's interpreter and in
the benchmark virtualenv, so it depends on NumPy alone.
"""

from __future__ import annotations

import numpy as np

N_LOCATIONS = 200
SEED = 20260101
SPEED = 100.0  # Flee's max_move_speed (km/day); links are [SPEED, 2 * SPEED) long
SOFTENING = 10.0
CONFLICT_WEIGHT = 0.25
CAMP_WEIGHT = 2.0
MOVE_CHANCE = {"conflict_zone": 1.0, "camp": 0.001, "town": 0.3}
SCORE = {"conflict_zone": CONFLICT_WEIGHT, "camp": CAMP_WEIGHT, "town": 1.0}


def model(n_locations: int = N_LOCATIONS, seed: int = SEED) -> dict:
    """Locations (names, types, move chances, scores) and undirected links (i, j, km)."""
    rng = np.random.default_rng(seed)
    kinds = np.array(["town"] * n_locations, dtype=object)
    kinds[: n_locations // 10] = "conflict_zone"
    kinds[n_locations // 10: n_locations // 5] = "camp"
    kinds = kinds[rng.permutation(n_locations)]
    pairs = {(i, (i + 1) % n_locations) for i in range(n_locations)}
    while len(pairs) < 2 * n_locations:
        i, j = (int(v) for v in rng.integers(0, n_locations, 2))
        if i != j and (i, j) not in pairs and (j, i) not in pairs:
            pairs.add((i, j))
    links = sorted(pairs)
    km = np.floor(rng.uniform(SPEED, 2 * SPEED, len(links)))  # whole km, inside [S, 2S)
    return {
        "names": [f"L{i}" for i in range(n_locations)],
        "kinds": [str(k) for k in kinds],
        "move_chance": np.array([MOVE_CHANCE[k] for k in kinds]),
        "score": np.array([SCORE[k] for k in kinds]),
        "links": [(i, j, float(d)) for (i, j), d in zip(links, km, strict=True)],
    }


def start_locations(m: dict, n_agents: int) -> np.ndarray:
    """Agent ``a`` starts in conflict zone ``a % n_conflict`` (int32)."""
    conflict = np.flatnonzero(np.array(m["kinds"]) == "conflict_zone").astype(np.int32)
    return np.resize(conflict, n_agents)  # repeats the list: no int64 temporaries


def refill_start(m: dict, loc: np.ndarray) -> None:
    """Put ``loc`` back to :func:`start_locations`, in place: no allocation, so the peak
    memory the runner reports is the agents' own."""
    conflict = np.flatnonzero(np.array(m["kinds"]) == "conflict_zone").astype(np.int32)
    for j, c in enumerate(conflict):
        loc[j::len(conflict)] = c


def edges(m: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Directed edge lists (both directions of each link): src, dst, distance."""
    a = np.array([(i, j, d) for i, j, d in m["links"]])
    src = np.concatenate([a[:, 0], a[:, 1]]).astype(np.int64)
    dst = np.concatenate([a[:, 1], a[:, 0]]).astype(np.int64)
    return src, dst, np.concatenate([a[:, 2], a[:, 2]])


def shares(loc: np.ndarray, n_locations: int) -> np.ndarray:
    """Share of agents at each location."""
    return np.bincount(loc, minlength=n_locations) / max(len(loc), 1)
