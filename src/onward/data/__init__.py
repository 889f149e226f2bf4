"""Real-world data packaged with :mod:`onward`: North Korean arrivals in South Korea and
onward asylum claims in third countries.

Provenance, licences and caveats of every table are in ``PROVENANCE.md``
(:func:`provenance`). Target series (UNHCR and Home Office) stop at 2015; later years
are held out for scoring forecasts.

Examples
--------
>>> from onward import data
>>> sorted(data.TABLES)[:2]
['integration_indicators', 'mou_arrivals']
>>> data.initial_population()["total"]
947
"""

from onward.data.catalog import (
    TABLES,
    TableInfo,
    UnknownTableError,
    list_tables,
    load,
    provenance,
    table_path,
)
from onward.data.series import (
    ARRIVAL_TABLES,
    MASK_VALUE,
    arrival_series,
    arrivals,
    first_claims,
    initial_population,
    policy_events,
    refugee_stocks,
    residence_unknown,
    uk_grant_rates,
    uk_quarterly_applications,
)

__all__ = [
    "ARRIVAL_TABLES",
    "arrival_series",
    "MASK_VALUE",
    "TABLES",
    "TableInfo",
    "UnknownTableError",
    "arrivals",
    "first_claims",
    "initial_population",
    "list_tables",
    "load",
    "policy_events",
    "provenance",
    "refugee_stocks",
    "residence_unknown",
    "table_path",
    "uk_grant_rates",
    "uk_quarterly_applications",
]
