"""Tidy series built from the packaged tables.

Every function returns a new :class:`pandas.DataFrame` with plain columns (no index
levels), sorted by its key columns. Functions returning *target* data (the quantities a
model is scored against: :func:`first_claims`, :func:`uk_grant_rates`,
:func:`refugee_stocks`, :func:`uk_quarterly_applications`) take ``years=None`` meaning
all years held in the package; the packaged target tables stop at 2015 (later years are
held out, see ``PROVENANCE.md``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from onward.data.catalog import UnknownTableError, load

__all__ = [
    "MASK_VALUE",
    "arrivals",
    "first_claims",
    "initial_population",
    "policy_events",
    "refugee_stocks",
    "residence_unknown",
    "uk_grant_rates",
    "uk_quarterly_applications",
]

MASK_VALUE = 5
"""UNHCR prints this value for any count from 1 to 5."""

_CUMULATIVE_PERIOD = "cumulative_through_1998"
_AGGREGATE_PERIOD = "1999-2001"
_ANNUAL_PERIOD = "annual"
_NEW_CLAIM_CODES = ("N", "V")
#: app_type codes that mix new claims with another stage (new+appeal, new+repeat): a row
#: of these holds from 0 to all of its count as first claims
_MIXED_CLAIM_CODES = ("NA", "NR")
_ISO3 = re.compile(r"^[A-Z]{3}$")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


# --------------------------------------------------------------------------- helpers


def _year_filter(df: pd.DataFrame, years: Iterable[int] | None) -> pd.DataFrame:
    if years is None:
        return df
    if isinstance(years, (str, bytes)):
        raise TypeError(f"years must be an iterable of integers, not {type(years).__name__}")
    wanted = {int(y) for y in years}
    return df[df["year"].isin(wanted)]


def _check_destinations(destinations: Sequence[str] | None, other_code: str) -> list[str] | None:
    if destinations is None:
        return None
    if isinstance(destinations, str):
        raise TypeError(
            f"destinations must be a list of ISO3 codes, not a string; "
            f"did you mean [{destinations!r}]?"
        )
    out: list[str] = []
    for code in destinations:
        if not isinstance(code, str) or not (_ISO3.match(code) or code == other_code):
            raise ValueError(
                f"destination {code!r} is not an upper-case ISO3 code "
                f"(or the other_code {other_code!r})"
            )
        if code not in out:
            out.append(code)
    return out


def _by_destination(
    cells: pd.DataFrame,
    destinations: Sequence[str] | None,
    other_excludes: Iterable[str],
    other_code: str,
    sum_cols: Sequence[str],
    any_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """Select named destinations and add an ``other_code`` row per year.

    ``cells`` has one row per (year, destination). The ``other_code`` row of a year sums
    ``sum_cols`` (and or-s ``any_cols``) over the year's cells whose destination is
    neither named nor in ``other_excludes``; a year with no such cell gets no row.
    """
    dests = _check_destinations(destinations, other_code)
    if dests is None:
        return cells
    named = [d for d in dests if d != other_code]
    parts = [cells[cells["destination"].isin(named)]]
    if other_code in dests:
        excluded = set(named) | set(other_excludes)
        rest = cells[~cells["destination"].isin(excluded)]
        agg: dict[str, Any] = {c: "sum" for c in sum_cols}
        agg.update({c: "any" for c in any_cols})
        other = rest.groupby("year", as_index=False).agg(agg)
        other.insert(1, "destination", other_code)
        parts.append(other)
    return pd.concat([p for p in parts if len(p)] or parts[:1], ignore_index=True)


def _finish(df: pd.DataFrame, keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    return df.loc[:, list(columns)].sort_values(list(keys), kind="stable").reset_index(drop=True)


def _parse_partial_date(text: str, where: str) -> tuple[int, int | None, int | None, str]:
    match = _PARTIAL_DATE.match(str(text).strip())
    if match is None:
        raise ValueError(f"{where}: cannot parse date {text!r} (want YYYY, YYYY-MM or YYYY-MM-DD)")
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:
        pd.Timestamp(year=year, month=month or 1, day=day or 1)
    except ValueError as exc:
        raise ValueError(f"{where}: invalid date {text!r}: {exc}") from None
    precision = "day" if day is not None else "month" if month is not None else "year"
    return year, month, day, precision


# --------------------------------------------------------------------------- MOU arrivals


def _mou_row(period: str) -> pd.Series:
    mou = load("mou_arrivals")
    rows = mou[mou["period"] == period]
    if len(rows) != 1:
        raise ValueError(f"mou_arrivals: expected exactly one {period!r} row, found {len(rows)}")
    return rows.iloc[0]


def initial_population() -> dict[str, int]:
    """Return the stock of arrivals in South Korea up to and including 1998.

    Read from the ``cumulative_through_1998`` row of ``mou_arrivals``: all arrivals up
    to 1998, not 1998 alone.

    Returns
    -------
    dict
        Keys ``total``, ``male``, ``female`` and ``through_year`` (all ``int``).

    Examples
    --------
    >>> initial_population()
    {'total': 947, 'male': 831, 'female': 116, 'through_year': 1998}
    """
    row = _mou_row(_CUMULATIVE_PERIOD)
    out = {
        "total": int(row["arrivals"]),
        "male": int(row["male"]),
        "female": int(row["female"]),
        "through_year": int(row["year"]),
    }
    if out["male"] + out["female"] != out["total"]:
        raise ValueError(f"mou_arrivals: {_CUMULATIVE_PERIOD} male + female != total: {out}")
    return out


def _apportion(totals: np.ndarray, share: float, target: int) -> np.ndarray:
    """Split ``totals`` by ``share`` into integers summing to ``target`` (largest remainder)."""
    exact = totals * share
    base = np.floor(exact).astype(np.int64)
    short = int(target - base.sum())
    if not 0 <= short <= len(totals):
        raise ValueError(f"cannot apportion {target} over {totals.tolist()} at share {share}")
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:short]] += 1
    return base


def arrivals() -> pd.DataFrame:
    """Annual arrivals of North Koreans in South Korea after the initial stock.

    Uses only the ``annual`` rows for years after the ``cumulative_through_1998`` row
    (so 1999 onwards; 1998 is already inside the cumulative 947). The ``1999-2001``
    aggregate row is not added, being the sum of the annual rows; it is used only to
    split 1999-2001 by sex, which the annual rows lack: each year's female count is its
    total times the aggregate's female share (478 / 1,043), rounded by largest remainder
    so that the three years sum to the aggregate's 478, and male = arrivals - female.

    Returns
    -------
    pandas.DataFrame
        Columns ``year``, ``arrivals``, ``male``, ``female`` (int) and ``female_share``
        (float, female / arrivals), one row per year, sorted by year.

    Raises
    ------
    ValueError
        If the packaged table is internally inconsistent (the annual 1999-2001 rows do not
        sum to the aggregate row, or a year lacks a sex split that cannot be imputed).

    Examples
    --------
    >>> df = arrivals()
    >>> int(df["year"].min()), int(df["year"].max())
    (1999, 2025)
    >>> df.loc[df["year"] == 2007, ["arrivals", "male", "female"]].values.tolist()
    [[2554, 573, 1981]]
    """
    mou = load("mou_arrivals")
    start = initial_population()["through_year"]
    annual = mou[(mou["period"] == _ANNUAL_PERIOD) & (mou["year"] > start)].copy()
    if annual["year"].duplicated().any():
        raise ValueError("mou_arrivals: duplicate annual rows")
    annual = annual.sort_values("year").reset_index(drop=True)

    agg = _mou_row(_AGGREGATE_PERIOD)
    first, last = (int(y) for y in str(agg["period"]).split("-"))
    in_agg = annual["year"].between(first, last)
    if annual.loc[in_agg, "year"].nunique() != last - first + 1:
        raise ValueError(f"mou_arrivals: annual rows missing inside {agg['period']}")
    if int(annual.loc[in_agg, "arrivals"].sum()) != int(agg["arrivals"]):
        raise ValueError(
            f"mou_arrivals: annual rows {first}-{last} sum to "
            f"{int(annual.loc[in_agg, 'arrivals'].sum())}, not {int(agg['arrivals'])}"
        )
    fill = in_agg & annual["female"].isna()
    if fill.any():
        if not fill.equals(in_agg):
            raise ValueError(f"mou_arrivals: sex split only partly given in {first}-{last}")
        female = _apportion(
            annual.loc[fill, "arrivals"].to_numpy(dtype=float),
            float(agg["female"]) / float(agg["arrivals"]),
            int(agg["female"]),
        )
        annual.loc[fill, "female"] = female
        annual.loc[fill, "male"] = annual.loc[fill, "arrivals"].to_numpy() - female
    missing = annual["male"].isna() | annual["female"].isna()
    if missing.any():
        raise ValueError(
            f"mou_arrivals: no sex split for years {annual.loc[missing, 'year'].tolist()}"
        )
    out = pd.DataFrame(
        {
            "year": annual["year"].astype("int64"),
            "arrivals": annual["arrivals"].astype("int64"),
            "male": annual["male"].astype("int64"),
            "female": annual["female"].astype("int64"),
        }
    )
    bad = out["male"] + out["female"] != out["arrivals"]
    if bad.any():
        raise ValueError(
            f"mou_arrivals: male + female != arrivals in {out.loc[bad, 'year'].tolist()}"
        )
    out["female_share"] = out["female"] / out["arrivals"]
    return _finish(out, ["year"], ["year", "arrivals", "male", "female", "female_share"])


# --------------------------------------------------------------------------- UNHCR


def _first_claim_cells() -> pd.DataFrame:
    """One row per (year, country) cell of the aggregate file, with masking interval."""
    agg = load("unhcr_applications_by_year_country")
    cells = pd.DataFrame(
        {
            "year": agg["year"].astype("int64"),
            "destination": agg["country_of_asylum_iso3"].astype(str),
            "observed": (agg["applications_new_N"] + agg["applications_code_V"]).astype("int64"),
        }
    )
    if cells.duplicated(["year", "destination"]).any():
        raise ValueError("unhcr_applications_by_year_country: duplicate (year, country) rows")

    raw = load("unhcr_applications")

    def bounds_of(rows: pd.DataFrame, mixed: bool) -> pd.DataFrame:
        value = rows["applications"].astype("int64")
        masked = value == MASK_VALUE
        lower = 0 if mixed else value.where(~masked, 1)
        return pd.DataFrame({
            "year": rows["year"].astype("int64"),
            "destination": rows["country_of_asylum_iso3"].astype(str),
            "lower": lower, "upper": value, "masked": masked | mixed,
        })

    new = bounds_of(raw[raw["app_type"].isin(_NEW_CLAIM_CODES)], mixed=False)
    mixed = bounds_of(raw[raw["app_type"].isin(_MIXED_CLAIM_CODES)], mixed=True)
    # the aggregate's N + V must equal the new-claim rows before the mixed rows widen it
    bounds = (
        pd.concat([new.assign(point=new["upper"]), mixed.assign(point=0)])
        .groupby(["year", "destination"], as_index=False)
        .agg(lower=("lower", "sum"), upper=("upper", "sum"), masked=("masked", "any"),
             point=("point", "sum"))
    )
    merged = cells.merge(bounds, on=["year", "destination"], how="outer", indicator=True)
    orphans = merged[merged["_merge"] == "right_only"]
    if len(orphans):
        raise ValueError(
            "unhcr_applications has new-claim rows absent from the aggregate file: "
            f"{orphans[['year', 'destination']].values.tolist()}"
        )
    merged = merged[merged["_merge"] != "right_only"].drop(columns="_merge")
    merged["lower"] = merged["lower"].fillna(0).astype("int64")
    merged["upper"] = merged["upper"].fillna(0).astype("int64")
    merged["masked"] = merged["masked"].fillna(False).astype(bool)
    mismatch = merged["point"].fillna(0) != merged["observed"]
    if mismatch.any():
        raise ValueError(
            "unhcr aggregate and raw files disagree on N+V for "
            f"{merged.loc[mismatch, ['year', 'destination']].values.tolist()}"
        )
    merged = merged.drop(columns="point")
    return merged


def first_claims(
    destinations: Sequence[str] | None = None,
    years: Iterable[int] | None = None,
    other_excludes: Iterable[str] = ("THA", "PHL", "RUS"),
    other_code: str = "OTH",
) -> pd.DataFrame:
    """First asylum claims by DPRK nationals, by year and country of asylum (UNHCR).

    ``observed`` is ``applications_new_N + applications_code_V`` from the aggregate file
    (app_type V replaces N in 2000-2005). UNHCR prints 5 for any count from 1 to 5, so
    each new-claim row of the raw file printed as 5 contributes ``[1, 5]`` and any other
    row its exact value. A row that mixes new claims with another stage (app_type NA,
    new+appeal, or NR, new+repeat) holds from none to all of its count as first claims and
    contributes ``[0, count]`` (0 to the point value ``observed``). ``lower`` and
    ``upper`` are the sums of these bounds (``upper == observed`` where no row is mixed)
    and ``masked`` is true if any component was masked or mixed.

    Only cells with at least one row in the source appear; a missing cell is "no data",
    not zero. A cell whose rows are all other stages (appeals, repeats) appears with
    ``observed == 0``, and one whose only rows are mixed with ``observed == 0`` and
    ``[0, count]`` (Germany and Austria in 2006). Counts are persons except for a few
    rows reported as cases (USA 'IN' rows, some Australian rows; see ``any_case_counts``
    in the source table).

    Parameters
    ----------
    destinations : list of str, optional
        ISO3 codes to return. ``None`` returns every country of asylum, each as itself
        (transit countries included). If ``other_code`` is listed, a row per year sums
        every country neither listed nor in ``other_excludes``.
    years : iterable of int, optional
        Years to keep; ``None`` keeps all years in the package (2000-2015).
    other_excludes : iterable of str, default ("THA", "PHL", "RUS")
        Countries left out of the ``other_code`` aggregate (transit-country RSD in
        Thailand and the Philippines; Russia).
    other_code : str, default "OTH"
        Code of the aggregate "other destinations" row.

    Returns
    -------
    pandas.DataFrame
        Columns ``year`` (int), ``destination`` (str), ``observed``, ``lower``,
        ``upper`` (int) and ``masked`` (bool), sorted by year then destination.

    Raises
    ------
    TypeError
        If ``destinations`` or ``years`` is a bare string.
    ValueError
        If a destination is not an upper-case ISO3 code or ``other_code``.

    Examples
    --------
    >>> uk = first_claims(["GBR"], years=range(2000, 2016))
    >>> int(uk["observed"].sum())
    1328
    >>> first_claims(["CAN", "OTH"], years=[2007]).values.tolist()
    [[2007, 'CAN', 109, 109, 109, False], [2007, 'OTH', 730, 710, 730, True]]
    """
    cells = _first_claim_cells()
    cells = _by_destination(
        cells, destinations, other_excludes, other_code, ("observed", "lower", "upper"), ("masked",)
    )
    cells = _year_filter(cells, years)
    cols = ["year", "destination", "observed", "lower", "upper", "masked"]
    out = _finish(cells, ["year", "destination"], cols)
    return out.astype(
        {"year": "int64", "observed": "int64", "lower": "int64", "upper": "int64", "masked": bool}
    )


def refugee_stocks(
    destinations: Sequence[str] | None = None,
    years: Iterable[int] | None = None,
    other_excludes: Iterable[str] = ("THA", "PHL", "RUS"),
    other_code: str = "OTH",
) -> pd.DataFrame:
    """Year-end stocks of DPRK-origin refugees and asylum seekers (UNHCR).

    Values are as printed: a 5 means 1-5. Only (year, country) cells with a source row
    appear.

    Parameters
    ----------
    destinations : list of str, optional
        ISO3 codes to return; ``None`` returns every country. ``other_code`` works as in
        :func:`first_claims`.
    years : iterable of int, optional
        Years to keep; ``None`` keeps all years in the package (1996-2015).
    other_excludes : iterable of str, default ("THA", "PHL", "RUS")
        Countries left out of the ``other_code`` aggregate.
    other_code : str, default "OTH"
        Code of the aggregate "other destinations" row.

    Returns
    -------
    pandas.DataFrame
        Columns ``year``, ``destination``, ``refugees``, ``asylum_seekers``, sorted by
        year then destination.

    Examples
    --------
    >>> s = refugee_stocks(years=[2015])
    >>> int(s["refugees"].sum())
    1094
    >>> refugee_stocks(["GBR"], years=[2015]).values.tolist()
    [[2015, 'GBR', 608, 47]]
    """
    raw = load("unhcr_refugees")
    cells = pd.DataFrame(
        {
            "year": raw["year"].astype("int64"),
            "destination": raw["country_of_asylum_iso3"].astype(str),
            "refugees": raw["refugees"].astype("int64"),
            "asylum_seekers": raw["asylum_seekers"].astype("int64"),
        }
    )
    if cells.duplicated(["year", "destination"]).any():
        raise ValueError("unhcr_refugees: duplicate (year, country) rows")
    cells = _by_destination(
        cells, destinations, other_excludes, other_code, ("refugees", "asylum_seekers")
    )
    cells = _year_filter(cells, years)
    out = _finish(
        cells, ["year", "destination"], ["year", "destination", "refugees", "asylum_seekers"]
    )
    return out.astype({"year": "int64", "refugees": "int64", "asylum_seekers": "int64"})


# --------------------------------------------------------------------------- UK Home Office


def uk_grant_rates(years: Iterable[int] | None = None) -> pd.DataFrame:
    """UK initial decisions on North Korean main applicants, by year (Home Office).

    Grants include other leave; withdrawals are excluded. ``grant_rate`` is recomputed
    as ``grants / (grants + refusals)`` (NaN when there were no decisions).

    Parameters
    ----------
    years : iterable of int, optional
        Years to keep; ``None`` keeps all years in the package (2001-2015).

    Returns
    -------
    pandas.DataFrame
        Columns ``year``, ``grants``, ``refusals`` (int) and ``grant_rate`` (float),
        sorted by year.

    Examples
    --------
    >>> g = uk_grant_rates(years=[2007])
    >>> g[["year", "grants", "refusals"]].values.tolist()
    [[2007, 151, 25]]
    >>> round(float(g["grant_rate"].iloc[0]), 4)
    0.858
    """
    raw = load("ukho_grant_rates")
    out = pd.DataFrame(
        {
            "year": raw["year"].astype("int64"),
            "grants": raw["grants_main_applicants"].astype("int64"),
            "refusals": raw["refusals_main_applicants"].astype("int64"),
        }
    )
    if out["year"].duplicated().any():
        raise ValueError("ukho_grant_rates: duplicate years")
    decided = (out["grants"] + out["refusals"]).astype("float64")
    out["grant_rate"] = (out["grants"] / decided.where(decided > 0)).astype("float64")
    out = _year_filter(out, years)
    return _finish(out, ["year"], ["year", "grants", "refusals", "grant_rate"])


def uk_quarterly_applications(
    years: Iterable[int] | None = None, complete: bool = False
) -> pd.DataFrame:
    """UK asylum applications by North Koreans per quarter (Home Office, persons).

    Parameters
    ----------
    years : iterable of int, optional
        Years to keep; ``None`` keeps all years in the package (2001-2015).
    complete : bool, default False
        The Home Office file has no row for a quarter without applications. If true,
        such quarters between Q1 of the first year and the last quarter in the file are
        added with zeros; if false, only quarters with a row are returned.

    Returns
    -------
    pandas.DataFrame
        Columns ``year``, ``quarter`` (1-4), ``main_applicants``, ``dependants`` and
        ``total`` (all int), sorted by year and quarter.

    Examples
    --------
    >>> q = uk_quarterly_applications(years=[2007])
    >>> q["total"].tolist()
    [37, 90, 116, 359]
    >>> int(uk_quarterly_applications()["total"].sum())
    1349
    """
    raw = load("ukho_applications")
    parsed = raw["quarter"].astype(str).str.extract(r"^(\d{4}) Q([1-4])$")
    if parsed.isna().any().any():
        bad = raw.loc[parsed.isna().any(axis=1), "quarter"].tolist()
        raise ValueError(f"ukho_applications: cannot parse quarter labels {bad[:5]}")
    types = {"Main applicant": "main_applicants", "Dependant": "dependants"}
    unknown = set(raw["applicant_type"]) - set(types)
    if unknown:
        raise ValueError(f"ukho_applications: unexpected applicant types {sorted(unknown)}")
    long = pd.DataFrame(
        {
            "year": parsed[0].astype("int64"),
            "quarter": parsed[1].astype("int64"),
            "kind": raw["applicant_type"].map(types),
            "n": raw["applications"].astype("int64"),
        }
    )
    if not (long["year"] == raw["year"].astype("int64")).all():
        raise ValueError("ukho_applications: year column disagrees with quarter label")
    wide = long.pivot_table(
        index=["year", "quarter"], columns="kind", values="n", aggfunc="sum", fill_value=0
    )
    wide = wide.reindex(columns=["main_applicants", "dependants"], fill_value=0)
    if complete and len(wide):
        first_year = int(wide.index.get_level_values("year").min())
        last_year, last_q = (int(v) for v in wide.index.max())
        full = [
            (y, q)
            for y in range(first_year, last_year + 1)
            for q in range(1, 5)
            if (y, q) <= (last_year, last_q)
        ]
        wide = wide.reindex(
            pd.MultiIndex.from_tuples(full, names=["year", "quarter"]), fill_value=0
        )
    out = wide.reset_index()
    out.columns.name = None
    out["total"] = out["main_applicants"] + out["dependants"]
    out = _year_filter(out, years)
    cols = ["year", "quarter", "main_applicants", "dependants", "total"]
    return _finish(out, ["year", "quarter"], cols).astype({c: "int64" for c in cols})


# --------------------------------------------------------------------------- events, indicators


def policy_events() -> pd.DataFrame:
    """Dated legal and policy events in destination countries.

    Returns
    -------
    pandas.DataFrame
        Columns ``date`` (the source's text: ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``),
        ``precision`` (``'year'``, ``'month'`` or ``'day'``), ``year`` (int), ``month``
        and ``day`` (nullable ``Int64``, missing below the date's precision),
        ``country`` (ISO3), ``event`` and ``source``. Sorted chronologically; an event
        known only to the year (or month) sorts before the dated events in it.

    Raises
    ------
    ValueError
        If a date in the table is not in one of the three forms.

    Examples
    --------
    >>> ev = policy_events()
    >>> ev.loc[ev["date"] == "2012-12", ["precision", "year", "month"]].values.tolist()
    [['month', 2012, 12]]
    """
    raw = load("policy_events")
    parsed = [_parse_partial_date(d, f"policy_events row {i}") for i, d in enumerate(raw["date"])]
    out = pd.DataFrame(
        {
            "date": raw["date"].astype(str).str.strip(),
            "precision": [p[3] for p in parsed],
            "year": pd.array([p[0] for p in parsed], dtype="int64"),
            "month": pd.array([p[1] for p in parsed], dtype="Int64"),
            "day": pd.array([p[2] for p in parsed], dtype="Int64"),
            "country": raw["country"].astype(str),
            "event": raw["event"].astype(str),
            "source": raw["source_url_or_citation"].astype(str),
        }
    )
    out = out.sort_values(["year", "month", "day", "country"], na_position="first", kind="stable")
    return out.reset_index(drop=True)


def residence_unknown() -> pd.DataFrame:
    """Defectors in South Korea whose residence is unknown ("거주불명"), point counts.

    Rows of ``onward_indicators`` with ``indicator == 'defectors_residence_unknown'``.
    These are one-off figures from press reports, not an official series.

    Returns
    -------
    pandas.DataFrame
        Columns ``date`` (source text, ``YYYY`` or ``YYYY-MM``), ``year`` (int),
        ``month`` (nullable ``Int64``), ``value`` (int, persons) and ``source``, sorted by
        date.

    Examples
    --------
    >>> r = residence_unknown()
    >>> r[["date", "value"]].values.tolist()[:2]
    [['2014-12', 815], ['2015-12', 815]]
    """
    raw = load("onward_indicators")
    rows = raw[raw["indicator"] == "defectors_residence_unknown"]
    parsed = [
        _parse_partial_date(d, f"onward_indicators row {i}")
        for i, d in zip(rows.index, rows["date_or_period"], strict=True)
    ]
    out = pd.DataFrame(
        {
            "date": rows["date_or_period"].astype(str).str.strip().to_numpy(),
            "year": pd.array([p[0] for p in parsed], dtype="int64"),
            "month": pd.array([p[1] for p in parsed], dtype="Int64"),
            "value": rows["value"].astype("int64").to_numpy(),
            "source": rows["source"].astype(str).to_numpy(),
        }
    )
    out = out.sort_values(["year", "month"], na_position="first", kind="stable")
    return out.reset_index(drop=True)


#: Tables that can feed a scenario's ``population.inflow`` (``source: data``), by name:
#: each gives the people present at the start and the yearly arrivals after it.
ARRIVAL_TABLES: dict[str, tuple[Callable[[], dict[str, int]], Callable[[], pd.DataFrame]]] = {
    "mou_arrivals": (initial_population, arrivals),
}


def arrival_series(name: str) -> tuple[dict[str, int], pd.DataFrame]:
    """The initial population and yearly arrivals of an inflow table.

    Returns ``(initial, arrivals)`` where ``initial`` has keys total, male, female,
    through_year and ``arrivals`` has columns year, arrivals, male, female, female_share.

    Examples
    --------
    >>> initial, arr = arrival_series("mou_arrivals")
    >>> initial["total"]
    947
    """
    if name not in ARRIVAL_TABLES:
        raise UnknownTableError(
            f"'{name}' is not an arrivals table; valid: {', '.join(sorted(ARRIVAL_TABLES))}")
    initial, arr = _arrival_series(name)
    return dict(initial), arr.copy()


@functools.lru_cache(maxsize=8)
def _arrival_series(name: str) -> tuple[dict[str, int], pd.DataFrame]:
    """:func:`arrival_series`, read once per process (the packaged tables do not change;
    a calibration compiles the scenario for every simulation)."""
    initial_fn, arrivals_fn = ARRIVAL_TABLES[name]
    return initial_fn(), arrivals_fn()
