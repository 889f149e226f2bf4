"""Figures show the numbers of the tables they are given (onward.viz)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.patches import PathPatch, Rectangle

import onward
from onward import viz
from onward.scenario import load_scenario

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"


@pytest.fixture(scope="module")
def run():
    sc = load_scenario("nk-onward")
    res = onward.simulate(sc, seed=1)
    return sc, res, res.tables(), viz.observed_claims(sc)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def title(ax):
    return ax.get_title("left") or ax.get_title()


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_uk_figure_plots_the_tables(run):
    sc, _, t, obs = run
    fig = viz.uk_applications(t["applications"], obs, held_out=sc.calibration.held_out)
    ax = fig.axes[0]
    (line,) = by_gid(ax, "simulated")
    sim = t["applications"][t["applications"].destination == "GBR"].groupby("year").persons.sum()
    sim = sim[sim.index >= 2000]
    np.testing.assert_array_equal(line.get_xdata(), sim.index.to_numpy())
    np.testing.assert_array_equal(line.get_ydata(), sim.to_numpy(dtype=float))
    bars = by_gid(ax, "observed_bars")
    uk = obs[(obs.destination == "GBR") & obs.year.between(2000, 2015)]
    heights = [p.get_height() for p in bars]
    assert heights == uk.observed.tolist() and sum(heights) == 1328  # "over a thousand"
    assert max(p.get_x() + p.get_width() / 2 for p in bars) <= 2015
    assert "UK" in title(ax) and "applications" in ax.get_ylabel()
    assert line.get_xdata().max() == 2025  # the continuation after 2015


def test_observed_years_after_2015_are_never_drawn(run):
    _, _, t, obs = run
    leak = pd.DataFrame({"year": [2018], "destination": ["GBR"], "observed": [999],
                         "lower": [999], "upper": [999], "masked": [False]})
    fig = viz.uk_applications(t["applications"], pd.concat([obs, leak]))
    bars = by_gid(fig.axes[0], "observed_bars")
    assert bars and 999 not in [p.get_height() for p in bars]
    fig = viz.applications_by_destination(t["applications"], pd.concat([obs, leak]))
    gbr = next(ax for ax in fig.axes if title(ax) == "GBR")
    assert 2018 not in by_gid(gbr, "observed")[0].get_xdata().tolist()


def test_applications_panels_points_and_masked_intervals(run):
    sc, _, t, obs = run
    fig = viz.applications_by_destination(t["applications"], obs,
                                          held_out=sc.calibration.held_out, start=2000)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [title(ax) for ax in axes] == sorted(sc.destination_codes)
    for ax in axes:
        d = title(ax)
        o = obs[obs.destination == d]
        exact, masked = o[o.lower == o.upper], o[o.lower != o.upper]
        (pts,) = by_gid(ax, "observed")
        assert pts.get_ydata().tolist() == exact.observed.tolist()
        segs = by_gid(ax, "observed_masked")
        if len(masked):
            got = sorted((s[0, 0], s[0, 1], s[1, 1]) for s in segs[0].get_segments())
            assert got == sorted(zip(masked.year, masked.lower, masked.upper, strict=True))
        else:
            assert not segs
    assert "applications per year" in axes[0].get_ylabel()


def test_ensemble_values_become_bands():
    rows = [(r, y, "GBR", float(10 * r + y - 2000)) for r in range(5) for y in range(2000, 2005)]
    values = pd.DataFrame(rows, columns=["replicate", "year", "destination", "value"])
    values["output"] = "applications"
    b = viz.as_bands(values)
    assert b["median"].tolist() == [20.0, 21.0, 22.0, 23.0, 24.0]
    assert (b.q05 < b.q25).all() and (b.q75 < b.q95).all() and (b.n == 5).all()
    fig = viz.uk_applications(values, None)
    ax = fig.axes[0]
    assert len(ax.collections) == 2  # the 50% and 90% bands
    np.testing.assert_allclose(by_gid(ax, "simulated")[0].get_ydata(), b["median"])


def test_stocks_by_state(run):
    _, _, t, _ = run
    fig = viz.stocks_by_state(t["stocks"])
    a1, a2 = fig.axes
    s = t["stocks"]
    kor = s[s.state == "first_country"].groupby(["year", "month"]).persons.sum()
    np.testing.assert_array_equal(by_gid(a1, "first_country")[0].get_ydata(), kor.to_numpy())
    rec = s[s.state == "recognised"].groupby(["year", "month"]).persons.sum()
    np.testing.assert_array_equal(by_gid(a2, "recognised")[0].get_ydata(), rec.to_numpy())
    assert len(a2.get_lines()) == 4 and "persons" in a1.get_ylabel()


def test_movers_vs_stayers_bars_are_the_means(run):
    _, _, t, _ = run
    fig = viz.movers_vs_stayers(t["profile"])
    assert len(fig.axes) == 5
    p = t["profile"].set_index(["attribute", "group"])["mean"]
    for ax, attr in zip(fig.axes, ("skill", "funds", "degree", "income", "satisfaction"),
                        strict=True):
        got = [r.get_height() for r in by_gid(ax, attr)]
        np.testing.assert_allclose(got, [p[(attr, "movers")], p[(attr, "stayers")]])
    assert "education" in fig.axes[0].get_title()
    # the article's selection effect: movers are better educated and funded
    assert p[("skill", "movers")] > p[("skill", "stayers")]


def test_broker_share_line(run):
    _, _, t, _ = run
    fig = viz.broker_share(t["brokers"])
    ax = fig.axes[0]
    (line,) = by_gid(ax, "share_all")
    y = t["brokers"].groupby("year")[["departures", "broker_departures"]].sum()
    y = y[y.departures >= 10]
    np.testing.assert_allclose(line.get_ydata(), (y.broker_departures / y.departures))
    assert ((line.get_ydata() >= 0) & (line.get_ydata() <= 1)).all()
    assert "broker" in ax.get_ylabel()
    # households, where compare's broker_share of the same name weighs persons
    title = ax.get_title(loc="left") or ax.get_title()
    assert title.endswith("of all onward departures (households)"), title


def test_route_links_reconcile_with_flows(run):
    _, _, t, _ = run
    links = viz.route_links(t["flows"], t["stocks"])
    f = t["flows"]
    dep = f[(f.flow == "departures") & (f.route == "onward")].groupby("destination").persons.sum()
    kor = links[links.source == "KOR (first country)"].set_index("target").persons
    for d, v in dep.items():
        assert kor.get(d, 0) == v
    # what enters a node leaves it (first country; each destination)
    for node in ["KOR (first country)", "GBR", "CAN"]:
        inflow = links[links.target == node].persons.sum()
        outflow = links[links.source == node].persons.sum()
        assert inflow == pytest.approx(outflow), node
    # origin -> KOR is who arrived, with the children born there (it was stayed + departures,
    # which counted again everyone who came back after a refusal: 44,123 for ~34,500
    # arrivals); the recorder's own count of them, within the few persons by which the
    # persons of a departure and of its transit differ
    from onward.engine.state import State

    rec = run[1].recorder
    arrived = int(rec.trans_p[:, State.PENDING, State.FIRST_COUNTRY].sum()
                  + rec.births[:, State.FIRST_COUNTRY].sum())
    got = links[(links.source == "PRK") & (links.target == "KOR (first country)")].persons
    assert abs(got.item() - arrived) <= 5, (got.item(), arrived)
    back = f[f.flow.isin(["returns", "removals"]) & (f.route == "onward")].persons.sum()
    assert links[links.source == "back after a refusal"].persons.item() == back
    fig = viz.routes_sankey(t["flows"], t["stocks"])
    ax = fig.axes[0]
    bands = [p for p in ax.patches if isinstance(p, PathPatch)]
    nodes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(bands) == len(links)
    assert {p.get_gid() for p in bands} == {f"link:{r.source}->{r.target}"
                                            for r in links.itertuples()}
    assert "node:recognised" in {n.get_gid() for n in nodes}


def test_network_sample_is_readable_and_highlights_brokers(run):
    _, res, _, _ = run
    ag = res.agents
    idx = viz.sample_around_brokers(res.network, ag.broker, max_nodes=200, seed=3)
    assert 20 <= idx.size <= 200 and ag.broker[idx].any()
    fig = viz.network_figure(res.network, ag.broker, ag.moves > 0, max_nodes=200, seed=3)
    ax = fig.axes[0]
    (brokers,) = by_gid(ax, "brokers")
    assert len(brokers.get_offsets()) == int(ag.broker[idx].sum())
    n_nodes = sum(len(by_gid(ax, g)[0].get_offsets()) for g in ("brokers", "movers", "others"))
    assert n_nodes == idx.size
    (ties,) = by_gid(ax, "ties")
    sub = res.network[idx][:, idx]
    assert len(ties.get_segments()) == sub.nnz // 2


def test_spring_layout_pulls_neighbours_together():
    edges = np.array([[0, 1], [2, 3]])
    pos = viz.spring_layout(edges, 4, seed=1)
    assert pos.shape == (4, 2) and (pos >= 0).all() and (pos <= 1).all()
    d = lambda i, j: np.linalg.norm(pos[i] - pos[j])  # noqa: E731
    assert d(0, 1) < d(0, 2) and d(2, 3) < d(1, 3)


def test_compare_scenarios_one_line_per_label():
    rows = [(lab, r, y, d, float(r + y - 2000 + (5 if lab == "alt" else 0)))
            for lab in ("base", "alt") for r in range(3) for y in range(2005, 2010)
            for d in ("GBR", "CAN")]
    values = pd.DataFrame(rows, columns=["label", "replicate", "year", "destination", "value"])
    values["output"] = "applications"
    fig = viz.compare_scenarios(values)
    ax = fig.axes[0]
    (alt,) = by_gid(ax, "median:alt")
    np.testing.assert_allclose(alt.get_ydata(), [11, 12, 13, 14, 15])  # median r = 1
    assert len(by_gid(ax, "median:base")) == 1
    # another output is drawn too (as_bands kept only applications: empty panels)
    dep = values.assign(output="departures", value=values.value * 2)
    fig = viz.compare_scenarios(pd.concat([values, dep]), "departures")
    (alt,) = by_gid(fig.axes[0], "median:alt")
    np.testing.assert_allclose(alt.get_ydata(), [22, 24, 26, 28, 30])
    # the years the effects are summed over are shaded (the figure did not say which)
    fig = viz.compare_scenarios(values, period=(2007, 2008))
    (span,) = by_gid(fig.axes[0], "period")
    box = span.get_window_extent().transformed(fig.axes[0].transData.inverted())
    assert np.isclose(box.x0, 2006.5) and np.isclose(box.x1, 2008.5)
    assert any("2007-2008: the effects' period" in t.get_text()
               for t in fig.legends[0].get_texts())


def test_save_writes_png_and_svg(tmp_path, run):
    _, _, t, _ = run
    paths = viz.save(viz.movers_vs_stayers(t["profile"]), tmp_path / "sub" / "profile.png")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == PNG_SIGNATURE
    svg = paths[1].read_text()
    assert "<svg" in svg and "movers" in svg  # text kept as text (svg.fonttype none)


def test_readme_figures_are_committed_and_small():
    for name in ("uk_applications.png", "routes.png"):
        p = DOCS_IMG / name
        assert p.exists(), f"regenerate with `python -m onward.viz.readme`: {p}"
        assert p.read_bytes()[:8] == PNG_SIGNATURE and p.stat().st_size < 200_000


def test_wrong_tables_and_destinations_are_refused_not_drawn(run):
    """uk_applications(flows) summed every kind of flow (GBR 2010: 504 against 109
    applications) under the title 'asylum applications'; the toy (no GBR) drew an empty UK
    figure; a figure without observed data still said 'vs observed' in title and legend."""
    _, _, t, _ = run
    with pytest.raises(ValueError, match="flows table.*Fix: pass the applications table"):
        viz.uk_applications(t["flows"])
    with pytest.raises(ValueError, match="flows table"):
        viz.applications_by_destination(t["flows"])
    toy = onward.simulate("toy", seed=1).applications
    with pytest.raises(ValueError, match="no simulated rows for GBR: the table holds CRP, "
                       "DLT, ELB"):
        viz.uk_applications(toy)
    with pytest.raises(ValueError, match="no simulated rows for XYZ"):
        viz.applications_by_destination(toy, destinations=["CRP", "XYZ"])
    fig = viz.applications_by_destination(toy)
    labels = [h.get_label() for h in fig.legends[0].legend_handles]
    assert not any("observed" in lab for lab in labels), labels
    assert "observed" not in fig._suptitle.get_text()
    fig = viz.uk_applications(t["applications"])  # no observed given
    assert not any("observed" in h.get_label() for h in fig.axes[0].get_legend().legend_handles)


def test_a_panel_above_an_empty_slot_shows_its_years_and_the_legend_fits():
    """The toy's DLT panel (above the empty third slot) had no year labels, and its legend
    (a long synthetic-data source in one row of 3) ran past both edges of the figure."""
    from onward.scenario import load_scenario

    sc = load_scenario("toy")
    fig = viz.applications_by_destination(
        onward.simulate(sc, seed=1).applications, viz.observed_claims(sc),
        held_out=sc.calibration.held_out, last_observed=viz.last_observed_year(sc),
        source=viz.observed_label(sc))
    fig.canvas.draw()
    dlt = next(ax for ax in fig.axes if title(ax) == "DLT")
    assert any(t.get_visible() and t.get_text() for t in dlt.get_xticklabels())
    box = fig.legends[0].get_window_extent()
    width = fig.bbox.width
    assert box.x0 >= 0 and box.x1 <= width, (box, width)


def test_figure_arguments_that_cannot_work_are_named(run):
    """movers_vs_stayers(attributes=("skil",)) died in 'Number of columns must be a positive
    integer, not 0'; routes_sankey(stocks, flows) in an AttributeError."""
    _, _, t, _ = run
    with pytest.raises(ValueError, match="none of \\['skil'\\].*Fix: choose among .*skill"):
        viz.movers_vs_stayers(t["profile"], attributes=("skil",))
    with pytest.raises(ValueError, match="flows has no 'flow' column.*in that order"):
        viz.routes_sankey(t["stocks"], t["flows"])


def test_one_destination_is_drawn_large_enough_to_read():
    """A compare of --destination GBR drew one 3.3-inch panel, small on a report's page."""
    rows = [(lab, r, y, "GBR", float(r + y)) for lab in ("base", "alt") for r in range(3)
            for y in range(2005, 2010)]
    values = pd.DataFrame(rows, columns=["label", "replicate", "year", "destination", "value"])
    values["output"] = "applications"
    one = viz.compare_scenarios(values)
    assert one.get_figwidth() >= 6
    two = viz.compare_scenarios(pd.concat([values, values.assign(destination="CAN")]))
    assert two.get_figwidth() == pytest.approx(6.6)


def test_the_uk_total_of_an_ensemble_is_the_median_of_its_replicates_totals():
    """The figure's "simulated N (median)" was the sum of the yearly medians (997 for an
    ensemble whose replicates' totals had median 1,020, the number onward compare gives).
    With replicates it is now the median of their totals; from bands alone it says it is a
    sum of yearly medians."""
    rows = [(0, 2000, 5.0), (0, 2001, 0.0), (0, 2002, 0.0),
            (1, 2000, 0.0), (1, 2001, 5.0), (1, 2002, 0.0),
            (2, 2000, 0.0), (2, 2001, 0.0), (2, 2002, 5.0)]
    values = pd.DataFrame([(r, y, "GBR", v) for r, y, v in rows],
                          columns=["replicate", "year", "destination", "value"])
    values["output"] = "applications"

    def label(sim):
        fig = viz.uk_applications(sim, None, start=2000, last_observed=2002)
        return next(t.get_text() for t in fig.axes[0].texts if "simulated" in t.get_text())

    assert label(values) == ("2000-2002: simulated 5 (median of the replicates' totals)")
    # (each replicate's total is 5; every yearly median is 0)
    assert label(viz.as_bands(values)) == "2000-2002: simulated 0 (sum of the yearly medians)"
    # without observed counts the label claims none ("observed 0" read as a count)


def test_the_uk_total_sums_the_years_that_have_an_observed_row():
    """The note read "2000-2015: observed 1,328, simulated 968", the simulated total taking
    in 2000-02, for which the UK has no observed row. Both now sum the same years."""
    values = pd.DataFrame({"year": [2000, 2001, 2002], "destination": "GBR",
                           "persons": [7, 11, 13]})
    obs = pd.DataFrame({"year": [2001, 2002], "destination": "GBR", "observed": [10, 20],
                        "lower": [10, 20], "upper": [10, 20], "masked": False})
    fig = viz.uk_applications(values, obs, start=2000, last_observed=2002)
    text = next(t.get_text() for t in fig.axes[0].texts if "simulated" in t.get_text())
    assert text == "2001-2002: observed 30, simulated 24"


def test_compare_scenarios_names_the_unit_of_stocks_and_shares():
    """The compare report's axes read "refugee stock per year" and "broker share per
    year": a year-end stock counts persons and a share is 0-1."""
    rows = [(lab, r, y, "GBR", 0.1 * r) for lab in ("base", "alt") for r in range(3)
            for y in range(2005, 2008)]
    values = pd.DataFrame(rows, columns=["label", "replicate", "year", "destination", "value"])
    labels = {}
    for output in ("refugee_stock", "broker_share", "applications"):
        fig = viz.compare_scenarios(values.assign(output=output), output)
        labels[output] = " ".join(a.get_ylabel() for a in fig.axes)
    assert "persons at the year's end" in labels["refugee_stock"]
    assert "share 0-1" in labels["broker_share"]
    assert "persons, per year" in labels["applications"]
    assert not any("stock per year" in t or "share per year" in t for t in labels.values())


def test_applications_by_destination_takes_a_scenarios_own_data():
    """Drawn for toy, the figure used the packaged data's defaults: toy's counts for
    2016-2020 were dropped and shaded 'simulated only (data withheld)', and its made-up
    points labelled 'observed (UNHCR first claims)'. scenario= fills them from the
    scenario (its counts, held-out years, last observed year and source)."""
    import onward

    sc = onward.load_scenario("toy")
    res = onward.simulate(sc, seed=1)
    fig = viz.applications_by_destination(res.applications, scenario="toy")
    labels = " ".join(t.get_text() for leg in fig.legends for t in leg.get_texts())
    assert "UNHCR" not in labels and viz.observed_label(sc) in labels
    years = {float(x) for ax in fig.axes for line in by_gid(ax, "observed")
             for x in line.get_xdata()}
    assert max(years) == viz.last_observed_year(sc) > 2015  # toy's counts run to 2020
    # without scenario= the packaged data's last year (2015) cuts them, as before
    fig = viz.applications_by_destination(res.applications, viz.observed_claims(sc))
    assert max(float(x) for ax in fig.axes for line in by_gid(ax, "observed")
               for x in line.get_xdata()) <= 2015


def test_compare_scenarios_calls_a_masked_count_an_interval():
    """The compare figure's legend said 'observed, masked (1-5)' of intervals such as
    37-47 (an aggregate of countries, one masked); it says an interval, as the others."""
    rows = [(lab, r, y, "OTH", 40.0) for lab in ("base", "alt") for r in range(2)
            for y in (2013, 2014)]
    values = pd.DataFrame(rows, columns=["label", "replicate", "year", "destination", "value"])
    values["output"] = "applications"
    obs = pd.DataFrame({"year": [2014], "destination": ["OTH"], "observed": [47],
                        "lower": [37], "upper": [47], "masked": [True]})
    fig = viz.compare_scenarios(values, observed=obs)
    labels = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    labels += [t.get_text() for ax in fig.axes if ax.get_legend()
               for t in ax.get_legend().get_texts()]
    assert "observed, masked count (an interval)" in labels and not any(
        "(1-5)" in x for x in labels)


def test_route_counts_round_a_half_away_from_zero(monkeypatch):
    """Decisions scaled to a destination's inflow are not whole persons: the diagram's
    labels (format's .0f) and the run report's links table (pandas' round) took a half to
    the even neighbour, 2.5 persons as 2, where every other count shows 3
    (onward.analysis.numbers.count_text)."""
    from onward.report.run import run_sections
    from onward.viz.sankey import draw_sankey

    links = pd.DataFrame({"source": ["GBR", "GBR"], "target": ["recognised", "refused"],
                          "persons": [2.5, 1000.5], "column": [2, 2]})
    fig, ax = plt.subplots()
    draw_sankey(ax, [["GBR"], ["recognised", "refused"]], links, {})
    labels = {t.get_text() for t in ax.texts}
    assert {"recognised  3", "refused  1,001"} <= labels, labels

    monkeypatch.setattr(viz, "route_links", lambda flows, stocks: links)
    monkeypatch.setattr(viz, "routes_sankey", lambda flows, stocks: plt.figure())
    empty = pd.DataFrame()
    routes = next(s for s in run_sections({"flows": empty, "stocks": empty}, {}, None)
                  if s.title == "Routes")
    assert "<td>3</td>" in routes.body and "<td>1,001</td>" in routes.body
