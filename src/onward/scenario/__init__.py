"""The scenario language: YAML files validated by pydantic."""

from onward.scenario.loader import (
    ScenarioError,
    builtin_names,
    load_scenario,
    load_text,
    scenario_hash,
    scenario_to_dict,
    scenario_to_yaml,
)
from onward.scenario.schema import Scenario

__all__ = [
    "Scenario",
    "ScenarioError",
    "builtin_names",
    "load_scenario",
    "load_text",
    "scenario_hash",
    "scenario_to_dict",
    "scenario_to_yaml",
]
