"""Tests for the packaged real-data API :mod:`onward.data`.

The expected numbers come from ``PROVENANCE.md`` (headline checks) or are recomputed
here from the raw CSV files without going through :mod:`onward.data`.
"""

from __future__ import annotations

import csv
import dataclasses
import re
from collections import defaultdict
from importlib.resources import files

import pandas as pd
import pytest

from onward import data

TABLES_DIR = files("onward.data") / "tables"
ALL_NAMES = {
    "mou_arrivals",
    "unhcr_applications",
    "unhcr_applications_by_year_country",
    "unhcr_decisions",
    "unhcr_refugees",
    "ukho_applications",
    "ukho_initial_decisions",
    "ukho_grant_rates",
    "policy_events",
    "integration_indicators",
    "onward_indicators",
}


def _raw_rows(filename: str) -> list[dict[str, str]]:
    """Read a packaged CSV with the csv module, independently of onward.data."""
    with (TABLES_DIR / filename).open("r", encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _raw_claims(app_types: tuple[str, ...] = ("N", "V")) -> dict[tuple[int, str], list[int]]:
    """(year, iso3) -> values of the raw application rows of ``app_types`` (new claims)."""
    out: dict[tuple[int, str], list[int]] = defaultdict(list)
    for row in _raw_rows("unhcr_prk_asylum_applications.csv"):
        if row["app_type"] in app_types:
            out[(int(row["year"]), row["country_of_asylum_iso3"])].append(int(row["applications"]))
    return out


def _raw_new_claims() -> dict[tuple[int, str], list[int]]:
    return _raw_claims(("N", "V"))


# --------------------------------------------------------------------------- catalogue


def test_catalogue_names() -> None:
    assert set(data.TABLES) == ALL_NAMES
    for name, info in data.TABLES.items():
        assert info.name == name


def test_every_csv_is_catalogued_and_vice_versa() -> None:
    on_disk = {p.name for p in TABLES_DIR.iterdir() if p.name.endswith(".csv")}
    catalogued = {info.filename for info in data.TABLES.values()}
    assert on_disk == catalogued
    assert len(catalogued) == len(data.TABLES)  # no two names share a file


def test_table_info_is_frozen() -> None:
    info = data.TABLES["mou_arrivals"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.licence = "other"  # type: ignore[misc]


def test_licences() -> None:
    for name, info in data.TABLES.items():
        assert info.licence and info.source and info.coverage and info.title
        if name.startswith("unhcr_"):
            assert "CC BY 4.0" in info.licence
        elif name.startswith("ukho_"):
            assert "OGL v3.0" in info.licence
    assert "KOGL" in data.TABLES["mou_arrivals"].licence


def test_list_tables_row_counts_match_provenance() -> None:
    tables = data.list_tables()
    assert list(tables.columns) == ["name", "title", "rows", "coverage", "licence", "source"]
    assert set(tables["name"]) == ALL_NAMES
    # The Files table of PROVENANCE.md: | `file.csv` | rows | coverage | origin |
    documented = {
        m.group(1): int(m.group(2))
        for m in re.finditer(r"^\| `([\w.]+\.csv)` \| (\d+) \|", data.provenance(), re.M)
    }
    assert len(documented) == len(ALL_NAMES)
    by_file = {
        data.TABLES[n].filename: r for n, r in zip(tables["name"], tables["rows"], strict=True)
    }
    assert by_file == documented


def test_provenance_text() -> None:
    text = data.provenance()
    assert text.startswith("# Real-world data")
    assert "Headline checks" in text


def test_load_returns_copies() -> None:
    first = data.load("mou_arrivals")
    original = first.copy()
    first.loc[:, "arrivals"] = -1
    first["extra"] = 1
    again = data.load("mou_arrivals")
    pd.testing.assert_frame_equal(again, original)
    assert data.load("mou_arrivals") is not data.load("mou_arrivals")


def test_load_keeps_unhcr_na_codes() -> None:
    raw = data.load("unhcr_applications")
    assert "NA" in set(raw["app_type"])  # new+appeal code, not a missing value
    assert "NA" in set(raw["dec_level"])
    assert not raw["applications"].isna().any()
    mou = data.load("mou_arrivals")
    assert mou["male"].isna().sum() == 4  # empty cells are still missing


def test_unknown_table() -> None:
    with pytest.raises(data.UnknownTableError) as info:
        data.load("no_such_table")
    assert isinstance(info.value, KeyError)
    message = str(info.value)
    assert "no_such_table" in message
    for name in ALL_NAMES:
        assert name in message
    with pytest.raises(KeyError):
        data.load("MOU_ARRIVALS")


# --------------------------------------------------------------------------- MOU arrivals


def test_initial_population() -> None:
    assert data.initial_population() == {
        "total": 947,
        "male": 831,
        "female": 116,
        "through_year": 1998,
    }


def test_arrivals_years_and_columns() -> None:
    df = data.arrivals()
    assert list(df.columns) == ["year", "arrivals", "male", "female", "female_share"]
    assert df["year"].tolist() == list(range(1999, 2026))  # 1998 excluded, no aggregate rows
    assert (df["male"] + df["female"] == df["arrivals"]).all()
    assert (df["female_share"] == df["female"] / df["arrivals"]).all()


def test_arrivals_1999_2001_split() -> None:
    df = data.arrivals().set_index("year").loc[1999:2001]
    assert df["arrivals"].tolist() == [148, 312, 583]
    assert df["arrivals"].sum() == 1043
    assert df["female"].sum() == 478 and df["male"].sum() == 565
    share = 478 / 1043
    assert (abs(df["female"] - df["arrivals"] * share) <= 1).all()


def test_arrivals_chain_to_2019() -> None:
    df = data.arrivals()
    assert 947 + df.loc[df["year"] <= 2019, "arrivals"].sum() == 33_523


@pytest.mark.parametrize(
    ("year", "total", "male", "female"),
    [
        (2022, 33_882, 9_510, 24_372),
        (2023, 34_078, 9_542, 24_536),
        (2024, 34_314, 9_568, 24_746),
        (2025, 34_537, 9_593, 24_944),
    ],
)
def test_arrivals_chain_to_cumulative_totals(year: int, total: int, male: int, female: int) -> None:
    df = data.arrivals()
    upto = df[df["year"] <= year]
    init = data.initial_population()
    assert init["total"] + upto["arrivals"].sum() == total
    assert init["male"] + upto["male"].sum() == male
    assert init["female"] + upto["female"].sum() == female
    mou = data.load("mou_arrivals")
    row = mou[(mou["period"] == "annual") & (mou["year"] == year)].iloc[0]
    assert int(row["cumulative_total"]) == total


# --------------------------------------------------------------------------- first claims


def test_first_claims_columns_and_dtypes() -> None:
    fc = data.first_claims()
    assert list(fc.columns) == ["year", "destination", "observed", "lower", "upper", "masked"]
    assert fc["masked"].dtype == bool
    for col in ("year", "observed", "lower", "upper"):
        assert fc[col].dtype == "int64"
    assert fc.equals(fc.sort_values(["year", "destination"]).reset_index(drop=True))
    assert not fc.duplicated(["year", "destination"]).any()


def test_uk_first_claims_headline() -> None:
    uk = data.first_claims(["GBR"], years=range(2000, 2016))
    assert uk["observed"].sum() == 1_328
    assert uk.loc[uk["year"] == 2007, "observed"].item() == 602
    assert uk.loc[uk["year"] == 2008, "observed"].item() == 273
    # all stages in the aggregate file: 1,383
    agg = data.load("unhcr_applications_by_year_country")
    gbr = agg[(agg["country_of_asylum_iso3"] == "GBR") & agg["year"].between(2000, 2015)]
    assert gbr["applications_all_stages"].sum() == 1_383


def test_canada_first_claims_total_and_raw_cross_check() -> None:
    can = data.first_claims(["CAN"], years=range(2000, 2016))
    assert can["observed"].sum() == 1_649
    assert can["lower"].sum() == 1_637  # three masked years (2000-2002) at 1 each
    raw = _raw_new_claims()
    expected = {y: sum(v) for (y, c), v in raw.items() if c == "CAN" and 2000 <= y <= 2015}
    assert dict(zip(can["year"], can["observed"], strict=True)) == expected
    assert sum(expected.values()) == 1_649


def _raw_mixed_claims() -> dict[tuple[int, str], list[int]]:
    """The raw rows that mix new claims with another stage (new+appeal, new+repeat)."""
    return _raw_claims(("NA", "NR"))


def test_first_claims_match_raw_rows_everywhere() -> None:
    fc = data.first_claims().set_index(["year", "destination"])
    raw, mixed = _raw_new_claims(), _raw_mixed_claims()
    for key in raw.keys() | mixed.keys():
        values, extra = raw.get(key, []), mixed.get(key, [])
        cell = fc.loc[key]
        assert cell["observed"] == sum(values)
        assert cell["upper"] == sum(values) + sum(extra)
        assert cell["lower"] == sum(1 if v == 5 else v for v in values)
        assert bool(cell["masked"]) == (5 in values or bool(extra))


def test_a_row_mixing_new_claims_with_appeals_is_the_interval_from_0() -> None:
    # Germany 2006 has one row, new+appeal (NA) printed as 5: its first claims are 0-5,
    # not an observed 0 that a simulated 3 would miss; Austria 2006 (new+repeat) likewise
    fc = data.first_claims(years=[2006]).set_index("destination")
    for iso in ("DEU", "AUT"):
        assert fc.loc[iso, ["observed", "lower", "upper"]].tolist() == [0, 0, 5]
        assert fc.loc[iso, "masked"]
    # and in OTH, which sums Austria with the unnamed others
    oth = data.first_claims(["DEU", "OTH"], years=[2006]).set_index("destination")
    alone = data.first_claims(years=[2006])
    rest = alone[~alone.destination.isin(["DEU", "THA", "PHL", "RUS"])]
    assert oth.loc["OTH", "upper"] == rest.upper.sum()
    assert oth.loc["OTH", "lower"] == rest.lower.sum()


def test_masked_intervals() -> None:
    fc = data.first_claims()
    assert (fc["lower"] <= fc["observed"]).all()
    mixed = fc.set_index(["year", "destination"]).index.isin(list(_raw_mixed_claims()))
    assert mixed.sum() == 2
    assert (fc["observed"] == fc["upper"])[~mixed].all()
    assert (fc["observed"] < fc["upper"])[mixed].all()
    unmasked = fc[~fc["masked"]]
    assert (unmasked["lower"] == unmasked["observed"]).all()
    raw = _raw_new_claims()
    all_masked = {k for k, v in raw.items() if v and all(x == 5 for x in v)}
    assert all_masked  # there are such cells
    cells = fc.set_index(["year", "destination"]).loc[sorted(all_masked)]
    assert cells["masked"].all()
    assert (cells["lower"] < cells["observed"]).all()
    assert (cells["observed"] == cells["upper"]).all()
    assert (cells["upper"] == 5 * cells["lower"]).all()
    # e.g. Canada 2000: one V row printed as 5
    can2000 = fc[(fc["year"] == 2000) & (fc["destination"] == "CAN")]
    assert can2000[["observed", "lower", "upper"]].values.tolist() == [[5, 1, 5]]


def test_no_zero_filling() -> None:
    can = data.first_claims(["CAN"])
    assert set(can["year"]) == {2000, 2001, 2002, *range(2006, 2014)}  # no 2003-05, 2014-15
    everything = data.first_claims()
    agg = data.load("unhcr_applications_by_year_country")
    assert len(everything) == len(agg)  # one row per source cell, none added or dropped
    # a cell whose rows are all appeals still appears, with 0 first claims
    fra = everything[(everything["year"] == 2012) & (everything["destination"] == "FRA")]
    assert fra[["observed", "lower", "upper", "masked"]].values.tolist() == [[0, 0, 0, False]]


def test_other_aggregate_excludes_named_and_transit() -> None:
    named = ["GBR", "CAN"]
    fc = data.first_claims([*named, "OTH"])
    full = data.first_claims()
    assert set(fc["destination"]) == {"GBR", "CAN", "OTH"}
    excluded = {"GBR", "CAN", "THA", "PHL", "RUS"}
    rest = full[~full["destination"].isin(excluded)]
    expected = rest.groupby("year").agg(
        observed=("observed", "sum"),
        lower=("lower", "sum"),
        upper=("upper", "sum"),
        masked=("masked", "any"),
    )
    oth = fc[fc["destination"] == "OTH"].set_index("year")
    pd.testing.assert_frame_equal(
        oth[["observed", "lower", "upper", "masked"]], expected, check_names=False
    )
    # 2002 by hand: CAN 5 (named), DEU 96, NLD 5, PHL 73 (excl.), THA 169 (excl.), USA 5
    assert oth.loc[2002, "observed"] == 96 + 5 + 5
    # named destinations pass through unchanged
    for code in named:
        mine = fc[fc["destination"] == code].reset_index(drop=True)
        theirs = full[full["destination"] == code].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, theirs)
    # the grand total is conserved once the exclusions are added back
    transit = full[full["destination"].isin(["THA", "PHL", "RUS"])]["observed"].sum()
    assert fc["observed"].sum() + transit == full["observed"].sum()


def test_other_excludes_and_code_are_configurable() -> None:
    with_thailand = data.first_claims(["OTH"], years=[2002], other_excludes=())
    assert with_thailand["observed"].item() == 5 + 96 + 5 + 73 + 169 + 5
    rest = data.first_claims(["GBR", "REST"], years=[2007], other_code="REST")
    assert rest["destination"].tolist() == ["GBR", "REST"]
    assert (
        rest["observed"].sum()
        == data.first_claims(years=[2007]).query("destination != 'RUS'")["observed"].sum()
    )


def test_first_claims_years_filter_and_errors() -> None:
    fc = data.first_claims(years=[2007, 2008])
    assert set(fc["year"]) == {2007, 2008}
    assert data.first_claims(years=[1990]).empty
    assert data.first_claims(["JPN"]).empty  # no rows is "no data"
    assert data.first_claims().loc[:, "year"].max() == 2015  # later years held out
    with pytest.raises(TypeError, match="list of ISO3"):
        data.first_claims("GBR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ISO3"):
        data.first_claims(["gbr"])


# --------------------------------------------------------------------------- other series


def test_refugee_stocks() -> None:
    rs = data.refugee_stocks()
    assert list(rs.columns) == ["year", "destination", "refugees", "asylum_seekers"]
    assert rs.loc[rs["year"] == 2015, "refugees"].sum() == 1_094
    gbr = data.refugee_stocks(["GBR"], years=[2014, 2015])
    assert gbr.values.tolist() == [[2014, "GBR", 622, 59], [2015, "GBR", 608, 47]]
    oth = data.refugee_stocks(["GBR", "OTH"], years=[2015])
    assert oth["refugees"].sum() == 1_094 - 72  # Russia excluded from OTH


def test_uk_grant_rates() -> None:
    gr = data.uk_grant_rates()
    assert list(gr.columns) == ["year", "grants", "refusals", "grant_rate"]
    assert gr["year"].tolist() == list(range(2001, 2016))
    assert gr["grants"].sum() == 409 and gr["refusals"].sum() == 429
    raw = data.load("ukho_grant_rates").set_index("year")
    diff = (gr.set_index("year")["grant_rate"] - raw["initial_grant_rate"]).abs()
    assert (diff < 5e-5).all()
    assert data.uk_grant_rates(years=[2009, 2010])["grant_rate"].between(0.07, 0.09).all()


def test_uk_quarterly_applications() -> None:
    q = data.uk_quarterly_applications()
    assert list(q.columns) == ["year", "quarter", "main_applicants", "dependants", "total"]
    assert q["total"].sum() == 1_349
    assert q["main_applicants"].sum() == 919 and q["dependants"].sum() == 430
    assert q.groupby("year")["total"].sum().loc[2007] == 602
    full = data.uk_quarterly_applications(complete=True)
    assert len(full) == 60  # 2001 Q1 .. 2015 Q4
    assert full["total"].sum() == 1_349
    assert len(q) < len(full)
    # first_claims from UNHCR equal Home Office persons where they overlap (e.g. 2007, 2008)
    by_year = q.groupby("year")["total"].sum()
    uk = data.first_claims(["GBR"]).set_index("year")["observed"]
    assert by_year.loc[2007] == uk.loc[2007] and by_year.loc[2008] == uk.loc[2008]


def test_policy_events() -> None:
    ev = data.policy_events()
    expected_cols = ["date", "precision", "year", "month", "day", "country", "event", "source"]
    assert list(ev.columns) == expected_cols
    assert len(ev) == 15
    by_date = ev.set_index("date")
    assert by_date.loc["2004-10-18", ["precision", "year", "month", "day"]].tolist() == [
        "day",
        2004,
        10,
        18,
    ]
    assert by_date.loc["2008", "precision"] == "year"
    assert pd.isna(by_date.loc["2008", "month"]) and pd.isna(by_date.loc["2008", "day"])
    assert by_date.loc["2012-12", "precision"] == "month"
    assert by_date.loc["2012-12", "month"] == 12 and pd.isna(by_date.loc["2012-12", "day"])
    keys = list(zip(ev["year"], ev["month"].fillna(0), ev["day"].fillna(0), strict=True))
    assert keys == sorted(keys)
    assert set(ev["precision"]) == {"year", "month", "day"}


def test_residence_unknown() -> None:
    ru = data.residence_unknown()
    assert list(ru.columns) == ["date", "year", "month", "value", "source"]
    assert ru["date"].tolist() == ["2014-12", "2015-12", "2016-12", "2017-07", "2021"]
    assert ru["value"].tolist() == [815, 815, 888, 886, 869]
    assert pd.isna(ru["month"].iloc[-1]) and ru["month"].iloc[0] == 12
