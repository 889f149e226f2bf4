"""Catalogue of the real-data tables packaged with :mod:`onward`.

The CSV files live in ``onward/data/tables``; their origin, licence and caveats are set
out in ``PROVENANCE.md`` in the same folder (see :func:`provenance`). This module only
knows where each table is and how to read it. The tidy series built from the tables are
in :mod:`onward.data.series`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import pandas as pd

__all__ = [
    "TABLES",
    "TableInfo",
    "UnknownTableError",
    "list_tables",
    "load",
    "provenance",
    "table_path",
]

_PACKAGE = "onward.data"
_TABLES_DIR = "tables"
_PROVENANCE_FILE = "PROVENANCE.md"

_UNHCR_SOURCE = (
    "UNHCR Refugee Population Statistics Database, via R package `refugees` v2025.12.1 "
    "(PopulationStatistics/refugees @0c16a6d); rows with coo_iso == PRK"
)
_UNHCR_LICENCE = "CC BY 4.0 (attribute: UNHCR Refugee Population Statistics Database)"
_UKHO_SOURCE = (
    "UK Home Office immigration system statistics, asylum-applications-datasets-sep-2024.xlsx, "
    "via R package `asylum` (humaniverse/asylum @e7044ec); Nationality == North Korea"
)
_UKHO_LICENCE = "OGL v3.0 (Open Government Licence v3.0)"
_HAND_LICENCE = (
    "No single licence: facts hand-compiled from the public documents cited in each row's "
    "source column"
)


@dataclass(frozen=True, slots=True)
class TableInfo:
    """Metadata for one packaged table.

    Attributes
    ----------
    name : str
        Short name used by :func:`load` (for example ``"mou_arrivals"``).
    filename : str
        CSV file name inside ``onward/data/tables``.
    title : str
        One-line human-readable title.
    source : str
        Summary of where the numbers come from (details in ``PROVENANCE.md``).
    licence : str
        Licence of the underlying data.
    coverage : str
        Period covered by the packaged file.
    description : str
        What a row is, plus the main caveats.
    """

    name: str
    filename: str
    title: str
    source: str
    licence: str
    coverage: str
    description: str


_INFOS: tuple[TableInfo, ...] = (
    TableInfo(
        name="mou_arrivals",
        filename="mou_arrivals.csv",
        title="North Korean arrivals in South Korea (MOU)",
        source=(
            "ROK Ministry of Unification statistics table (to 2019); MOU data given to the "
            "National Assembly (1998-2001 annual totals); MOU announcements in the press "
            "(2020-2025)"
        ),
        licence="KOGL (Korean government statistics; cite the Ministry of Unification)",
        coverage="<=1998 cumulative, 1998-2025 annual",
        description=(
            "One row per period. period == 'cumulative_through_1998' is ALL arrivals up to "
            "1998 (947); period == '1999-2001' is a three-year sum of the annual rows; "
            "period == 'annual' rows are single years (1998-2001 without a sex split). "
            "Use onward.data.arrivals() for a tidy annual series."
        ),
    ),
    TableInfo(
        name="unhcr_applications",
        filename="unhcr_prk_asylum_applications.csv",
        title="UNHCR asylum applications by DPRK nationals (raw rows)",
        source=_UNHCR_SOURCE,
        licence=_UNHCR_LICENCE,
        coverage="2000-2015",
        description=(
            "One row per (year, country of asylum, procedure, app_type, dec_level, unit). "
            "A printed 5 means 1-5 (masked). The strings 'NA' in app_type (new+appeal) and "
            "dec_level (new applications) are codes, not missing values. Stages and units "
            "are mixed: use app_type N + V for first claims (NA and NR rows hold 0 to all of "
            "their count as first claims)."
        ),
    ),
    TableInfo(
        name="unhcr_applications_by_year_country",
        filename="unhcr_prk_asylum_applications_by_year_country.csv",
        title="UNHCR asylum applications by DPRK nationals, by year and country of asylum",
        source=_UNHCR_SOURCE + "; aggregated from unhcr_prk_asylum_applications.csv",
        licence=_UNHCR_LICENCE,
        coverage="2000-2015",
        description=(
            "One row per (year, country of asylum) with at least one raw row, split by "
            "stage. First claims = applications_new_N + applications_code_V. Sums of "
            "masked 5s; any_case_counts flags cells that include case (not person) rows."
        ),
    ),
    TableInfo(
        name="unhcr_decisions",
        filename="unhcr_prk_decisions.csv",
        title="UNHCR asylum decisions on DPRK nationals",
        source=_UNHCR_SOURCE,
        licence=_UNHCR_LICENCE,
        coverage="2000-2015",
        description=(
            "One row per (year, country, procedure, dec_level, unit) with recognized, "
            "complementary, rejected, otherwise closed and total decisions. A printed 5 "
            "stands for a small count; 'NA' in dec_level is a code."
        ),
    ),
    TableInfo(
        name="unhcr_refugees",
        filename="unhcr_prk_refugees.csv",
        title="UNHCR year-end stocks of DPRK-origin refugees and asylum seekers",
        source=_UNHCR_SOURCE,
        licence=_UNHCR_LICENCE,
        coverage="1996-2015 (year-end stocks)",
        description=(
            "One row per (year, country of asylum): refugees, asylum seekers and other "
            "populations at year end. A printed 5 means 1-5."
        ),
    ),
    TableInfo(
        name="ukho_applications",
        filename="ukho_north_korea_asylum_applications.csv",
        title="UK Home Office asylum applications by North Koreans (quarterly)",
        source=_UKHO_SOURCE,
        licence=_UKHO_LICENCE,
        coverage="2001 Q1 - 2015 Q4 (quarterly)",
        description=(
            "One row per quarter x applicant type x sex x age x UASC x location, counting "
            "persons. Unmasked; combinations with no applications have no row. Before 2009 "
            "sex and age are 'Total (pre-2009)'."
        ),
    ),
    TableInfo(
        name="ukho_initial_decisions",
        filename="ukho_north_korea_initial_decisions.csv",
        title="UK Home Office initial asylum decisions on North Koreans (quarterly)",
        source=_UKHO_SOURCE,
        licence=_UKHO_LICENCE,
        coverage="2001-2015 (quarterly)",
        description=(
            "One row per quarter x outcome x applicant type x sex x age x UASC. Unmasked."
        ),
    ),
    TableInfo(
        name="ukho_grant_rates",
        filename="ukho_north_korea_grant_rates.csv",
        title="UK Home Office initial grant rates for North Korean main applicants",
        source=_UKHO_SOURCE + " (grant rate derived by the R package)",
        licence=_UKHO_LICENCE,
        coverage="2001-2015",
        description=(
            "One row per year: grants (incl. other leave) and refusals of main applicants, "
            "and grant rate = grants / (grants + refusals); withdrawals excluded."
        ),
    ),
    TableInfo(
        name="policy_events",
        filename="destination_policy_events.csv",
        title="Dated legal and policy events in destination countries",
        source="Statutes, court and tribunal decisions, press (cited per row)",
        licence=_HAND_LICENCE,
        coverage="2004-2019",
        description=(
            "One row per event affecting whether DPRK nationals entitled to ROK nationality "
            "can get refugee status in the USA, UK or Canada. date is YYYY, YYYY-MM or "
            "YYYY-MM-DD, as precise as the source."
        ),
    ),
    TableInfo(
        name="integration_indicators",
        filename="integration_indicators.csv",
        title="Settlement indicators for defectors in South Korea",
        source=(
            "Korea Hana Foundation surveys as reported in the press; MOU; Psychiatry "
            "Investigation 2018; NKDB/Seoul Institute (cited per row)"
        ),
        licence=_HAND_LICENCE,
        coverage="2010-2025",
        description=(
            "One row per (indicator, year, population); a general-population comparator is "
            "given where the source has one. Wages nominal KRW/month; rates in percent."
        ),
    ),
    TableInfo(
        name="onward_indicators",
        filename="onward_migration_indicators.csv",
        title="Proxies for onward departure from South Korea and reception abroad",
        source=(
            "MOU/police data given to National Assembly members; IRB/CBSA figures "
            "(press reports, cited per row)"
        ),
        licence=_HAND_LICENCE,
        coverage="2001-2021",
        description=(
            "One-off point figures (not an official time series): defectors whose residence "
            "is unknown, confirmed asylum claims abroad, Canadian IRB/CBSA figures. "
            "date_or_period is free text (e.g. 2014-12, 2011-H1, c.2018)."
        ),
    ),
)

TABLES: dict[str, TableInfo] = {info.name: info for info in _INFOS}
"""All packaged tables, keyed by short name."""


class UnknownTableError(KeyError):
    """Raised by :func:`load` for a table name that is not in :data:`TABLES`."""

    def __init__(self, name: object) -> None:
        self.name = name
        valid = ", ".join(sorted(TABLES))
        self.message = f"unknown table {name!r}; valid names are: {valid}"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


def _tables_dir() -> Traversable:
    return files(_PACKAGE) / _TABLES_DIR


def _info(name: str) -> TableInfo:
    try:
        return TABLES[name]
    except (KeyError, TypeError):
        raise UnknownTableError(name) from None


def table_path(name: str) -> Traversable:
    """Return the packaged resource for table *name*.

    Parameters
    ----------
    name : str
        A key of :data:`TABLES`.

    Returns
    -------
    importlib.resources.abc.Traversable
        The CSV resource (a :class:`pathlib.Path` for an ordinary install).

    Raises
    ------
    UnknownTableError
        If *name* is not a known table.

    Examples
    --------
    >>> table_path("mou_arrivals").name
    'mou_arrivals.csv'
    """
    return _tables_dir() / _info(name).filename


@functools.cache  # lru_cache(maxsize=None)
def _read(name: str) -> pd.DataFrame:
    resource = table_path(name)
    with resource.open("r", encoding="utf-8") as fh:
        # Only empty cells are missing: the UNHCR code "NA" (new+appeal / new
        # applications) must survive as a string.
        return pd.read_csv(fh, keep_default_na=False, na_values=[""])


def load(name: str) -> pd.DataFrame:
    """Load a packaged table as read from its CSV file.

    The file is parsed once and cached; each call returns a fresh copy, so callers may
    modify the result freely. Empty cells become missing values; the UNHCR code string
    ``"NA"`` is kept as a string.

    Parameters
    ----------
    name : str
        A key of :data:`TABLES` (see :func:`list_tables`).

    Returns
    -------
    pandas.DataFrame
        The table, with the CSV's columns.

    Raises
    ------
    UnknownTableError
        If *name* is not a known table; the message lists the valid names.

    Examples
    --------
    >>> df = load("ukho_grant_rates")
    >>> int(df["grants_main_applicants"].sum())
    409
    """
    _info(name)  # validate before touching the cache
    return _read(name).copy(deep=True)


def list_tables() -> pd.DataFrame:
    """Summarise the packaged tables.

    Returns
    -------
    pandas.DataFrame
        One row per table, sorted by name, with columns ``name``, ``title``, ``rows``
        (data rows in the file), ``coverage``, ``licence`` and ``source``.

    Examples
    --------
    >>> tables = list_tables()
    >>> int(tables.set_index("name").loc["mou_arrivals", "rows"])
    30
    """
    records = [
        {
            "name": info.name,
            "title": info.title,
            "rows": len(_read(info.name)),
            "coverage": info.coverage,
            "licence": info.licence,
            "source": info.source,
        }
        for info in sorted(TABLES.values(), key=lambda i: i.name)
    ]
    return pd.DataFrame.from_records(
        records, columns=["name", "title", "rows", "coverage", "licence", "source"]
    )


def provenance() -> str:
    """Return the text of ``PROVENANCE.md``, the tables' provenance and licence notes.

    Returns
    -------
    str
        The Markdown document.

    Examples
    --------
    >>> provenance().startswith("# Real-world data")
    True
    """
    return (_tables_dir() / _PROVENANCE_FILE).read_text(encoding="utf-8")
