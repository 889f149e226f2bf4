"""How a message names an option: as the command line spells it (``--workers 0``) when a
command of the command line is running, as the Python keyword (``workers=0``) otherwise.

The checks of :mod:`onward.calibration`, :mod:`onward.experiments` and
:mod:`onward.workers` serve both; a notebook user told ``--workers must be at least 1``
would look for a flag that their call does not have.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_COMMAND_LINE: ContextVar[bool] = ContextVar("onward_command_line", default=False)
_NO_VALUE = object()


def option(keyword: str, value: object = _NO_VALUE, *, flag: str | None = None,
           placeholder: bool = False) -> str:
    """The option ``keyword`` (the Python keyword), with ``value`` if given, as the running
    interface spells it: ``--keyword-name VALUE`` (or ``flag``, where the command line names
    it otherwise) or ``keyword_name=VALUE`` (the value's repr, unless it is a
    ``placeholder`` such as ``YEAR``)."""
    if _COMMAND_LINE.get():
        name = flag or "--" + keyword.replace("_", "-")
        # a flag set (True) is the flag alone: --resume
        return name if value is _NO_VALUE or value is True else f"{name} {value}"
    if value is _NO_VALUE:
        return keyword
    return f"{keyword}={value if placeholder else repr(value)}"


def command(cli: str, python: str) -> str:
    """A whole command as the running interface spells it: ``cli`` in backticks
    (`` `onward calibrate SCENARIO --name fit` ``) under the command line, else the Python
    call ``python`` (``onward.calibrate(SCENARIO, name='fit')``)."""
    return f"`{cli}`" if _COMMAND_LINE.get() else python


def calibrate_command(name: str, resume: bool = False) -> str:
    """How to (re)start calibration ``name``, as the running interface spells it."""
    import shlex

    if resume:
        return command(f"onward calibrate SCENARIO --name {shlex.quote(name)} --resume",
                       f"onward.calibrate(SCENARIO, name={name!r}, resume=True)")
    return command(f"onward calibrate SCENARIO --name {shlex.quote(name)}",
                   f"onward.calibrate(SCENARIO, name={name!r})")


def runs_command(kind: str | None = None) -> str:
    """How to list the stored runs (of one ``kind``), as the running interface spells it."""
    if kind:
        return command(f"onward runs --kind {kind}",
                       f"onward.store.Store().list_runs().query(\"kind == '{kind}'\")")
    return command("onward runs", "onward.store.Store().list_runs()")


def scenario_show_command(name: str = "nk-onward") -> str:
    """How to print scenario ``name`` whole, as YAML, as the running interface spells it."""
    return command(f"onward scenario show {name}",
                   f"print(onward.scenario.scenario_to_yaml(onward.load_scenario({name!r})))")


def parameters_command() -> str:
    """How to list every parameter a scenario sets, as the running interface spells it."""
    return command("onward validate --list", "onward.scenario.parameters.all_specs()")


@contextmanager
def command_line() -> Iterator[None]:
    """Name options as the command line does while the block runs."""
    token = _COMMAND_LINE.set(True)
    try:
        yield
    finally:
        _COMMAND_LINE.reset(token)
