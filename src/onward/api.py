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
    """Run one simulation, as :func:`simulate` does, and store it; return ``(run_id,
    result)``.

    The run's tables (and its scenario, seed and overrides) are written to the results
    store as a new run: ``store`` (a DuckDB file), else the ``ONWARD_STORE`` environment
    variable, else ``./onward.duckdb`` in the current folder.

    Parameters
    ----------
    scenario : name of a built-in scenario, path to a YAML file, or a loaded Scenario
    seed : overrides the scenario's seed
    store : the results store to write to (created if missing)
    overrides : ``{"destinations.GBR.detection": 0.5, ...}`` parameter values to use

    Returns
    -------
    run_id : str
        The stored run's id (``"run-0001"``): pass it to :func:`onward.report.report`, or
        read its tables back with ``onward.store.Store(store).read_table(table, run_id)``.
    result : SimulationResult
        The run in memory, as :func:`simulate` returns it.

    Examples
    --------
    >>> run_id, res = onward.run("toy", seed=3)  # doctest: +SKIP
    >>> res.applications.head()  # doctest: +SKIP
    """
    from onward.analysis.runs import run_and_store

    return run_and_store(_scenario(scenario), seed=seed, store=store, overrides=overrides)
