"""Attribute distributions from microdata (records of real people), as binned counts only.

A scenario may estimate the distributions of arrivals' attributes from a CSV of survey
responses or administrative records::

    population:
      attributes:
        microdata:
          file: survey.csv          # in the scenario's own folder
          columns: {age: age, funds: savings_months, children: n_children}
          bins: 10                  # per attribute
          min_cell: 10              # bins with fewer records are suppressed
          source: "Survey of ... (2019), weighted n = 412"

The loader calls :func:`histograms` once: it reads the named columns, counts records in
bins on a rounded grid (so no edge is any person's value), sets bins with fewer than
``min_cell`` records to zero, trims empty bins at either end, and returns one
``kind: histogram`` distribution per attribute. The records are dropped there: the
scenario, the engine, the store and the report only ever see the counts. Agents draw a bin
by its count and a value uniformly inside it, so no agent carries a person's exact value.
Attributes are drawn independently (marginals), so no combination of one person's answers
is reproduced either.

Examples
--------
>>> import numpy as np
>>> nice_width(7.3)
10.0
>>> edges, counts = binned(np.arange(100.0), bins=10, integers=False, min_cell=5)
>>> edges[:3], counts[:3]
([0.0, 10.0, 20.0], [10, 10, 10])
"""

from __future__ import annotations

import math
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from onward.scenario.schema import MICRODATA_ATTRIBUTES, Microdata

#: largest microdata file read (bytes)
MAX_BYTES = 200_000_000


class MicrodataError(ValueError):
    """A problem with the microdata a scenario names; ``field`` is below ``microdata``."""

    def __init__(self, field: tuple[str, ...], problem: str, fix: str) -> None:
        self.field, self.problem, self.fix = field, problem, fix
        super().__init__(f"{problem}. Fix: {fix}")


def safe_path(folder: Path, name: str) -> Path:
    """``folder / name``, refusing anything that leaves ``folder`` (``..``, absolute, links)."""
    fix = ("put the CSV in the scenario's folder (or a subfolder) and give its path relative "
           "to the scenario, e.g. file: survey.csv")
    if "\x00" in name or not name.strip():
        raise MicrodataError(("file",), "not a file name", fix)
    pure = PurePath(name)
    if pure.is_absolute() or name.startswith(("~", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise MicrodataError(("file",), f"{name!r} is an absolute path; microdata is only "
                             "read from the scenario's own folder", fix)
    if ".." in pure.parts or ".." in name.replace("\\", "/").split("/"):
        raise MicrodataError(("file",), f"{name!r} leaves the scenario's folder ('..')", fix)
    root = folder.resolve()
    path = (root / pure).resolve()
    if not path.is_relative_to(root):
        raise MicrodataError(("file",), f"{name!r} leads outside the scenario's folder "
                             "(through a link)", fix)
    if path.suffix.lower() != ".csv":
        raise MicrodataError(("file",), f"{name!r} is not a .csv file",
                             "export the records as CSV with one header row")
    try:
        if not path.is_file():
            raise MicrodataError(("file",), f"no file {name!r} in {root}", fix)
        size = path.stat().st_size
    except OSError as exc:
        raise MicrodataError(("file",), f"cannot read {name!r} ({exc.strerror})",
                             "check the file and its permissions") from None
    if size > MAX_BYTES:
        raise MicrodataError(("file",), f"{name!r} is {size} bytes (limit {MAX_BYTES})",
                             "keep only the columns the scenario maps")
    return path


def nice_width(raw: float) -> float:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten that is >= ``raw``."""
    if not raw > 0:
        return 1.0
    p = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if m * p >= raw * (1 - 1e-12):
            return float(_round(m * p))
    return float(_round(10 * p))


def _round(x: float) -> float:
    return float(f"{x:.12g}")


def binned(x: np.ndarray, bins: int, integers: bool, min_cell: int
           ) -> tuple[list[float], list[int]]:
    """Edges and counts of ``x`` on a rounded grid, small bins zeroed, empty ends trimmed.

    The grid spans the 2nd to 98th percentile (rounded outwards); records beyond it count
    in the end bins, so an outlier neither stretches the bins nor shows its value.
    """
    lo, hi = (float(v) for v in (np.quantile(x, [0.02, 0.98]) if x.size >= 50
                                 else (x.min(), x.max())))
    if integers:
        width = float(max(1, math.ceil((hi - lo + 1) / bins)))
        start = math.floor(lo / width) * width - 0.5
    else:
        width = nice_width((hi - lo) / bins) if hi > lo else nice_width(abs(lo) or 1.0)
        start = math.floor(lo / width) * width
    n_bins = max(1, math.floor((hi - start) / width) + 1)
    idx = np.clip(np.floor((x - start) / width).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    counts[counts < min_cell] = 0
    nz = np.flatnonzero(counts)
    if nz.size == 0:
        return [], []
    first, last = int(nz[0]), int(nz[-1])
    edges = [_round(start + width * i) for i in range(first, last + 2)]
    return edges, [int(c) for c in counts[first:last + 1]]


def histograms(folder: Path, spec: Microdata) -> dict[str, dict[str, Any]]:
    """Read ``spec.file`` below ``folder``; return ``{attribute: histogram distribution}``."""
    import pandas as pd

    path = safe_path(folder, spec.file)
    wanted = sorted(set(spec.columns.values()))
    try:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns.tolist()
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise MicrodataError(("file",), f"{spec.file!r} cannot be read as CSV "
                             f"({type(exc).__name__})",
                             "save it as UTF-8 CSV with one header row") from None
    for attr, col in spec.columns.items():
        if col not in header:
            shown = ", ".join(map(str, header[:20])) + (" ..." if len(header) > 20 else "")
            raise MicrodataError(("columns", attr), f"no column {col!r} in {spec.file!r}",
                                 f"use one of its columns: {shown or 'none'}")
    try:
        frame = pd.read_csv(path, usecols=wanted, dtype=str, encoding="utf-8-sig",
                            keep_default_na=False)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError, OSError) as exc:
        raise MicrodataError(("file",), f"{spec.file!r} cannot be read as CSV "
                             f"({type(exc).__name__})",
                             "save it as UTF-8 CSV with one header row") from None
    out: dict[str, dict[str, Any]] = {}
    for attr, col in spec.columns.items():
        x = pd.to_numeric(frame[col].str.strip(), errors="coerce").to_numpy(np.float64)
        x = x[np.isfinite(x)]  # blanks, codes such as 'refused', inf: missing answers
        if x.size < spec.min_cell:
            raise MicrodataError(("columns", attr), f"column {col!r} has {x.size} numeric "
                                 f"records, fewer than min_cell {spec.min_cell}",
                                 "use a larger sample, or give the distribution itself")
        integers = MICRODATA_ATTRIBUTES[attr] or bool(np.all(x == np.round(x))
                                                      and x.max() - x.min() < 1000)
        edges, counts = binned(x, spec.bins, integers, spec.min_cell)
        if not counts:
            raise MicrodataError(("min_cell",), f"every bin of column {col!r} has fewer than "
                                 f"{spec.min_cell} records", "use fewer bins or more records")
        kept = int(sum(counts))
        out[attr] = {
            "kind": "histogram", "edges": edges, "weights": [float(c) for c in counts],
            "source": f"{spec.source}; binned from {PurePath(spec.file).name} column {col} "
                      f"({len(counts)} bins, {kept} records; bins with fewer than "
                      f"{spec.min_cell} records suppressed)",
        }
        del x
    del frame
    return out
