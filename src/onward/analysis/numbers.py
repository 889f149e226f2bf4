"""Counts as onward shows them to people: whole numbers, a half rounded away from zero."""

import math
from decimal import ROUND_HALF_UP, Decimal


def count_text(x: float, spec: str = "") -> str:
    """The count ``x`` as a whole number, a half away from zero, formatted with ``spec``
    (``","`` for thousands, ``"+"`` for a sign); not finite, as ``format`` writes it.

    A median over an even number of replicates is often a half (12.5 persons). Python's
    ``round`` and format's ``.0f`` take a half to the even neighbour, so 12.5 showed as 12
    and 13.5 as 14; every table, report and figure that shows a count of persons or
    households (a median, its interval, a difference) shows it through this one rule.

    >>> count_text(12.5), count_text(13.5), count_text(-12.5, "+"), count_text(1234.5, ",")
    ('13', '14', '-13', '1,235')
    """
    x = float(x)
    if not math.isfinite(x):
        return format(x, spec)
    # Decimal(x) is the float's exact value: 0.49999999999999994 stays below the half
    # (floor(x + 0.5) took it to 1)
    return format(int(Decimal(x).quantize(Decimal(1), rounding=ROUND_HALF_UP)), spec)
