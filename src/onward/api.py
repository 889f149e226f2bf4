"""The Python API: run a scenario in one call, in a script or a notebook.

Examples
--------
>>> import onward
>>> res = onward.simulate("nk-onward", seed=3)  # doctest: +SKIP
>>> res.applications.query("destination == 'GBR'").head()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from onward.engine.compile import compile_scenario
from onward.engine.model import SimulationResult, simulate_compiled
from onward.scenario import Scenario, load_scenario


def _scenario(scenario: str | Path | Scenario) -> Scenario:
    return load_scenario(scenario)


def simulate(scenario: str | Path | Scenario = "nk-onward", seed: int | None = None,
             overrides: dict[str, float] | None = None,
             progress: Callable[[int, int], None] | None = None,
             until: int | None = None) -> SimulationResult:
    """Run one simulation in memory (nothing is written).

    Parameters
    ----------
    scenario : name of a built-in scenario, path to a YAML file, or a loaded Scenario
    seed : overrides the scenario's seed
    overrides : ``{"destinations.GBR.detection": 0.5, ...}`` parameter values to use
    progress : called as ``progress(months_done, months_total)``
    until : stop at the end of this year
    """
    sc = _scenario(scenario)
    c = compile_scenario(sc, overrides=overrides, seed=seed, until=until)
    return simulate_compiled(c, progress=progress, generator=sc.network.generator)


def run(scenario: str | Path | Scenario = "nk-onward", seed: int | None = None,
        store: str | Path | None = None, overrides: dict[str, float] | None = None):
    """Run a scenario and write its tables to the store; returns ``(run_id, result)``."""
    from onward.analysis.runs import run_and_store

    return run_and_store(_scenario(scenario), seed=seed, store=store, overrides=overrides)
