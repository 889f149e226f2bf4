"""Results store of :mod:`onward`: one embedded DuckDB file of tidy tables keyed by run_id.

See :mod:`onward.store.duck` for the design rules (single writer, short-lived
connections, atomic runs).

Examples
--------
>>> from onward.store import Store
>>> store = Store("results.duckdb")  # doctest: +SKIP
>>> store.list_runs()  # doctest: +SKIP
"""

from onward.store.duck import (
    ENV_VAR,
    RUNS_TABLE,
    Store,
    StoreBusyError,
    StoreBusyWarning,
    StoreError,
    UnknownRunError,
    default_store_path,
    experiment_table,
    is_job_kind,
    output_name,
)

__all__ = [
    "ENV_VAR",
    "RUNS_TABLE",
    "Store",
    "StoreBusyError",
    "StoreBusyWarning",
    "StoreError",
    "UnknownRunError",
    "default_store_path",
    "experiment_table",
    "is_job_kind",
    "output_name",
]
