"""Publication figures of runs and experiments (matplotlib; PNG and SVG via :func:`save`).

Each function takes tidy tables (a run's ``applications``, ``stocks``, ``profile``,
``brokers``, ``flows``; an ensemble's ``values`` or ``bands``) and returns a
:class:`matplotlib.figure.Figure`. No browser and no display are needed.

Examples
--------
>>> import onward
>>> from onward import viz
>>> res = onward.simulate("nk-onward", seed=1)  # doctest: +SKIP
>>> t = res.tables()  # doctest: +SKIP
>>> viz.save(viz.uk_applications(t["applications"], viz.observed_claims()), "uk")  # doctest: +SKIP
>>> viz.save(viz.routes_sankey(t["flows"], t["stocks"]), "routes")  # doctest: +SKIP
"""

from onward.viz.figures import (
    LAST_OBSERVED_YEAR,
    applications_by_destination,
    as_bands,
    broker_share,
    compare_scenarios,
    has_article_figure,
    last_observed_year,
    movers_vs_stayers,
    observed_claims,
    observed_label,
    stocks_by_state,
    uk_applications,
)
from onward.viz.network import network_figure, sample_around_brokers, spring_layout
from onward.viz.sankey import draw_sankey, route_links, routes_sankey
from onward.viz.style import png_base64, save

__all__ = [
    "LAST_OBSERVED_YEAR",
    "applications_by_destination",
    "as_bands",
    "broker_share",
    "compare_scenarios",
    "draw_sankey",
    "has_article_figure",
    "last_observed_year",
    "movers_vs_stayers",
    "network_figure",
    "observed_label",
    "observed_claims",
    "png_base64",
    "route_links",
    "routes_sankey",
    "sample_around_brokers",
    "save",
    "spring_layout",
    "stocks_by_state",
    "uk_applications",
]
