"""Self-contained HTML reports of runs and experiments (figures embedded; opens offline).

A report is a list of :class:`Section` objects rendered by :func:`build_html`; each kind
of run contributes its own sections (:func:`run_sections`, :func:`experiment_sections`),
so a new kind of run adds a function returning sections (:func:`register_sections`), not
a new report format.

Examples
--------
>>> from onward.report import report
>>> report("run-0001")  # doctest: +SKIP
PosixPath('reports/run-0001.html')
>>> report("ensemble-3f2a9c1b7d10", out="ens.html")  # doctest: +SKIP
PosixPath('ens.html')
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from onward.report import flee as _flee  # noqa: F401  (registers the "flee" sections)
from onward.report.experiment import (
    EXPERIMENT_KINDS,
    experiment_sections,
    write_experiment_report,
)
from onward.report.html import (
    Section,
    build_html,
    figure,
    key_values,
    paragraph,
    preformatted,
    table,
    write_html,
)
from onward.report.run import register_sections, run_sections, write_run_report

_EXPERIMENT_ID = re.compile(rf"^({'|'.join(EXPERIMENT_KINDS)})-[0-9a-f]{{6,}}$")


def resolve_target(target: str, st: Any) -> tuple[str, bool]:
    """``(id, is_experiment)`` of what ``target`` names: an experiment id (``ensemble-...``),
    the experiment of a summary or job run id, or a run (``run-0001``, ``latest``, ``3``)."""
    if _EXPERIMENT_ID.match(target.strip()):
        return target.strip(), True
    meta = st.get_run(target)
    if meta.get("experiment_id"):
        return str(meta["experiment_id"]), True
    return str(meta["run_id"]), False


def _target(target: Any) -> str:
    """A run or experiment id, from the id, a run's number (``3``) or an experiment's result
    (its ``experiment_id``); anything else is refused (``report(res)`` failed as
    ``'SimulationResult' object has no attribute 'strip'``)."""
    if isinstance(target, str):
        return target
    if isinstance(target, int) and not isinstance(target, bool):
        return str(target)
    exp = getattr(target, "experiment_id", None)
    if isinstance(exp, str):
        return exp
    from onward.arguments import ArgumentTypeError, _short

    hint = (" Fix: onward.run returns (run_id, result); pass its run_id"
            if type(target).__name__ == "SimulationResult" else "")
    raise ArgumentTypeError(
        f"target={_short(target)}: report takes a stored run's id ('run-0001', 'latest' or "
        "its number, 3), an experiment's id, or the result of onward.ensemble, compare, "
        f"sensitivity or destinations, not {type(target).__name__}.{hint}")


def report(target: str | int | Any, store: Any = None, out: str | Path | None = None) -> Path:
    """Write the report of a stored run (``run-0001``, ``latest``, ``3``) or experiment
    (``ensemble-...``, ``compare-...``, or the result that onward.ensemble, compare,
    sensitivity or destinations returned; a job's run id reports its whole experiment);
    return the path: ``out``, or ``out/<id>.html`` where ``out`` is an existing folder
    (default ``reports/<id>.html`` under the current directory)."""
    from onward.store import Store, UnknownRunError

    target = _target(target)
    st = store if isinstance(store, Store) else Store(store)
    try:
        ident, is_experiment = resolve_target(target, st)
    except UnknownRunError:
        from onward.calibration.abc import stored_generations

        if not stored_generations(st, target.strip()).empty:
            raise _not_a_run(f"'{target}' is a calibration", target.strip()) from None
        raise
    if is_experiment:
        return write_experiment_report(ident, st, out)
    meta = st.get_run(ident)
    if meta.get("kind") == "calibration" and meta.get("calibration"):
        # a generation's run holds its particles only: the run report had nothing to show
        raise _not_a_run(f"'{ident}' is a generation of calibration "
                         f"'{meta['calibration']}'", str(meta["calibration"]))
    return write_run_report(ident, st, out)


def _not_a_run(what: str, name: str) -> Exception:
    """Where the figures of calibration ``name`` come from, and a run with its posterior."""
    from onward.options import command
    from onward.store import UnknownRunError

    figures = command(f"onward score {name} --figures DIR",
                      "onward.calibration.plots.write_calibration_figures("
                      f"{name!r}, STORE, DIR)")
    posterior = command(f"onward run SCENARIO --posterior {name}",
                        "onward.run(SCENARIO, overrides=onward.load_posterior("
                        f"{name!r}, STORE).mean())")
    return UnknownRunError(f"{what}, not a run: its figures come with {figures}, and a run "
                           f"to report, with its posterior mean, with {posterior}")


__all__ = ["Section", "build_html", "experiment_sections", "figure", "key_values",
           "paragraph", "preformatted", "register_sections", "report", "resolve_target",
           "run_sections",
           "table", "write_html",
           "write_experiment_report", "write_run_report"]
