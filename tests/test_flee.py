"""Flee 3.1 folders: strict reading, Flee's rules, and equivalence with stored Flee runs.

The stored runs in tests/data/flee/flee31/ are Flee 3.1's own out.csv tables (see the
README there for how they were made); Flee itself is not needed here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cli_helper import cli

from onward.engine.kernel import Graph
from onward.flee import (
    FleeError,
    flee_metrics,
    flee_validation_figure,
    is_flee_folder,
    read_flee_folder,
    simulate_flee,
    spawn_schedule,
)
from onward.flee.metrics import camp_names
from onward.flee.routes import enumerate_paths
from onward.flee.series import Series, field, merge_tables
from onward.flee.settings import read_settings_text

DATA = Path(__file__).parent / "data" / "flee"
TINY = DATA / "tiny"
MALI = DATA / "mali2012"
REF = DATA / "flee31"
SEED_FREE = ["Date", "refugees in camps (UNHCR)", "total refugees (simulation)",
             "raw UNHCR refugee count", "refugee_debt"]


def flee_runs(name: str) -> list[pd.DataFrame]:
    runs = [pd.read_csv(p) for p in sorted(REF.glob(f"{name}_seed*.csv"))]
    assert len(runs) >= 3, f"stored Flee runs for {name} are missing"
    return runs


@pytest.fixture(scope="module")
def tiny_case():
    return read_flee_folder(TINY)


@pytest.fixture(scope="module")
def mali_case():
    return read_flee_folder(MALI)


@pytest.fixture(scope="module")
def mali_runs(mali_case):
    return [simulate_flee(mali_case, seed=s) for s in (1, 2)]


@pytest.fixture(scope="module")
def tiny_runs(tiny_case):
    return [simulate_flee(tiny_case, seed=s) for s in (1, 2, 3, 4)]


# --- equivalence with Flee 3.1's own runs ------------------------------------------------


@pytest.mark.parametrize("name", ["tiny", "mali2012"])
def test_seed_independent_columns_equal_flee(name, tiny_runs, mali_runs):
    ours = (tiny_runs if name == "tiny" else mali_runs)[0].table
    theirs = flee_runs(name)
    for ref in theirs:  # Flee's seeds agree among themselves on these columns
        cols = SEED_FREE + [c for c in ref.columns if c.endswith(" data")]
        pd.testing.assert_frame_equal(ref[cols], theirs[0][cols])
    ref = theirs[0]
    assert list(ours.columns) == list(ref.columns)
    assert len(ours) == len(ref)
    cols = SEED_FREE + [c for c in ref.columns if c.endswith(" data")]
    for c in cols:
        assert ours[c].astype(str).tolist() == ref[c].astype(str).tolist(), c


@pytest.mark.parametrize("name", ["tiny", "mali2012"])
def test_ard_within_flee_seed_range(name, tiny_runs, mali_runs):
    ours = tiny_runs if name == "tiny" else mali_runs
    theirs = [flee_metrics(t) for t in flee_runs(name)]
    for key in ("ard", "ard_rescaled"):
        lo = min(m[key] for m in theirs) - 0.05
        hi = max(m[key] for m in theirs) + 0.05
        for r in ours:
            v = flee_metrics(r.table)[key]
            assert lo <= v <= hi, (name, key, v, lo, hi)


def test_tiny_camp_counts_follow_flee(tiny_runs):
    """Mean camp counts over days, averaged over seeds, within 8% of Flee's."""
    theirs = flee_runs("tiny")
    for c in camp_names(theirs[0]):
        ref = np.mean([t[f"{c} sim"].mean() for t in theirs])
        ours = np.mean([r.table[f"{c} sim"].mean() for r in tiny_runs])
        assert abs(ours - ref) <= 0.08 * ref, (c, ours, ref)


def test_mali_main_camp_follows_flee(mali_runs):
    theirs = flee_runs("mali2012")
    ref = np.mean([t["Fassala-Mbera sim"].mean() for t in theirs])
    for r in mali_runs:
        assert abs(r.table["Fassala-Mbera sim"].mean() - ref) <= 0.05 * ref
    assert all(r.agents == 14805 for r in mali_runs)  # as Flee 3.1 at day 300


def test_mali_niger_camps_follow_flee(mali_runs):
    """Niamey is fed by agents leaving full camps; it tracks Flee only when an agent that
    frees room in a full camp lets the agents after it in (Flee's one-by-one order)."""
    theirs = flee_runs("mali2012")
    for camp, tol in (("Niamey", 0.12), ("Abala", 0.12)):
        ref = np.mean([t[f"{camp} sim"].mean() for t in theirs])
        ours = np.mean([r.table[f"{camp} sim"].mean() for r in mali_runs])
        assert abs(ours - ref) <= tol * ref, (camp, ours, ref)


# --- the run itself --------------------------------------------------------------------


def test_same_seed_same_table_and_seeds_differ(tiny_case, tiny_runs):
    again = simulate_flee(tiny_case, seed=1)
    pd.testing.assert_frame_equal(again.table, tiny_runs[0].table)
    a, b = tiny_runs[0].table, tiny_runs[1].table
    assert not a["Camp-East sim"].equals(b["Camp-East sim"])


def test_agents_are_conserved(tiny_case, tiny_runs):
    sched = spawn_schedule(tiny_case, 120)
    t = tiny_runs[0].table
    expected = sched.initial.sum() + np.cumsum(sched.new)
    assert (t["total refugees (simulation)"].to_numpy() == expected).all()
    assert (t["refugees in camps (simulation)"] <= t["total refugees (simulation)"]).all()
    assert tiny_runs[0].agents == expected[-1]


def test_days_stops_early(tiny_case, tiny_runs):
    short = simulate_flee(tiny_case, days=30, seed=1)
    assert len(short.table) == 30
    pd.testing.assert_frame_equal(short.table, tiny_runs[0].table.iloc[:30])


def test_closed_border_keeps_agents_out(tiny_case, tiny_runs):
    """Aland-Carpathia is closed until day 25: Camp-South (Carpathia) keeps its 20 day-0
    agents, who cannot leave either, until the border opens."""
    for r in tiny_runs:
        t = r.table
        assert (t["Camp-South sim"].iloc[:25] == 20).all()
        assert t["Camp-South sim"].iloc[60] > 20


def test_awareness_zero_moves_nobody(tiny_case):
    from dataclasses import replace

    s = replace(tiny_case.settings, awareness_level=0)
    case = replace(tiny_case, settings=s)
    t = simulate_flee(case, days=15, seed=1).table
    assert (t["refugees in camps (simulation)"] == t["refugees in camps (simulation)"][0]).all()


# --- reading ---------------------------------------------------------------------------


def test_reader_applies_flee_rules(mali_case, tiny_case):
    c = mali_case
    assert is_flee_folder(MALI) and not is_flee_folder(DATA)
    assert [c.loc_names[i] for i in c.camps][:2] == ["Fassala-Mbera", "Mentao"]
    gao = c.index("Gao")  # conflict_zone with conflict_date 23: a town until then
    assert c.is_town[gao] and c.conflict[gao] < 0
    assert c.pop[c.index("Bamako")] == 1809106 // 10  # hasten 10
    assert c.capacity[c.index("Abala")] == 11387 // 10
    assert any("capacity_scaling" in w for w in c.warnings)
    t = tiny_case
    dovo, gila = t.index("Dovo"), t.index("Gila")
    g = t.graph
    to_gila = g.indices[g.indptr[dovo]:g.indptr[dovo + 1]] == gila
    assert to_gila.sum() == 2  # forced_redirection 1: linked twice
    assert any("Nowhere" in w for w in t.warnings)
    assert t.conflict_cols.count(-1) == 1


def test_series_rules():
    s = Series("x", np.array([-3.0, 0.0, 10.0]), np.array([5.0, 0.0, 25.0]))
    assert field(s, np.array([-10, -3, 0, 1, 4, 10, 99])).tolist() == [5, 5, 0, 2, 10, 25, 25]
    # AddCSVTables: a second-file point between two first-file dates joins the next value;
    # second-file points after the first file's last date are dropped
    d, v = merge_tables(np.array([0.0, 10.0, 20.0]), np.array([1.0, 2.0, 3.0]),
                        np.array([0.0, 5.0, 30.0]), np.array([10.0, 20.0, 40.0]))
    assert d.tolist() == [0.0, 5.0, 10.0, 20.0]
    assert v.tolist() == [11.0, 22.0, 22.0, 23.0]


def test_paths_with_markers_and_awareness():
    # 0 - 1(marker) - 2 - 3
    g = Graph.from_edges(4, [0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2], [1.0, 1, 2, 2, 4, 4])
    marker = np.array([False, True, False, False])
    p = enumerate_paths(g, np.ones(6, bool), marker, awareness=1)
    routes = [p.nodes[k, :p.length[k]].tolist() for k in range(p.graph.indptr[0],
                                                                 p.graph.indptr[1])]
    assert routes == [[1, 2]]  # a marker is passed through, not a destination
    assert p.graph.distance[p.graph.indptr[0]] == 3.0
    p2 = enumerate_paths(g, np.ones(6, bool), marker, awareness=2)
    routes2 = [p2.nodes[k, :p2.length[k]].tolist() for k in range(p2.graph.indptr[0],
                                                                   p2.graph.indptr[1])]
    assert routes2 == [[1, 2], [1, 2, 3]]


@pytest.mark.parametrize("edit, expected", [
    (("input_csv/locations.csv", "Cimo,R2,Aland,11,10.5,town,,20000",
      "Cimo,R2,Aland,11,10.5,town,,20k"),
     "input_csv/locations.csv:4: population: '20k' is not a whole number"),
    (("input_csv/routes.csv", "Ardo,Cimo,120,0", "Ardo,Cimmo,120,0"),
     "input_csv/routes.csv:2: name2: 'Cimmo' is not in locations.csv"),
    (("input_csv/locations.csv", "Gila,R4,Aland,12.5,12,town,,", "Gila,R4,Aland,12.5,12,city,,"),
     "input_csv/locations.csv:8: location_type: 'city' is not a Flee location type"),
    (("source_data/data_layout.csv", "Camp-West,camp-west.csv\n", ""),
     "Camp-West: the camp has no series row"),
    (("input_csv/registration_corrections.csv", "2020-03-01", "2020-03-02"),
     "input_csv/registration_corrections.csv:1: date: 2020-03-02 is not a date"),
    (("source_data/camp-north.csv", "2020-03-01,700", "2020-03-01,7.5e2"),
     "source_data/camp-north.csv:3: value: '7.5e2' is not a whole number"),
    (("simsetting.yml", "  start_on_foot: True", "  start_on_foot: True\n"
      "  ChildrenAvoidHazards: True"),
     "simsetting.yml:19: ChildrenAvoidHazards: needs per-agent ages"),
    (("simsetting.yml", "  avoid_short_stints: True", "  avoid_short_stints: 'false'"),
     "simsetting.yml:17: avoid_short_stints: 'false' is not true or false"),
    (("simsetting.yml", "optimisations:", "flood_rules:\n  max_flood_level: 3\noptimisations:"),
     "simsetting.yml:19: flood_rules: flood-driven rules are not supported"),
    (("input_csv/sim_period.csv", "StartDate,2020-01-01", "StartDate,29/02/2012"),
     "input_csv/sim_period.csv:1: StartDate: '29/02/2012' is not a date"),
    # impossible numbers ran, or died in NumPy ("pvals < 0, pvals > 1 or pvals contains NaNs")
    (("input_csv/locations.csv", "Cimo,R2,Aland,11,10.5,town,,20000",
      "Cimo,R2,Aland,11,10.5,town,,-20000"),
     "input_csv/locations.csv:4: population: -20000 is negative (a population counts persons)"),
    (("input_csv/locations.csv", "Camp-East,B2,Borduria,13,13,camp,,5000",
      "Camp-East,B2,Borduria,13,13,camp,,-5000"),
     "input_csv/locations.csv:10: population: -5000 is negative "
     "(a camp's capacity counts persons)"),
    (("source_data/camp-north.csv", "2020-03-01,700", "2020-03-01,-700"),
     "source_data/camp-north.csv:3: value: -700 is a negative count"),
    (("simsetting.yml", "camp_weight: 3.0", "camp_weight: -3.0"),
     "simsetting.yml:12: move_rules.camp_weight: -3.0 is not a weight >= 0"),
    (("simsetting.yml", "default_movechance: 0.4", "default_movechance: .nan"),
     "simsetting.yml:16: move_rules.default_movechance: nan is not a chance between 0 and 1"),
    (("simsetting.yml", "max_move_speed: 150.0", "max_move_speed: -200.0"),
     "simsetting.yml:10: move_rules.max_move_speed: -200.0 is not a speed > 0"),
    # a blank line inside conflicts.csv would shift the days (one at the end is ignored)
    (("input_csv/conflicts.csv", "1,1,0,0,0\n", "1,1,0,0,0\n\n"),
     "input_csv/conflicts.csv:4: row: is blank"),
    # a field missing or one too many shifted the values after it into other columns:
    # blamed on location_type, or run with a population of 54 (an unquoted "54,453")
    (("input_csv/locations.csv", "Ardo,R1,Aland,10,10,conflict_zone,0,50000",
      "Ardo,R1,Aland,10,conflict_zone,0,50000"),
     "input_csv/locations.csv:2: row: has 7 fields, needs 8"),
    (("input_csv/locations.csv", "Ardo,R1,Aland,10,10,conflict_zone,0,50000",
      "Ardo,R1,Aland,10,10,conflict_zone,0,50,000"),
     "input_csv/locations.csv:2: row: has 9 fields where the header (line 1) has 8: one "
     "too many. Fix: a number written with a thousands comma splits in two"),
    # column names without Flee's '#': "population: 'population' is not a whole number"
    (("input_csv/locations.csv", "#name,", "name,"),
     "input_csv/locations.csv:1: header: this line names the columns but does not start "
     "with #"),
    # separated by ';' (a European spreadsheet): one message, not one per line
    (("input_csv/routes.csv", "Ardo,Cimo,120,0", "Ardo;Cimo;120;0"),
     "input_csv/routes.csv:2: row: is separated by ';' (Flee 3.1 reads commas)"),
    # registration corrections separated by ';' were skipped as one-field rows: the
    # corrections were dropped without a word
    (("input_csv/registration_corrections.csv", "Camp-East,2020-03-01,normalize",
      "Camp-East;2020-03-01;normalize"),
     "input_csv/registration_corrections.csv:1: row: is separated by ';'"),
    # conflicts.csv separated by ';' read as one column named '#Day;Ardo;...': every
    # conflict column was lost without a word
    (("input_csv/conflicts.csv", "#Day,Ardo,Bexa,Nowhere,Cimo,", "#Day;Ardo;Bexa;Nowhere;Cimo;"),
     "input_csv/conflicts.csv:1: row: is separated by ';'"),
    # a thousands comma in a series was read as the part before it (25,281 as 25)
    (("source_data/camp-north.csv", "2020-03-01,700", "2020-03-01,1,700"),
     "source_data/camp-north.csv:3: value: 1,700 is a number written with a thousands "
     "comma, which splits in two (Flee 3.1 would read 1). Fix: write it without the comma "
     "(1700, not 1,700)"),
    # a latitude that is not a number passed (Flee 3.1 crashes on float())
    (("input_csv/locations.csv", "Cimo,R2,Aland,11,10.5,town,,20000",
      "Cimo,R2,Aland,abc,10.5,town,,20000"),
     "input_csv/locations.csv:4: latitude: 'abc' is not a number"),
    # not UTF-8 (a file saved as Latin-1): the decoder's message named no file
    (("source_data/camp-north.csv", "2020-01-01,100", "# Sé\udce9gou\n2020-01-01,100"),
     "source_data/camp-north.csv:1: file: not UTF-8 text"),
])
def test_bad_folders_are_refused_with_file_line_field_fix(tmp_path, edit, expected):
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    path, old, new = edit
    f = folder / path
    text = f.read_text()
    assert old in text
    f.write_bytes(text.replace(old, new).encode("utf-8", "surrogateescape"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    msg = str(exc.value)
    assert expected in msg, msg
    assert "Fix:" in msg


def test_errors_of_independent_files_are_named_in_one_pass(tmp_path):
    """Problems were reported one stage at a time (fix simsetting.yml, run again, then
    locations.csv, then ...). Errors of independent files now come together; what follows
    from a refused row (routes naming the location of a refused row) is not reported."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    edits = [("simsetting.yml", "camp_weight: 3.0", "camp_weight: -3.0"),
             ("input_csv/locations.csv", "Cimo,R2,Aland,11,10.5,town,,20000",
              "Cimo,R2,Aland,11,10.5,town,20000"),
             ("input_csv/routes.csv", "Ardo,Cimo,120,0", "Ardo,Dovo,12o,0"),
             ("input_csv/closures.csv", "location,Gila,,30,45", "location,Gila,,3O,45"),
             ("input_csv/conflicts.csv", "1,1,0,0,0\n", "1,1,x,0,0\n"),
             ("source_data/camp-north.csv", "2020-03-01,700", "2020-03-01,7.5e2")]
    for path, old, new in edits:
        f = folder / path
        assert old in f.read_text()
        f.write_text(f.read_text().replace(old, new, 1))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    files = [m.split(":")[0] for m in exc.value.messages]
    assert files == [path for path, _, _ in edits], exc.value.messages
    # a bad StartDate: the series (whose dates count from it) are not read, the rest is
    sp = folder / "input_csv" / "sim_period.csv"
    sp.write_text(sp.read_text().replace("2020-01-01", "2020-13-01"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    files = [m.split(":")[0] for m in exc.value.messages]
    assert files == ["simsetting.yml", "input_csv/sim_period.csv"] + [
        path for path, _, _ in edits[1:-1]], exc.value.messages


def test_a_byte_order_mark_and_trailing_blank_lines_are_read_as_flee_reads_the_file(
        tmp_path, tiny_case):
    """Excel's "CSV UTF-8" starts each file with a byte-order mark, which was read as part
    of the first cell (sim_period.csv: "StartDate: missing"); it is skipped. Blank lines at
    the end of conflicts.csv are ignored. The case reads as the untouched one."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    for f in [*folder.glob("input_csv/*.csv"), *folder.glob("source_data/*.csv"),
              folder / "simsetting.yml"]:
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    conflicts = folder / "input_csv" / "conflicts.csv"
    conflicts.write_text(conflicts.read_text(encoding="utf-8-sig") + "\n\n")
    case = read_flee_folder(folder)
    assert case.loc_names == tiny_case.loc_names
    assert np.array_equal(case.conflict_values, tiny_case.conflict_values)
    assert case.start == tiny_case.start


def test_an_empty_field_in_data_layout_is_ignored_at_the_end_and_named_elsewhere(
        tmp_path, tiny_case):
    """A trailing comma on a data_layout.csv row (Excel writes one) was read as a file
    named '' ("cannot use .../source_data: Is a directory", no file:line); it is ignored at
    the end of a row and named with its file:line between two files."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    layout = folder / "source_data" / "data_layout.csv"
    text = layout.read_text()
    layout.write_text("".join(line + ",\n" for line in text.splitlines()))
    case = read_flee_folder(folder)
    assert np.array_equal(case.total.values, tiny_case.total.values)
    assert np.array_equal(case.camp_series["Camp-South"].values,
                          tiny_case.camp_series["Camp-South"].values)
    layout.write_text(text.replace("camp-south.csv,camp-south-b.csv",
                                   "camp-south.csv,,camp-south-b.csv"))
    with pytest.raises(FleeError, match=r"data_layout.csv:4: file: a file name is empty"):
        read_flee_folder(folder)


def test_an_empty_field_at_the_end_of_every_location_row_is_accepted(tmp_path, tiny_case):
    """Excel's trailing empty field on every locations.csv row gave one "has 9 fields where
    the header has 8: one too many" per row and a spurious "rows: no locations"; the empty
    field is ignored. A row with a field too many otherwise is still refused, without
    "no locations"."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    locs = folder / "input_csv" / "locations.csv"
    lines = locs.read_text().splitlines()
    locs.write_text(lines[0] + "\n" + "".join(line + ",\n" for line in lines[1:]))
    case = read_flee_folder(folder)
    assert case.loc_names == tiny_case.loc_names
    assert np.array_equal(case.pop, tiny_case.pop)
    assert case.attributes == tiny_case.attributes
    locs.write_text(lines[0] + "\n" + "".join(line + ",x\n" for line in lines[1:]))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert len(exc.value.messages) == len(lines) - 1
    assert "no locations" not in str(exc.value)


def test_days_that_can_never_fire_are_warned(tmp_path):
    """A closure starting outside the period, one ending before it starts and a
    conflict_date after the last day passed without a word; each is warned (not refused:
    Flee 3.1 runs them so)."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    closures = folder / "input_csv" / "closures.csv"
    closures.write_text(closures.read_text() + "location,Cimo,,200,210\n"
                        "location,Dovo,,50,40\n")
    locs = folder / "input_csv" / "locations.csv"
    locs.write_text(locs.read_text().replace("Bexa,R1,Aland,10.5,10.2,conflict_zone,10,",
                                             "Bexa,R1,Aland,10.5,10.2,conflict_zone,500,"))
    warned = "\n".join(read_flee_folder(folder).warnings)
    assert "closures.csv:6: closure_start: day 200 is outside the period (days 0-119" in warned
    assert "closures.csv:7: closure_end: day 40 is before closure_start 50" in warned
    assert "locations.csv:3: conflict_date: 500 is after the last day of the period" in warned
    assert "closures.csv:2" not in warned and "closures.csv:3" not in warned


def test_settings_flee_ignores_are_warned():
    text = ("move_rules:\n  capacity_scaling: 1.0\n  camp_weight: 2\nspawn_rules:\n"
            "  camps_are_sinks: true\n  empty_camps_on_day0: true\nnew_section: 1\n")
    s, warnings = read_settings_text(text)
    assert s.camp_weight == 2.0
    joined = "\n".join(warnings)
    for key in ("capacity_scaling", "camps_are_sinks", "empty_camps_on_day0", "new_section"):
        assert key in joined
    assert "simsetting.yml:2:" in joined


def test_too_few_conflict_rows_is_refused(tiny_case):
    with pytest.raises(FleeError, match="conflicts.csv:.*Fix"):
        simulate_flee(tiny_case, days=500)


# --- metrics and figure ----------------------------------------------------------------


def test_metrics_match_definitions():
    t = pd.DataFrame({"A sim": [3, 0], "A data": [1, 2], "B sim": [1, 4], "B data": [3, 2],
                      "refugees in camps (UNHCR)": [4, 4],
                      "refugees in camps (simulation)": [4, 4], "Total error": [0.1, 0.3]})
    m = flee_metrics(t)
    assert m["ard"] == pytest.approx(np.mean([4 / 4, 4 / 4]))
    assert m["ard_rescaled"] == pytest.approx(1.0)
    assert m["total_error_mean"] == pytest.approx(0.2)
    assert m["mase"] is None  # too few days for the day-7 naive forecast


def test_flee_metrics_reproduce_flee_postprocessing_on_stored_run():
    """Recompute Flee's 'Error (normal)' by hand from the stored out.csv."""
    t = flee_runs("tiny")[0]
    names = camp_names(t)
    diff = sum((t[f"{c} sim"] - t[f"{c} data"]).abs() for c in names)
    ard = (diff / np.maximum(t["refugees in camps (UNHCR)"], 1)).mean()
    assert flee_metrics(t)["ard"] == pytest.approx(ard)


def test_validation_figure(tiny_runs):
    fig = flee_validation_figure(tiny_runs[0].table, title="tiny",
                                 references=flee_runs("tiny"))
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(tiny_runs[0].camp_names) + 1
    assert visible[0].get_title() == "Camp-North"
    assert "relative difference" in visible[-1].get_title()


# --- command line ----------------------------------------------------------------------


def test_cli_runs_a_flee_folder_as_json(tmp_path):
    proc = cli("run", str(TINY), "--json", "--days", "20", "--store",
               str(tmp_path / "s.duckdb"), cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert list(payload) == ["run_id", "report", "seed", "case", "days", "agents",
                             "engine_seconds", "ard", "ard_rescaled", "mase",
                             "total_error_mean", "per_camp", "warnings"]
    assert payload["run_id"] == "run-0001" and payload["seed"] == 1
    assert (tmp_path / payload["report"]).is_file()
    assert payload["case"] == "tiny" and payload["days"] == 20
    assert set(payload["per_camp"]) == {"Camp-North", "Camp-East", "Camp-South", "Camp-West"}
    assert "sum_from_camps" in proc.stderr  # ignored settings are named, on stderr
    # ... and in the JSON (they reached neither it nor the report)
    assert any("sum_from_camps" in w for w in payload["warnings"])
    assert "sum_from_camps" in (tmp_path / payload["report"]).read_text()

    from onward.store import Store

    runs = Store(tmp_path / "s.duckdb").list_runs()
    assert len(runs) == 1
    # hashed as a scenario is: the first 16 hex digits of a SHA-256 (the README's words)
    assert len(runs.scenario_hash.iloc[0]) == 16
    camps = Store(tmp_path / "s.duckdb").read_table("flee_camps")
    assert len(camps) == 20 * 4 and set(camps.columns) >= {"day", "camp", "simulated", "observed"}
    from onward.flee.summary import wide_table

    wide = wide_table(camps, Store(tmp_path / "s.duckdb").read_table("flee_totals"))
    m = flee_metrics(wide)
    assert m["ard"] == pytest.approx(payload["ard"])
    assert m["ard_rescaled"] == pytest.approx(payload["ard_rescaled"])


def test_warnings_are_shown_with_the_errors_of_a_refused_folder(tmp_path):
    """When a folder was refused, the warnings found before (a misspelt key that may
    explain the error) were not shown."""
    folder = tmp_path / "bad"
    shutil.copytree(TINY, folder)
    sset = folder / "simsetting.yml"
    sset.write_text(sset.read_text().replace("camp_weight:", "camp_weigth:"))
    routes = folder / "input_csv" / "routes.csv"
    routes.write_text(routes.read_text().replace("Ardo,Cimo,120,0", "Ardo,Cimmo,120,0"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert any("did you mean camp_weight?" in w for w in exc.value.warnings)
    for cmd in ("run", "validate"):
        proc = cli(cmd, str(folder), cwd=tmp_path, check=False)
        text = " ".join(proc.stderr.split())
        assert proc.returncode == 2
        assert "did you mean camp_weight?" in text and "'Cimmo' is not in" in text, text


def test_cli_refuses_bad_flee_folder(tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(TINY, folder)
    (folder / "simsetting.yml").write_text("move_rules:\n  stay_close_to_home: true\n")
    proc = cli("run", str(folder), "--json", "--store", str(tmp_path / "s.duckdb"),
               cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "simsetting.yml:2: stay_close_to_home" in proc.stderr
    assert proc.stdout == ""


def test_over_time_table(tiny_runs):
    from onward.flee.summary import over_time

    t = tiny_runs[0].table
    ot = over_time(t, every=30)
    assert ot["day"].tolist() == [0, 30, 60, 90, 119]
    row = ot.iloc[1]
    assert row["Camp-East"] == f"{t['Camp-East sim'][30]}/{t['Camp-East data'][30]}"


def test_other_commands_say_what_a_flee_folder_is(tmp_path):
    """Every command but run called a Flee folder "no such scenario file", and so did run
    for a folder missing input_csv/. validate checks a Flee folder as run reads it; the
    others name it as a Flee folder; a half folder says what it lacks."""
    ok = cli("validate", str(TINY), cwd=tmp_path)
    assert ok.stdout.startswith(f"ok {TINY}: Flee 3.1 folder 'tiny', 11 locations, 4 camps")
    bad = cli("ensemble", str(TINY), "-n", "1", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "is a Flee 3.1 folder" in bad.stderr
    half = tmp_path / "half"
    (half / "source_data").mkdir(parents=True)
    bad = cli("run", str(half), cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "lacks input_csv/" in " ".join(bad.stderr.split())


def test_validate_and_run_say_they_take_a_flee_folder(tmp_path):
    """`onward validate --help` said 'scenario YAML file or built-in name', and a path that
    does not exist listed the built-in scenarios but not a Flee folder."""
    helptext = " ".join(cli("validate", "--help", cwd=tmp_path).stdout.split())
    assert "built-in name or Flee 3.1 folder" in helptext
    for cmd in ("validate", "run"):
        proc = cli(cmd, str(tmp_path / "nowhere"), cwd=tmp_path, check=False)
        text = " ".join(proc.stderr.split())
        assert proc.returncode == 2 and "no such scenario file" in text
        assert "or give a Flee 3.1 folder (a directory holding input_csv/ and source_data/)" \
            in text, text


def test_a_bad_start_date_is_named_once(tmp_path):
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    f = folder / "input_csv" / "sim_period.csv"
    f.write_text(f.read_text().replace("StartDate,2020-01-01", "StartDate,29/02/2012"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert exc.value.messages == ["input_csv/sim_period.csv:1: StartDate: '29/02/2012' is not "
                                  "a date YYYY-MM-DD. Fix: write StartDate,2012-02-29"]


@pytest.mark.parametrize("args, expected", [(["--days", "0"], "--days 0: give a number"),
                                            (["--seed", "-1"], "--seed -1: give a whole")])
def test_run_options_of_a_flee_folder_are_named(tmp_path, args, expected):
    proc = cli("run", str(TINY), *args, cwd=tmp_path, check=False)
    assert proc.returncode == 2 and expected in proc.stderr


def test_routes_as_one_line_per_empty_file_and_semicolons(tmp_path):
    """A routes.csv with only its header line, and one separated by ';' throughout (35
    identical errors before: one now), are refused; an empty simsetting.yml and a misspelt
    key are warned about, with the key Flee reads."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    routes = folder / "input_csv" / "routes.csv"
    text = routes.read_text()
    routes.write_text(text.splitlines()[0] + "\n")
    with pytest.raises(FleeError, match="routes.csv:1: rows: no links"):
        read_flee_folder(folder)
    routes.write_text(text.replace(",", ";"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert len(exc.value.messages) == 1 and "separated by ';'" in str(exc.value)
    routes.write_text(text)
    (folder / "simsetting.yml").write_text("")
    warned = "\n".join(read_flee_folder(folder).warnings)
    assert "simsetting.yml:1: simsetting: is empty" in warned
    _, w = read_settings_text("move_rules:\n  camp_wieght: 3\n")
    assert w == ["simsetting.yml:2: move_rules.camp_wieght: not read by Flee 3.1; ignored "
                 "(did you mean camp_weight?)"]


@pytest.mark.parametrize("path", ["source_data/camp-north.csv", "source_data/data_layout.csv",
                                  "input_csv/sim_period.csv"])
def test_a_file_separated_by_semicolons_is_named_as_such(tmp_path, path):
    """A series file, data_layout.csv or sim_period.csv separated by ';' was refused as
    "no data rows", "no 'total' row" or "StartDate: missing"; it is named as separated by
    ';', with that message alone."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    f = folder / path
    f.write_text(f.read_text().replace(",", ";"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert exc.value.messages == [f"{path}:1: row: is separated by ';' (Flee 3.1 reads "
                                  "commas), as are any later rows like it. Fix: save the "
                                  "file as CSV with commas (in Excel: CSV UTF-8, comma "
                                  "delimited)"]


def test_a_misspelt_section_and_a_second_layout_row_say_what_is_not_used(tmp_path):
    """`move_rule:` for `move_rules:` gave one "did you mean" and ran every move rule at
    its default without saying so; a camp's second data_layout.csv row was ignored without a
    word (the first is used, as in Flee 3.1)."""
    _, w = read_settings_text("move_rule:\n  camp_weight: 3\n  max_move_speed: 200\n")
    assert w == ["simsetting.yml:1: move_rule: not read by Flee 3.1; ignored (did you mean "
                 "move_rules?); so its 2 setting(s) (camp_weight, max_move_speed) are not "
                 "applied and take Flee 3.1's defaults"]
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    layout = folder / "source_data" / "data_layout.csv"
    layout.write_text(layout.read_text() + "Camp-North,camp-east.csv\n")
    case = read_flee_folder(folder)
    assert "source_data/data_layout.csv:6: Camp-North: is also on line 2; only that first " \
        "row's series is used" in case.warnings
    assert case.camp_series["Camp-North"].values[-1] == 800  # camp-north.csv's, not camp-east.csv's
    # the second row's file is not read: a file nothing uses does not refuse the folder
    layout.write_text(layout.read_text() + "Camp-East,no-such-file.csv\n")
    assert "no-such-file" not in " ".join(read_flee_folder(folder).warnings)


def test_a_folder_given_as_dot_is_named_by_its_directory(monkeypatch):
    """`onward run .` gave the case an empty name (title ': 3 days', scenario 'flee:')."""
    monkeypatch.chdir(TINY)
    assert read_flee_folder(".").name == "tiny"


def test_messages_are_text_not_rich_markup_or_emoji(tmp_path):
    """conflicts.csv:100: printed as an emoji (:100:), and a country '[bold]Niger' in a
    warning was read as markup ('Niger[/]' crashed with a MarkupError traceback)."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    conflicts = folder / "input_csv" / "conflicts.csv"
    rows = conflicts.read_text().splitlines()
    conflicts.write_text("\n".join(rows[:1] + [f"{d},1,0,1,0" for d in range(99)]) + "\n")
    closures = folder / "input_csv" / "closures.csv"
    closures.write_text(closures.read_text() + "country,Aland,Niger[/],0,5\n")
    proc = cli("run", str(folder), "--days", "150", "--store", str(tmp_path / "s.duckdb"),
               cwd=tmp_path, check=False)
    assert "Traceback" not in proc.stderr and "MarkupError" not in proc.stderr, proc.stderr
    assert "Niger[/]" in proc.stderr, proc.stderr
    assert "conflicts.csv:100" in proc.stderr.replace("\n", "") or \
        ":100" in proc.stderr, proc.stderr
    assert "\U0001f4af" not in proc.stderr


def test_export_writes_flees_out_csv(tmp_path):
    """The command line wrote only the tidy flee_camps/flee_totals tables; FabFlee's
    plotting scripts read Flee's out.csv. Same columns as Flee 3.1's own, in its order,
    and each camp's error as Flee computes it."""
    store = str(tmp_path / "s.duckdb")
    cli("run", str(DATA / "mali2012"), "--days", "30", "--no-report", "--store", store,
        cwd=tmp_path)
    proc = cli("export", "latest", "--format", "csv", "--out", str(tmp_path / "x"), "--store",
               store, cwd=tmp_path)
    assert "out.csv" in proc.stdout
    ours = pd.read_csv(tmp_path / "x" / "out.csv")
    flee = pd.read_csv(DATA / "flee31" / "mali2012_seed1.csv")
    assert list(ours.columns) == list(flee.columns)
    assert len(ours) == 30 and (ours["Date"].iloc[0] == flee["Date"].iloc[0])
    for camp in camp_names(ours):
        sim, data = ours[f"{camp} sim"], ours[f"{camp} data"]
        want = np.where(data > 0, (sim - data).abs() / data.where(data > 0, 1), 0.0)
        assert np.allclose(ours[f"{camp} error"], want, atol=5e-5)
    # the seed-independent columns equal Flee's on the same days
    for col in ("refugees in camps (UNHCR)", "raw UNHCR refugee count"):
        assert ours[col].tolist() == flee[col].iloc[:30].tolist()


def test_validate_refuses_what_run_would_refuse(tmp_path):
    """`onward validate` said ok to a folder whose conflicts.csv has fewer rows than the
    period's days, which `onward run` refuses (Flee 3.1 crashes); a file of a folder given
    to validate was read as a YAML scenario."""
    folder = tmp_path / "short"
    shutil.copytree(TINY, folder)
    conflicts = folder / "input_csv" / "conflicts.csv"
    conflicts.write_text("\n".join(conflicts.read_text().splitlines()[:20]) + "\n")
    proc = cli("validate", str(folder), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "conflicts.csv:20: rows: 19 days of conflicts for a" in " ".join(proc.stderr.split())
    one = cli("validate", str(folder / "input_csv" / "locations.csv"), cwd=tmp_path,
              check=False)
    assert one.returncode == 2 and "validate the folder" in " ".join(one.stderr.split())
    assert "YAML" not in one.stderr


def test_a_series_with_a_third_column_named_in_its_header_is_read(tmp_path):
    """The thousands-comma check refused a series whose header names a third column
    (Date,refugees,capacity; 2020-03-01,700,900 read as '700,900'), which Flee 3.1 reads
    (row[1]); a third field is suspected only beyond the header's columns."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    f = folder / "source_data" / "camp-north.csv"
    rows = f.read_text().splitlines()
    f.write_text("\n".join(["Date,refugees,capacity"] + [r + ",900" for r in rows]) + "\n")
    case, plain = read_flee_folder(folder), read_flee_folder(TINY)
    assert repr(case.camp_series) == repr(plain.camp_series)


def test_a_bad_latitude_does_not_hide_the_other_files_name_errors(tmp_path):
    """Any error in locations.csv, even one that keeps its location (a latitude 'abc'),
    turned off every 'not in locations.csv' check of routes.csv, closures.csv and
    conflicts.csv, so a second run found the next typo. Only names that may be those of
    refused rows are spared now."""
    folder = tmp_path / "case"
    shutil.copytree(TINY, folder)
    locs = folder / "input_csv" / "locations.csv"
    locs.write_text(locs.read_text().replace("Cimo,R2,Aland,11,10.5", "Cimo,R2,Aland,abc,10.5"))
    routes = folder / "input_csv" / "routes.csv"
    routes.write_text(routes.read_text().replace("Ardo,Cimo,120,0", "Ardo,Cimmo,120,0"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    text = "\n".join(exc.value.messages)
    assert "locations.csv:4: latitude: 'abc' is not a number" in text
    assert "routes.csv:2: name2: 'Cimmo' is not in locations.csv" in text
    # a refused row's name is not reported again as missing where it is used
    locs.write_text(locs.read_text().replace("Cimo,R2,Aland,abc,10.5,town,,20000",
                                             "Cimo,R2,Aland,11,10.5,town,,20k,extra,more"))
    routes.write_text(routes.read_text().replace("Cimmo", "Cimo"))
    with pytest.raises(FleeError) as exc:
        read_flee_folder(folder)
    assert not any("'Cimo' is not in locations.csv" in m for m in exc.value.messages)
