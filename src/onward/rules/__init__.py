"""Behaviour rules that plug into the engine (decision rules)."""

from onward.rules.decision import (
    AspirationsCapabilities,
    DecisionContext,
    DecisionRule,
    PlannedBehaviour,
    choose_destination,
    get_rule,
    register,
    rule_names,
)

__all__ = [
    "AspirationsCapabilities",
    "DecisionContext",
    "DecisionRule",
    "PlannedBehaviour",
    "choose_destination",
    "get_rule",
    "register",
    "rule_names",
]
