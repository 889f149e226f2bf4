"""UNHCR series of a Flee folder (``source_data/``) read the way Flee 3.1 reads them.

A series is a table of (day offset from StartDate, value / hasten). :func:`field` is Flee's
``get_field``: linear interpolation truncated to an integer, the first value before the
first date and the last value after the last date.

>>> s = Series("x", np.array([0.0, 10.0]), np.array([0.0, 25.0]))
>>> field(s, np.arange(0, 12, 3)).tolist()
[0, 7, 15, 22]
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import numpy as np

from onward.flee.errors import Problems, read_text, semicolons


@dataclass
class Series:
    """One camp (or total) series: ``days`` (offsets, float) and ``values`` (float)."""

    name: str
    days: np.ndarray
    values: np.ndarray


def parse_date(text: str) -> date:
    """A date as Flee 3.1 reads it (``%Y-%m-%d``)."""
    return datetime.strptime(text, "%Y-%m-%d").date()


def read_series_file(path: Path, start: date, hasten: int, pr: Problems,
                     rel: str) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``date,value``; header and comment rules as in Flee 3.1 (see FLEE.md)."""
    days: list[float] = []
    vals: list[float] = []
    try:
        text = read_text(path, rel)
    except FileNotFoundError:
        pr.error(f"{rel}:1", "file", "does not exist", "add the file or fix data_layout.csv")
        return np.zeros(0), np.zeros(0)
    rows = list(csv.reader(text.splitlines()))
    errors = len(pr.errors)
    columns = 2  # a header row may name more (Date,refugees,capacity): Flee reads row[1]
    for i, row in enumerate(rows):
        line = i + 1
        if row and not row[0].startswith("#") and semicolons(row, f"{rel}:{line}", pr):
            continue
        if i == 0 and (len(row) <= 1 or not row[0] or row[0] in ("Date", "DateTime")):
            columns = max(columns, len([f for f in row if f.strip()]))
            continue
        if len(row) < 2:
            continue
        if not row[0]:
            pr.error(f"{rel}:{line}", "date", "is empty (Flee 3.1 crashes on it)",
                     "write a date as YYYY-MM-DD or start the line with #")
            continue
        if row[0][0] == "#" or row[1] == "":
            continue
        try:
            d = parse_date(row[0])
        except ValueError:
            pr.error(f"{rel}:{line}", "date", f"{row[0]!r} is not a date YYYY-MM-DD",
                     "write the date as YYYY-MM-DD")
            continue
        number = ",".join(f.strip() for f in row[1:]).rstrip(",")
        filled = len(row) - next((k for k, f in enumerate(reversed(row)) if f.strip()),
                                 len(row))
        if filled > columns and re.fullmatch(r"\d{1,3}(,\d{3})+", number):
            # Flee 3.1 reads row[1] only: 25,281 would be read as 25
            pr.error(f"{rel}:{line}", "value", f"{number} is a number written with a "
                     f"thousands comma, which splits in two (Flee 3.1 would read "
                     f"{int(row[1])})", f"write it without the comma "
                     f"({number.replace(',', '')}, not {number})")
            continue
        try:
            v = int(row[1])
        except ValueError:
            pr.error(f"{rel}:{line}", "value", f"{row[1]!r} is not a whole number (Flee 3.1 "
                     "reads counts with int())", "write a whole number of people")
            continue
        if v < 0:
            pr.error(f"{rel}:{line}", "value", f"{v} is a negative count of people",
                     "write a count >= 0")
            continue
        if days and (d - start).days < days[-1]:
            pr.error(f"{rel}:{line}", "date", f"{row[0]} is earlier than the row before "
                     "(Flee 3.1 would interpolate wrongly)", "sort the rows by date")
            continue
        days.append(float((d - start).days))
        vals.append(v / float(hasten))
    if not days and len(pr.errors) == errors:  # (rows refused above are named already)
        pr.error(f"{rel}:1", "rows", "no data rows", "add rows of date,value")
    return np.asarray(days, dtype=np.float64), np.asarray(vals, dtype=np.float64)


def merge_tables(d1: np.ndarray, v1: np.ndarray, d2: np.ndarray, v2: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """Flee 3.1's ``AddCSVTables`` for a data_layout row with several files.

    Not an interpolated sum: walking through the second table, first-table points before
    each second-table point are carried with the last second-table value added; a
    second-table point between two first-table dates is added to the next first-table
    value; second-table points after the first table's last date reuse the last
    first-table point. Returns None where Flee 3.1 itself would fail.
    """
    if len(d1) == 0 or len(d2) == 0:
        return None
    out_d: list[float] = []
    out_v: list[float] = []
    k = 0
    last2 = 0.0
    n1 = len(d1)
    for day2, val2 in zip(d2, v2, strict=True):
        while day2 > d1[k]:
            out_d.append(d1[k])
            out_v.append(last2 + v1[k])
            if k < n1 - 1:
                k += 1
            else:
                break
        if day2 == d1[k]:
            out_d.append(day2)
            out_v.append(val2 + v1[k])
            if k < n1 - 1:
                k += 1
            last2 = val2
            continue
        if day2 < d1[k]:
            out_d.append(day2)
            out_v.append(val2 + v1[k])
            last2 = val2
            continue
    return np.asarray(out_d, dtype=np.float64), np.asarray(out_v, dtype=np.float64)


def correct_registrations(s: Series, day: int) -> bool:
    """Flee 3.1's level-1 registration correction: for a data point at index i > 0 on
    ``day``, scale every earlier point by value[i] / value[i-1]. False when no point
    with i > 0 lies on that day (Flee 3.1 crashes then)."""
    done = False
    for i in range(len(s.days)):
        if int(s.days[i]) == int(day) and i > 0:
            s.values[:i] *= s.values[i] / s.values[i - 1]
            done = True
    return done


def field(s: Series, days: np.ndarray) -> np.ndarray:
    """Flee's ``get_field`` for many days at once (int64)."""
    t = np.asarray(days, dtype=np.float64)
    out = np.empty(t.shape, dtype=np.float64)
    first = t <= s.days[0]
    out[first] = s.values[0]
    # first index whose date is after t
    i = np.searchsorted(s.days, t, side="right")
    after = ~first & (i >= len(s.days))
    out[after] = s.values[-1]
    mid = ~first & ~after
    im = i[mid]
    old_d = s.days[im - 1]
    old_v = s.values[im - 1]
    frac = (t[mid] - old_d) / (s.days[im] - old_d)
    out[mid] = old_v + frac * (s.values[im] - old_v)
    return np.trunc(out).astype(np.int64)
