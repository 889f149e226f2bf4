"""Flee 3.1 scenario folders on onward's movement kernel.

Read a Flee folder (``input_csv/``, ``source_data/``, ``simsetting.yml``) strictly, run it
with Flee 3.1's rules vectorised over agents, and score it against the UNHCR camp series as
Flee does (ARD, rescaled ARD, MASE).

>>> from onward.flee import read_flee_folder, simulate_flee, flee_metrics  # doctest: +SKIP
>>> run = simulate_flee(read_flee_folder("mali2012"), seed=1)             # doctest: +SKIP
>>> flee_metrics(run.table)["ard_rescaled"]                               # doctest: +SKIP
"""

from onward.flee.errors import FleeError
from onward.flee.figure import flee_validation_figure
from onward.flee.metrics import flee_metrics
from onward.flee.reader import FleeCase, is_flee_folder, read_flee_folder
from onward.flee.sim import FleeRun, simulate_flee, spawn_schedule

__all__ = [
    "FleeCase",
    "FleeError",
    "FleeRun",
    "flee_metrics",
    "flee_validation_figure",
    "is_flee_folder",
    "read_flee_folder",
    "simulate_flee",
    "spawn_schedule",
]
