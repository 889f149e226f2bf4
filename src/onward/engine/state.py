"""Agent states and the struct-of-arrays that holds every household.

An agent is a household: one adult (the head) and their children. Persons are counted with
``1 + children`` so that outputs match statistics that count persons while the
decisions are made once per household (as a main applicant does).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np


class State(IntEnum):
    """Exactly one of these holds for every agent at every step."""

    PENDING = 0  # not yet arrived (in the origin, or not yet a claimant)
    FIRST_COUNTRY = 1  # living in the first country of protection
    TRANSIT = 2  # on the way to a destination
    CLAIMANT = 3  # claim lodged at a destination, awaiting a decision
    RECOGNISED = 4  # protection granted, living at the destination
    IRREGULAR = 5  # refused, staying at the destination without status


N_STATES = len(State)
STATE_NAMES = [s.name.lower() for s in State]


@dataclass
class Agents:
    """Columns, one row per household. Created by :func:`onward.engine.population.build`."""

    # fixed at creation
    arrive: np.ndarray  # int32 month index of arrival (negative: before the horizon)
    direct: np.ndarray  # bool: claims straight from the origin, never lived in first country
    home_dest: np.ndarray  # int8 destination of a direct claimant, else -1
    female: np.ndarray  # bool (head)
    age0: np.ndarray  # float32 age of the head at month 0 of the horizon
    skill: np.ndarray  # float32 0-1 education and skills
    drive: np.ndarray  # float32 0-1 entrepreneurship, ambition
    socdem: np.ndarray  # float32 0-1 preference for a social-democratic system
    region: np.ndarray  # int8 region of origin
    broker: np.ndarray  # bool
    degree: np.ndarray  # int32 ties in the social network
    # dynamic
    state: np.ndarray  # int8 State
    dest: np.ndarray  # int8 destination index (-1 = none)
    children: np.ndarray  # int16
    funds: np.ndarray  # float32 savings, months of native wage
    employed: np.ndarray  # bool
    income: np.ndarray  # float32 relative to native mean wage
    discrim: np.ndarray  # float32 felt discrimination
    frustration: np.ndarray  # float32 frustrated mobility 0-1
    push: np.ndarray  # float32
    satisfaction: np.ndarray  # float32
    aspiration: np.ndarray  # float32 0-1, as last recorded: on moving, and at a year's end
    optimism: np.ndarray  # float32 rumour bias received from a broker
    offer_dest: np.ndarray  # int8 destination a broker offered (-1)
    offer_until: np.ndarray  # int32 month the offer lapses
    via_broker: np.ndarray  # bool: current/last move arranged by a broker
    concealed: np.ndarray  # bool: hides the first-country stay in the current claim
    due: np.ndarray  # int32 month the journey ends or the decision comes
    moves: np.ndarray  # int8 onward moves made
    claimed: np.ndarray  # uint64 bit d set once a claim was lodged at destination d
    returned: np.ndarray  # bool: came back to the first country
    lang_adult: np.ndarray  # float32 0-1
    lang_child: np.ndarray  # float32 0-1
    dest_employed: np.ndarray  # bool
    coethnic: np.ndarray  # bool: works for a co-ethnic employer
    friction: np.ndarray  # float32
    identity: np.ndarray  # float32 0-1 heritage identity of the children
    info_until: np.ndarray  # int16 (n, D): month until which the destination is known
    info_any: np.ndarray  # int16: the latest of a row of info_until (a cheap screen)

    @property
    def n(self) -> int:
        return int(self.state.shape[0])

    def persons(self) -> np.ndarray:
        return 1 + self.children.astype(np.int64)

    def permuted(self, order: np.ndarray) -> Agents:
        """The same households with row ``k`` taken from row ``order[k]`` (a column that
        holds one value throughout, as most do before the first month, is copied rather
        than gathered)."""
        return Agents(**{f.name: _permuted(getattr(self, f.name), order)
                         for f in fields(self)})

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).nbytes for f in fields(self))


def _permuted(x: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``x[order]``; when ``order`` is as long as ``x`` (a permutation) and every row is
    the same, a copy (any order of equal rows is the same array)."""
    if order.size == x.shape[0] and x.size and (x == x.flat[0]).all():
        return x.copy()
    return x[order]
