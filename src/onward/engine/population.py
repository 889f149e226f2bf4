"""Create every household of a run up front, with its arrival month and attributes.

Inflows are exogenous, so all agents can be allocated before the first step: arrays never
grow during the run. Agents wait in ``PENDING`` until their arrival month.
"""

from __future__ import annotations

import os

import numpy as np

from onward.engine.compile import Compiled
from onward.engine.rng import Stage, stream
from onward.engine.state import Agents, State

#: Households that were present before the horizon arrived over this many earlier months
#: (an assumption; it only sets how much of their support period is left).
INITIAL_SPREAD_MONTHS = 96


def _draw(dist, rng: np.random.Generator, n: int) -> np.ndarray:
    if dist.kind == "beta":
        x = rng.beta(dist.a, dist.b, n)
    elif dist.kind == "normal":
        x = rng.normal(dist.mean, dist.sd, n)
    elif dist.kind == "lognormal":
        x = rng.lognormal(dist.mean, dist.sd, n)
    elif dist.kind == "poisson":
        x = rng.poisson(dist.mean, n).astype(np.float64)
    elif dist.kind == "histogram":
        # a bin by its weight, then a value uniformly inside it (binned microdata: no
        # agent carries a recorded person's exact value)
        w = np.asarray(dist.weights, dtype=np.float64)
        edges = np.asarray(dist.edges, dtype=np.float64)
        k = rng.choice(w.size, size=n, p=w / w.sum())
        x = edges[k] + rng.random(n) * (edges[k + 1] - edges[k])
    else:
        x = np.full(n, float(dist.mean))
    lo = -np.inf if dist.min is None else dist.min
    hi = np.inf if dist.max is None else dist.max
    return np.clip(x, lo, hi)


def _households(persons: int, mean_children: float, children_dist,
                rng: np.random.Generator) -> np.ndarray:
    """Children per household so that households hold exactly ``persons`` people."""
    if persons <= 0:
        return np.zeros(0, dtype=np.int16)
    guess = int(persons / (1.0 + max(mean_children, 0.0)) * 1.3) + 16
    kids = np.round(_draw(children_dist, rng, guess)).astype(np.int64).clip(0, 20)
    size = np.cumsum(1 + kids)
    while size[-1] < persons:  # rare: draw more
        more = np.round(_draw(children_dist, rng, guess)).astype(np.int64).clip(0, 20)
        kids = np.concatenate([kids, more])
        size = np.cumsum(1 + kids)
    k = int(np.searchsorted(size, persons))  # first household that reaches `persons`
    kids = kids[: k + 1].copy()
    before = int(size[k - 1]) if k > 0 else 0
    kids[k] = persons - before - 1
    return kids.astype(np.int16)


#: memory a run needs per person it will hold, about (households of 1.3 persons: their
#: columns, ties and the engine's monthly working arrays; flagship measured ~160 bytes a
#: household for columns and ties)
BYTES_PER_PERSON = 250


class PopulationTooLarge(ValueError):
    """The scenario's inflows would need more memory than this machine has."""


def _memory_bytes() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return None


def _direct_rates(c: Compiled) -> np.ndarray:
    """Expected direct claimants per (month, destination): a stream that decays
    geometrically from the start, (1 - decline) ** years elapsed, and none while the
    destination is closed (a closed destination admits no one, direct claimants included)."""
    elapsed = (np.arange(c.dest["background_claims"].shape[0]) / 12.0)[:, None]
    lam = c.dest["background_claims"] / 12.0 * (1.0 - c.dest["background_decline"]) ** elapsed
    return np.where(c.dest["open"] > 0.5, lam, 0.0)


def _check_memory(c: Compiled, direct: float) -> None:
    """Refuse, before allocating, a population that cannot fit in this machine's memory
    (a typo in an inflow, 6.0e9 for 6.0e3, ended in NumPy's MemoryError); ``direct`` is
    the expected number of direct claimants."""
    years = set(c.years(c.months).tolist())
    persons = c.initial + sum(p for y, p in c.inflow.items() if y in years and p > 0)
    persons += direct
    have = _memory_bytes()
    need = persons * BYTES_PER_PERSON
    if have is not None and need > have:
        raise PopulationTooLarge(
            f"population.inflow: the scenario brings about {persons:,.0f} persons over its "
            f"horizon, which needs about {need / 2**30:,.0f} GiB of memory; this machine has "
            f"{have / 2**30:,.0f} GiB. Fix: check the inflow (persons a year, "
            "population.inflow), population.inflow.initial and the destinations' "
            "background_claims for a typo")


def build(c: Compiled) -> Agents:
    """Allocate all households of the run (arrivals in the first country and direct claimants)."""
    lam = _direct_rates(c)
    _check_memory(c, float(lam.sum()))
    a = c.attributes
    rng = stream(c.seed, Stage.POPULATION, 0)
    T = c.months
    mean_kids = float(a.children.mean or 0.0)

    arrive_parts: list[np.ndarray] = []
    kids_parts: list[np.ndarray] = []
    female_parts: list[np.ndarray] = []
    # people already there at month 0
    kids0 = _households(int(round(c.initial)), mean_kids, a.children, rng)
    arrive_parts.append(-rng.integers(1, INITIAL_SPREAD_MONTHS + 1, kids0.size).astype(np.int32))
    kids_parts.append(kids0)
    female_parts.append(rng.random(kids0.size) < c.initial_female_share)
    # yearly inflows spread over the months of the year that lie inside the horizon
    year_of = c.years(T)
    for year, persons in sorted(c.inflow.items()):
        months = np.flatnonzero(year_of == year).astype(np.int32)
        if not months.size or persons <= 0:
            continue
        kids = _households(int(round(persons)), mean_kids, a.children, rng)
        arrive_parts.append(rng.choice(months, kids.size))
        kids_parts.append(kids)
        female_parts.append(rng.random(kids.size) < c.female_share.get(year, 0.5))
    n_first = int(sum(x.size for x in arrive_parts))

    # direct claimants: a Poisson stream per destination and month
    brng = stream(c.seed, Stage.BACKGROUND, 0)
    counts = brng.poisson(lam)
    t_idx, d_idx = np.nonzero(counts)
    reps = counts[t_idx, d_idx]
    bg_arrive = np.repeat(t_idx, reps).astype(np.int32)
    bg_dest = np.repeat(d_idx, reps).astype(np.int8)
    n_bg = int(bg_arrive.size)

    arrive = np.concatenate(arrive_parts + [bg_arrive]).astype(np.int32)
    n = int(arrive.size)
    children = np.concatenate(kids_parts + [np.zeros(n_bg, np.int16)]).astype(np.int16)
    female = np.concatenate(female_parts + [brng.random(n_bg) < 0.5])
    direct = np.zeros(n, dtype=bool)
    direct[n_first:] = True
    home_dest = np.full(n, -1, dtype=np.int8)
    home_dest[n_first:] = bg_dest

    arng = stream(c.seed, Stage.POPULATION, 1)
    age_at_arrival = _draw(a.age, arng, n)
    age0 = (age_at_arrival - arrive / 12.0).astype(np.float32)
    skill = _draw(a.skill, arng, n).clip(0, 1).astype(np.float32)
    drive = _draw(a.drive, arng, n).clip(0, 1).astype(np.float32)
    funds = _draw(a.funds, arng, n).clip(0, None).astype(np.float32)
    socdem = _draw(a.socdem_preference, arng, n).clip(0, 1).astype(np.float32)
    w = np.asarray(a.regions.weights, dtype=np.float64)
    region = arng.choice(len(w), size=n, p=w / w.sum()).astype(np.int8)

    D = c.n_dest
    f32 = np.float32
    return Agents(
        arrive=arrive, direct=direct, home_dest=home_dest, female=female, age0=age0,
        skill=skill, drive=drive, socdem=socdem, region=region,
        broker=np.zeros(n, bool), degree=np.zeros(n, np.int32),
        state=np.full(n, State.PENDING, np.int8), dest=np.full(n, -1, np.int8),
        children=children, funds=funds, employed=np.zeros(n, bool),
        income=np.zeros(n, f32), discrim=np.zeros(n, f32), frustration=np.zeros(n, f32),
        push=np.zeros(n, f32), satisfaction=np.zeros(n, f32), aspiration=np.zeros(n, f32),
        optimism=np.zeros(n, f32), offer_dest=np.full(n, -1, np.int8),
        offer_until=np.full(n, -1, np.int32), via_broker=np.zeros(n, bool),
        concealed=np.zeros(n, bool), due=np.zeros(n, np.int32), moves=np.zeros(n, np.int8),
        claimed=np.zeros(n, np.uint64),
        returned=np.zeros(n, bool), lang_adult=np.zeros(n, f32), lang_child=np.zeros(n, f32),
        dest_employed=np.zeros(n, bool), coethnic=np.zeros(n, bool),
        friction=np.zeros(n, f32), identity=np.ones(n, f32),
        info_until=np.full((n, D), -1, np.int16), info_any=np.full(n, -1, np.int16),
    )
