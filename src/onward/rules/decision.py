"""Decision rules: who moves on this month, and where to.

A rule is a small class with ``aspiration(ctx)`` (the wish to move, 0-1) and
``hazard(ctx, aspiration)`` (the monthly chance that each candidate moves); the discrete
choice of destination is :func:`choose_destination`. Add a rule by
writing a class and registering it with :func:`register`; the engine does not change.
A scenario picks one with ``decision: {rule: <name>}``.

Examples
--------
>>> from onward.rules import get_rule
>>> get_rule("aspirations_capabilities").name
'aspirations_capabilities'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np


@dataclass
class DecisionContext:
    """What a rule may look at, for the candidates of one month (row i = candidate i)."""

    push: np.ndarray  # (n,) push of the first country
    pull: np.ndarray  # (n, D) known attractiveness of each destination
    allowed: np.ndarray  # (n, D) bool: known (if information gates), open, affordable
    capable: np.ndarray  # (n,) bool: capability gate passed
    funds: np.ndarray  # (n,)
    cost: np.ndarray  # (n, D) travel cost (plus the broker fee where a broker arranges it)
    skill: np.ndarray  # (n,)
    norm: np.ndarray | None  # (n,) share of network contacts who moved on (if the rule asks)
    params: dict[str, float]  # this month's global parameter values


class DecisionRule(Protocol):
    """The interface every decision rule implements."""

    name: ClassVar[str]
    needs_norm: ClassVar[bool]

    def aspiration(self, ctx: DecisionContext) -> np.ndarray:
        """Wish to move on, 0-1 (aspiration, or intention), for every row of ``ctx``."""
        ...

    def hazard(self, ctx: DecisionContext, aspiration: np.ndarray) -> np.ndarray:
        """Monthly probability of moving, given the rows' ``aspiration``."""
        ...


def gated_hazard(ctx: DecisionContext, aspiration: np.ndarray) -> np.ndarray:
    """``base_hazard x aspiration`` for those who pass the gates, zero for the rest."""
    able = ctx.capable & ctx.allowed.any(axis=1)
    return np.where(able, ctx.params["decision.base_hazard"] * aspiration, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -40, 40)))


def best_pull(ctx: DecisionContext) -> np.ndarray:
    """Attractiveness of the most attractive allowed destination (0 where none is)."""
    masked = np.where(ctx.allowed, ctx.pull, -np.inf)
    best = masked.max(axis=1) if masked.shape[1] else np.zeros(masked.shape[0])
    return np.where(np.isfinite(best), best, 0.0)


class AspirationsCapabilities:
    """de Haas's aspirations-capabilities framework.

    Aspiration = logistic(intercept + push + best known pull); the monthly hazard is
    ``base_hazard x aspiration`` for those who pass the capability gate and know a
    destination they can afford, zero for the rest.
    """

    name: ClassVar[str] = "aspirations_capabilities"
    needs_norm: ClassVar[bool] = False

    def aspiration(self, ctx: DecisionContext) -> np.ndarray:
        return _sigmoid(ctx.params["aspiration.intercept"] + ctx.push + best_pull(ctx))

    def hazard(self, ctx: DecisionContext, aspiration: np.ndarray) -> np.ndarray:
        return gated_hazard(ctx, aspiration)


class PlannedBehaviour:
    """Ajzen's theory of planned behaviour.

    Intention = logistic(intercept + w_attitude x (push + best pull) + w_norm x share of
    contacts who moved on + w_control x perceived control), where perceived control grows
    with funds relative to the cheapest allowed journey and with skill. The same gates as
    the aspirations-capabilities rule apply.
    """

    name: ClassVar[str] = "planned_behaviour"
    needs_norm: ClassVar[bool] = True

    def aspiration(self, ctx: DecisionContext) -> np.ndarray:
        p = ctx.params
        attitude = ctx.push + best_pull(ctx)
        cheapest = np.where(ctx.allowed, ctx.cost, np.inf).min(axis=1) if ctx.cost.shape[1] \
            else np.full(ctx.funds.shape, np.inf)
        control = np.where(np.isfinite(cheapest),
                           np.clip(ctx.funds / np.maximum(cheapest, 1e-6), 0, 2), 0.0)
        control = control + ctx.skill
        norm = ctx.norm if ctx.norm is not None else np.zeros_like(ctx.push)
        return _sigmoid(p["decision.tpb_intercept"] + p["decision.tpb_w_attitude"] * attitude
                        + p["decision.tpb_w_norm"] * norm * 10.0
                        + p["decision.tpb_w_control"] * control)

    def hazard(self, ctx: DecisionContext, aspiration: np.ndarray) -> np.ndarray:
        return gated_hazard(ctx, aspiration)


def choose_destination(ctx: DecisionContext, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Multinomial logit over allowed destinations for candidate ``rows``; -1 where none.

    Utility = pull - cost_sensitivity x cost / funds, scaled by ``decision.choice_scale``.
    ``u`` holds one uniform number per row (the caller's random stream).
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    p = ctx.params
    funds = np.maximum(ctx.funds[rows], 0.25)[:, None]
    v = p["decision.choice_scale"] * (
        ctx.pull[rows] - p["decision.cost_sensitivity"] * ctx.cost[rows] / funds)
    v = np.where(ctx.allowed[rows], v, -np.inf)
    vmax = v.max(axis=1, keepdims=True)
    ok = np.isfinite(vmax[:, 0])
    w = np.where(ctx.allowed[rows], np.exp(v - np.where(np.isfinite(vmax), vmax, 0.0)), 0.0)
    cw = np.cumsum(w, axis=1)
    tot = cw[:, -1:]
    choice = (cw < u[:, None] * tot).sum(axis=1)
    choice = np.minimum(choice, w.shape[1] - 1)
    return np.where(ok, choice, -1)


_RULES: dict[str, type] = {}


def register(cls: type) -> type:
    """Register a decision rule class under its ``name``; usable as a decorator."""
    _RULES[cls.name] = cls
    return cls


register(AspirationsCapabilities)
register(PlannedBehaviour)


def get_rule(name: str) -> DecisionRule:
    """The rule registered under ``name``."""
    try:
        return _RULES[name]()
    except KeyError:
        raise ValueError(f"decision.rule: unknown rule '{name}'; available: "
                         + ", ".join(sorted(_RULES))) from None


def rule_names() -> list[str]:
    return sorted(_RULES)
