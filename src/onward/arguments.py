"""How the Python API reads its arguments, in one place: the forms each kind of argument
takes, read the same way by every function that takes it.

Examples
--------
>>> from onward.arguments import years_arg, years_label
>>> years_arg((2010, 2015))  # a pair is a span, both ends included
[2010, 2011, 2012, 2013, 2014, 2015]
>>> years_label(years_arg([2015, 2010]))
'2010,2015'
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import Any


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (``budget="100"``). A TypeError, and a ValueError too,
    so that code catching the ValueError these checks raised before still catches it."""


#: what each kind of argument takes, as the TypeError says it
_TAKES = {"whole": "a whole number (an int)", "number": "a number (an int or a float)",
          "text": "text (a str)", "mapping": "a dict"}
_IS = {"whole": lambda v: _is_int(v),
       "number": lambda v: isinstance(v, numbers.Real) and not isinstance(v, bool),
       "text": lambda v: isinstance(v, str),
       "mapping": lambda v: isinstance(v, Mapping)}


def check_type(value: Any, keyword: str, kind: str, optional: bool = False,
               example: str = "") -> None:
    """Refuse ``value`` unless it is of ``kind`` (``whole``, ``number``, ``text`` or
    ``mapping``; None passes when ``optional``), with an :class:`ArgumentTypeError` that
    names the keyword and what it takes (``budget='100': budget takes a whole number (an
    int), not str``) instead of Python's ``'<' not supported between 'str' and 'int'``."""
    if (value is None and optional) or _IS[kind](value):
        return
    raise ArgumentTypeError(f"{keyword}={value!r}: {keyword} takes {_TAKES[kind]}"
                            f"{' or None' if optional else ''}, not "
                            f"{type(value).__name__}{'. Fix: ' + example if example else ''}")

#: the forms a ``years`` argument takes (see :func:`years_arg`)
Years = int | str | tuple[int, int] | Iterable[int]

#: what a ``years`` argument takes, for its docstrings and its TypeError
YEARS_FORMS = ("a year (2010), a pair (2000, 2012) for the span from the first to the last "
               "inclusive, a string '2000-2012' (the same span), or a list, range or set of "
               "years (those years only)")


def years_arg(value: Any, keyword: str = "years") -> list[int] | None:
    """The sorted years that a ``years`` argument names (None for None).

    An int is that year; a 2-tuple ``(a, b)`` the span ``a..b`` inclusive (as
    :func:`onward.viz.compare_scenarios` reads it); a string ``"2000-2012"`` that span (or
    ``"2010"`` that year); any other iterable of ints (a list, range, set) exactly its years.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ArgumentTypeError(f"{keyword}={value!r}: {keyword} takes {YEARS_FORMS}")
    if isinstance(value, int):
        return [int(value)]
    if isinstance(value, str):
        from onward.scenario.schema import FieldError, _years

        try:
            return _years(value)
        except FieldError as exc:
            raise ValueError(f"{keyword}={value!r}: {exc.problem}. Fix: {exc.fix}") from None
    if isinstance(value, tuple) and len(value) == 2 and all(_is_int(v) for v in value):
        a, b = int(value[0]), int(value[1])
        if a > b:
            raise ValueError(f"{keyword}={value!r}: the span runs backwards. Fix: write the "
                             f"earlier year first, ({b}, {a})")
        return list(range(a, b + 1))
    if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        items = list(value)
        if all(_is_int(v) for v in items):
            return sorted({int(v) for v in items})
    raise ArgumentTypeError(f"{keyword}={value!r}: {keyword} takes {YEARS_FORMS}")


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def years_label(years: Iterable[int]) -> str:
    """The exact years: ``2000-2012`` for a run of consecutive years, ``2010`` for one,
    else the years joined by commas (``2010,2015``: never a span that was not used)."""
    ys = sorted(years)
    if len(ys) > 1 and ys == list(range(ys[0], ys[-1] + 1)):
        return f"{ys[0]}-{ys[-1]}"
    return ",".join(str(y) for y in ys)


def label_years(label: str) -> list[int]:
    """The years a :func:`years_label` names (``"2000-2004"``, ``"2010,2015"``); [] for a
    label that names none."""
    out: list[int] = []
    try:
        for part in str(label).split(","):
            if part.strip():
                out += years_arg(part.strip()) or []
    except (TypeError, ValueError):
        return []
    return sorted(set(out))


def names_arg(value: Any, keyword: str) -> list[str] | None:
    """A list of names (outputs, destinations) from a list, tuple or set of strings, or
    from one string (``outputs="applications"`` is ``["applications"]``, not its letters);
    None for None."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not isinstance(value, bytes | dict):
        items = list(value)
        if all(isinstance(v, str) for v in items):
            return items
    raise ArgumentTypeError(f"{keyword}={value!r}: {keyword} takes a name or a list of names "
                    f"(strings), not {type(value).__name__}")


def posterior_arg(value: Any, keyword: str = "posterior") -> str | None:
    """The name of a calibration, given by name or as the
    :class:`~onward.calibration.abc.Posterior` that :func:`onward.load_posterior` or
    :func:`onward.calibrate` returned (its name: its draws are read from the store)."""
    from onward.calibration.abc import Posterior

    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Posterior):
        return value.name
    raise ArgumentTypeError(f"{keyword}={_short(value)}: {keyword} takes a calibration's name "
                            "(a str, as given to onward.calibrate) or the Posterior "
                            f"onward.load_posterior returns, not {type(value).__name__}")


def scenario_arg(value: Any, keyword: str = "scenario") -> None:
    """Refuse what is neither a scenario's name, a path nor a
    :class:`~onward.scenario.Scenario` (a DataFrame was looked for as a file named by its
    printout)."""
    from pathlib import Path

    from onward.scenario.schema import Scenario

    if isinstance(value, str | Path | Scenario):
        return
    raise ArgumentTypeError(f"{keyword}={_short(value)}: {keyword} takes a built-in scenario's "
                            "name (such as 'toy'), a path to a scenario's YAML file, or a "
                            f"Scenario (onward.load_scenario), not {type(value).__name__}")


def _short(value: Any) -> str:
    """``value``'s repr where it is short and on one line, else ``<TypeName>`` (a
    DataFrame's printout runs to many lines)."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"<{type(value).__name__}>"
