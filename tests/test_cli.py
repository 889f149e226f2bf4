"""The command line as a user drives it: subprocesses, real files, real store."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helper import SHORT, cli

from onward.scenario import load_scenario, scenario_hash
from onward.store import Store


@pytest.fixture(scope="module")
def flagship_run(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("run")
    proc = cli("run", "--json", "--seed", "3", cwd=cwd)
    return cwd, proc


def test_run_json_is_the_only_stdout(flagship_run):
    cwd, proc = flagship_run
    payload = json.loads(proc.stdout)  # the whole of stdout parses
    assert set(payload) >= {"run_id", "scenario", "seed", "engine_seconds", "applications"}
    assert payload["scenario"] == "nk-onward" and payload["seed"] == 3
    rows = pd.DataFrame(payload["applications"])
    assert set(rows.columns) == {"year", "destination", "simulated", "observed", "lower",
                                 "upper", "held_out"}
    # a masked count carries its interval (UNHCR's printed 5 stands for 1-5)
    masked = rows[(rows.lower != rows.upper) & (rows.observed == 5)]  # one masked row
    assert len(masked) and (masked.lower == 1).all() and (masked.upper == 5).all()
    have = rows[rows.observed.notna()]
    assert (have.lower <= have.observed).all() and (have.observed <= have.upper).all()
    assert rows.year.min() == 1999 and rows.year.max() == 2025
    assert set(rows.destination) == {"GBR", "CAN", "DEU", "NLD", "BEL", "AUS", "NOR", "USA",
                                     "OTH"}
    # observed is the UNHCR first-claims figure where there is a row, null where not
    uk07 = rows[(rows.year == 2007) & (rows.destination == "GBR")].observed.item()
    assert uk07 == 602
    assert rows[rows.year == 2020].observed.isna().all()
    assert (cwd / "onward.duckdb").exists()
    # the selection effect as the text table shows it: means and standardised difference
    skill = payload["selection"]["skill"]
    assert set(skill) == {"movers", "stayers", "std_difference"}
    assert (skill["std_difference"] > 0) == (skill["movers"] > skill["stayers"])


def test_the_observed_counts_say_which_count_cases(flagship_run):
    """The figures and tables said "persons" of UNHCR counts of which a few USA and
    Australian rows count cases (households); they say so now."""
    cwd, proc = flagship_run
    html = (cwd / "reports" / f"{json.loads(proc.stdout)['run_id']}.html").read_text()
    assert "except a few USA and Australian rows that count cases" in html


def test_run_is_stored_with_provenance(flagship_run):
    cwd, proc = flagship_run
    payload = json.loads(proc.stdout)
    store = Store(cwd / "onward.duckdb")
    meta = store.get_run(payload["run_id"])
    assert meta["scenario_hash"] == scenario_hash(load_scenario("nk-onward"))
    assert meta["seed"] == 3
    assert "numpy" in json.dumps(meta["versions"])
    apps = store.read_table("applications", payload["run_id"])
    by = apps.groupby(["year", "destination"]).persons.sum()
    for row in payload["applications"]:
        assert by.get((row["year"], row["destination"]), 0) == row["simulated"]
    for table in ("flows", "stocks", "decisions", "brokers", "profile", "destination_life"):
        assert len(store.read_table(table, payload["run_id"])) > 0, table


def test_same_seed_same_numbers_via_cli(flagship_run, tmp_path):
    _, proc = flagship_run
    again = cli("run", "--json", "--seed", "3", cwd=tmp_path)
    a, b = json.loads(proc.stdout), json.loads(again.stdout)
    assert a["applications"] == b["applications"]


def test_the_yearly_table_shows_a_cell_of_mixed_rows_as_its_interval(tmp_path):
    """Germany's 2006 first claims are one UNHCR row of new claims and appeals together
    (printed 5): 0 to 5 first claims. The table showed "/0", as if none were observed;
    it shows "/0-5", while UNHCR's masked 5s still read 5 as printed."""
    proc = cli("run", "--seed", "3", "--no-report", "-q", "--store", "s.duckdb", cwd=tmp_path)
    lines = proc.stdout.splitlines()
    header = next(line.split() for line in lines if line.split()[:2] == ["year", "GBR"])
    row = next(line.split() for line in lines if line.split()[:1] == ["2006"])
    cells = dict(zip(header[1:], row[1:], strict=True))
    assert cells["DEU"].endswith("/0-5"), cells
    assert cells["AUS"].endswith("/5"), cells  # a masked 5 (1-5), as UNHCR prints it
    payload = json.loads(cli("run", "--seed", "3", "--no-report", "--json", "--store",
                             "s.duckdb", cwd=tmp_path).stdout)
    rows = pd.DataFrame(payload["applications"]).set_index(["year", "destination"])
    assert rows.loc[(2006, "DEU"), ["observed", "lower", "upper"]].tolist() == [0, 0, 5]


def test_human_summary_runs_export(tmp_path):
    proc = cli("run", "toy", "--quiet", cwd=tmp_path)
    assert "Selection effect" in proc.stdout and "run-0001" in proc.stdout
    runs = cli("runs", cwd=tmp_path)
    assert "run-0001" in runs.stdout and "toy" in runs.stdout
    cli("export", "run-0001", "--format", "csv", "--out", "x", cwd=tmp_path)
    apps = pd.read_csv(tmp_path / "x" / "applications.csv")
    assert set(apps.destination) == {"CRP", "DLT", "ELB"}
    cli("export", "latest", "--out", "p", cwd=tmp_path)
    assert (tmp_path / "p" / "stocks.parquet").exists()


def test_scenario_show_new_validate(tmp_path):
    shown = cli("scenario", "show", "nk-onward", cwd=tmp_path).stdout
    (tmp_path / "shown.yaml").write_text(shown)
    assert scenario_hash(load_scenario(tmp_path / "shown.yaml")) == scenario_hash(
        load_scenario("nk-onward"))
    cli("scenario", "new", "mine", cwd=tmp_path)
    assert load_scenario(tmp_path / "mine.yaml").name == "mine"
    ok = cli("validate", "mine.yaml", cwd=tmp_path)
    assert "ok" in ok.stdout
    again = cli("scenario", "new", "mine", cwd=tmp_path, check=False)
    assert again.returncode == 2 and "exists" in again.stderr
    cli("scenario", "new", "small", "--minimal", cwd=tmp_path)
    assert load_scenario(tmp_path / "small.yaml").name == "small"
    listing = cli("scenarios", cwd=tmp_path).stdout
    assert "nk-onward" in listing and "toy" in listing
    assert "Elbonia" in listing and "USA and other" in listing  # cut at 90 characters before


def test_scenario_new_suggests_commands_that_run_as_pasted(tmp_path):
    """`onward scenario new "my variant"` wrote my variant.yaml and said "run it with
    `onward run my variant.yaml`", which runs 'my' (no such scenario): the path is quoted
    for the shell where it needs it, in the message and in the file's header."""
    said = cli("scenario", "new", "my variant", "--minimal", cwd=tmp_path).stdout
    assert "`onward run 'my variant.yaml'`" in said, said
    said = cli("scenario", "new", "my copy", "--from", "toy", cwd=tmp_path).stdout
    assert "`onward run 'my copy.yaml'`" in said, said
    header = (tmp_path / "my copy.yaml").read_text().splitlines()[1]
    assert header == "# Check it with `onward validate 'my copy.yaml'`.", header
    assert "`onward run plain.yaml`" in cli("scenario", "new", "plain", "--minimal",
                                           cwd=tmp_path).stdout


@pytest.mark.parametrize("text, expect", [
    ("extends: nk-onward\nparameters:\n  integration:\n    discrimination_rate: 1.5\n",
     "bad.yaml:4"),
    ("extends: nk-onward\nbogus_key: 1\n", "bogus_key"),
    ("extends: nk-onward\nevents:\n  - {date: 2040-01, target: destinations.GBR.detection, "
     "value: 0.5}\n", "horizon"),
    ("name: [unclosed\n", "bad.yaml:"),
])
def test_bad_scenarios_give_one_message_no_traceback(tmp_path, text, expect):
    (tmp_path / "bad.yaml").write_text(text)
    for cmd in (("validate", "bad.yaml"), ("run", "bad.yaml")):
        proc = cli(*cmd, cwd=tmp_path, check=False)
        assert proc.returncode == 2
        assert "Traceback" not in proc.stderr
        assert expect in proc.stderr, proc.stderr
        assert not (tmp_path / "onward.duckdb").exists()


def test_unknown_scenario_and_run(tmp_path):
    proc = cli("run", "no-such-scenario", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "nk-onward" in proc.stderr and "Traceback" not in proc.stderr
    proc = cli("export", "run-0042", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, expect", [
    (("score",), "Missing argument 'name'"),
    (("runs", "--nope"), "No such option: --nope"),
    (("run", "--seed", "abc"), "Invalid value for '--seed'"),
    (("score", "a", "b"), "unexpected extra argument"),
])
def test_usage_errors_print_usage_not_a_traceback(tmp_path, args, expect):
    """A mistyped command line gets click's usage message and exit status 2, whatever copy
    of click the installed Typer carries."""
    proc = cli(*args, cwd=tmp_path, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "Usage: onward" in proc.stderr and expect in proc.stderr, proc.stderr


def test_unwritable_output_path_gives_one_error(flagship_run, tmp_path):
    """Export and report into a folder that cannot exist (under a file) printed an OSError
    traceback; they name the path and exit with status 2."""
    cwd, proc = flagship_run
    run_id = json.loads(proc.stdout)["run_id"]
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for args in (("export", run_id, "--out", str(blocker / "out")),
                 ("report", run_id, "--out", str(blocker / "r.html"))):
        bad = cli(*args, cwd=cwd, check=False)
        assert bad.returncode == 2, bad.stderr
        assert "Traceback" not in bad.stderr
        assert "cannot use" in bad.stderr and str(blocker) in bad.stderr.replace("\n", "")


def test_data_command(tmp_path):
    listing = cli("data", cwd=tmp_path).stdout
    assert "mou_arrivals" in listing and "CC BY 4.0" in listing
    table = cli("data", "mou_arrivals", "--csv", cwd=tmp_path).stdout
    df = pd.read_csv(pd.io.common.StringIO(table))
    assert "arrivals" in df.columns and len(df) == 30
    bad = cli("data", "nope", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "mou_arrivals" in bad.stderr


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_exits_with_status_130_and_says_what_is_kept(tmp_path, workers):
    """Ctrl-C in the middle of an experiment exited with status 0 and printed nothing
    (Typer returns 130 rather than exiting without standalone mode), or, when it landed in
    a compiled stage, printed a SystemError traceback. It exits with 130 and one line."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = dict(os.environ, COLUMNS="160")
    env.pop("ONWARD_STORE", None)
    db = tmp_path / "s.duckdb"
    proc = subprocess.Popen(
        [sys.executable, "-m", "onward.interfaces.cli", "ensemble", "toy", "-n", "400",
         "--workers", workers, "--store", str(db)], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        # a shell without job control starts background jobs (a CI runner's, say) with
        # SIGINT ignored, and children inherit that; a terminal's Ctrl-C is not ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not db.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(3)  # runs are under way
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted; results of finished runs are kept" in stderr
    assert "run the same command again to go on" in " ".join(stderr.split())
    assert "Traceback" not in stderr


def test_what_counts_as_ctrl_c():
    """A KeyboardInterrupt behind a compiled stage's SystemError, and DuckDB's interrupted
    statement, are Ctrl-C; other errors are not."""
    from onward.interfaces.cli import _interrupted

    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise SystemError("CPUDispatcher(...) returned a result with an exception "
                              "set") from ki
    except SystemError as exc:
        assert _interrupted(exc)
    assert _interrupted(RuntimeError("Query interrupted"))
    assert not _interrupted(RuntimeError("something else"))
    assert not _interrupted(SystemError("a bug"))


def test_runs_lists_what_a_user_ran_and_hides_experiment_jobs(tmp_path):
    """After a few experiments `onward runs` listed hundreds of single jobs, experiments
    without their id or scenario hash, 'nan' timings; a mistyped --store read as empty."""
    from onward.experiments.ensemble import ensemble

    store = tmp_path / "s.duckdb"
    res = ensemble("toy", n=3, seed=1, store=store, workers=1)
    cli("run", "toy", "--quiet", "--no-report", "--store", "s.duckdb", cwd=tmp_path)
    shown = cli("runs", "--store", "s.duckdb", cwd=tmp_path).stdout
    flat = " ".join(shown.split())
    assert "ensemble-job" not in shown and "3 single runs of experiments hidden (--all " \
        "shows them)" in flat
    row = next(line for line in shown.splitlines() if res.experiment_id in line)
    assert "ensemble" in row and scenario_hash(load_scenario("toy")) in row and "nan" not in row
    every = cli("runs", "--store", "s.duckdb", "--all", cwd=tmp_path).stdout
    assert every.count("ensemble-job") == 3
    one = cli("runs", "--store", "s.duckdb", "--kind", "ensemble-job", "--limit", "1",
              cwd=tmp_path).stdout
    assert one.count("ensemble-job") == 1 and "showing 1 of 3 (--limit)" in one
    bad = cli("runs", "--store", "typo.duckdb", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "no such file" in bad.stderr and not (
        tmp_path / "typo.duckdb").exists()
    # an experiment id exports its summary and every replicate's values (it was 'no run')
    files = cli("export", res.experiment_id, "--store", "s.duckdb", "--format", "csv",
                cwd=tmp_path).stdout.split()
    names = sorted(Path(f).name for f in files)
    assert names == ["ensemble_bands.csv", "experiment_values.csv", "run.json"]
    # (named after the store too: run and experiment ids are per store)
    vals = pd.read_csv(tmp_path / "exports" / f"s-{res.experiment_id}" / "experiment_values.csv")
    assert vals.run_id.nunique() == 3 and set(vals.experiment_id) == {res.experiment_id}


def test_data_shows_what_it_cuts_and_one_tables_provenance(tmp_path):
    """`onward data` cut a table's name in the list; a table's first 20 of 30 rows looked like
    all of it (ending in 2015, as if withheld); blanks printed 'nan' and counts '831.0';
    --provenance on one table printed the whole document."""
    listing = cli("data", cwd=tmp_path).stdout
    assert "unhcr_applications_by_year_country " in listing
    shown = cli("data", "mou_arrivals", cwd=tmp_path).stdout
    assert "showing the first 20 of 30 rows (--rows N for more, --csv for all)" in shown
    assert "nan" not in shown and "831.0" not in shown and " 831 " in shown
    assert "showing" not in cli("data", "mou_arrivals", "--rows", "40", cwd=tmp_path).stdout
    one = cli("data", "mou_arrivals", "--provenance", cwd=tmp_path).stdout
    whole = cli("data", "--provenance", cwd=tmp_path).stdout
    assert one.startswith("### 3. `mou_arrivals.csv`") and len(one) < len(whole) / 3
    assert cli("data", "unhcr_refugees", "--provenance", cwd=tmp_path).stdout.startswith(
        "### 1. UNHCR files")


def test_destinations_table_keeps_measure_names_whole(tmp_path):
    """On a narrow terminal the measure column was cut to 'departur...' on six rows; the
    figure went to reports/destinations.png, overwritten by every call."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, COLUMNS="80")
    env.pop("ONWARD_STORE", None)
    proc = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", "destinations", "toy",
                           "-n", "2", "--workers", "1", "--store", "s.duckdb", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "…" not in proc.stdout and "departures" in proc.stdout, proc.stdout
    exp = next(w for w in proc.stdout.split() if w.startswith("destinations-"))
    assert (tmp_path / "reports" / f"s-{exp}.png").exists()


def test_reports_of_two_stores_in_one_folder_do_not_overwrite_each_other(tmp_path):
    """Run ids restart in each store: `--store a.duckdb` then `--store b.duckdb` both wrote
    reports/run-0001.html, the second silently replacing the first."""
    cli("run", "toy", "--quiet", "--store", "a.duckdb", "--seed", "1", cwd=tmp_path)
    cli("run", "toy", "--quiet", "--store", "b.duckdb", "--seed", "2", cwd=tmp_path)
    cli("run", "toy", "--quiet", "--seed", "3", cwd=tmp_path)  # ./onward.duckdb
    names = sorted(p.name for p in (tmp_path / "reports").glob("*.html"))
    assert names == ["a-run-0001.html", "b-run-0001.html", "run-0001.html"]
    assert "seed 2" in (tmp_path / "reports" / "b-run-0001.html").read_text()


def test_option_and_path_errors_say_the_fix(tmp_path):
    """--years abc named no fix; a store path through a file said 'File exists'."""
    proc = cli("compare", "toy", "toy", "--years", "abc", "-n", "2", "--store",
               str(tmp_path / "s.duckdb"), cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "--years: 'abc' is not a year range. Fix: write it like 2000-2012" in \
        " ".join(proc.stderr.split())
    (tmp_path / "afile.py").write_text("")
    proc = cli("run", "toy", "--no-report", "--store", str(tmp_path / "afile.py" / "x.duckdb"),
               cwd=tmp_path, check=False)
    assert proc.returncode == 2
    assert "afile.py: it is a file, and a folder is needed there. Fix:" in \
        " ".join(proc.stderr.split())


def test_data_csv_writes_whole_numbers_whole(tmp_path):
    """`onward data mou_arrivals --csv` printed 831.0 (a column with gaps is float)."""
    proc = cli("data", "mou_arrivals", "--csv", cwd=tmp_path)
    first = proc.stdout.splitlines()[1]
    assert first.startswith("cumulative_through_1998,1998,947,831,116,"), first
    import io

    back = pd.read_csv(io.StringIO(proc.stdout))
    assert back.male.iloc[0] == 831
    # without a table name, --csv was ignored (the list printed as a table): the list as CSV
    listed = pd.read_csv(io.StringIO(cli("data", "--csv", cwd=tmp_path).stdout))
    assert "mou_arrivals" in set(listed.name) and {"rows", "licence"} <= set(listed.columns)


def test_destinations_intervals_are_never_cut_short(tmp_path, monkeypatch):
    """Nine destinations on a 140-column terminal cut intervals short ('[0.55-0.5...'); the
    columns are now as wide as their intervals and what does not fit goes to a second
    table."""
    import io

    from rich.console import Console

    from onward.experiments.destinations import interval_text
    from onward.interfaces import cli as cli_module

    buf = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=buf, width=50, emoji=False))
    monkeypatch.chdir(tmp_path)
    cli_module.destinations(scenario="toy", n=2, seed=1, posterior=None, until=None, period=5,
                            figure=tmp_path / "f.png", workers=1, scheduler=None,
                            as_json=False, store=tmp_path / "s.duckdb", quiet=True)
    text = buf.getvalue()
    assert "…" not in text
    from onward.store import Store

    summary = Store(tmp_path / "s.duckdb").query("select * from destination_summary")
    for r in summary.itertuples():
        cell = interval_text(r.measure, r.median, r.q05, r.q95)
        for piece in cell.split(" "):
            assert piece in text, (piece, r.destination, r.measure)
    assert text.count("measure") >= 2  # 3 destinations do not fit beside each other in 50


def test_json_keeps_the_progress_bar_on_stderr(tmp_path, monkeypatch):
    """docs/cluster.md: with --json 'the progress bar goes to stderr'; --json hid it, so a
    500-replicate cluster run showed no progress at all. Only --quiet hides it."""
    from onward.interfaces import cli as cli_module

    asked = []
    real = cli_module.progress_bar
    monkeypatch.setattr(cli_module, "progress_bar",
                        lambda title, quiet=False: asked.append(quiet) or real(title, quiet))
    monkeypatch.chdir(tmp_path)
    cli_module.ensemble(scenario="toy", n=1, seed=1, posterior=None, until=None, output=None,
                        workers=1, scheduler=None, as_json=True, store=tmp_path / "s.duckdb",
                        quiet=False)
    assert asked == [False]


def test_ctrl_c_inside_logging_is_raised_at_the_next_tick(monkeypatch):
    """A Ctrl-C that landed in logging's lock release printed 'Exception ignored in:
    <function _releaseLock>' and a traceback before the normal message."""
    import logging
    from types import SimpleNamespace

    from onward.interfaces import cli as cli_module

    monkeypatch.setitem(cli_module._CTRL_C, "seen", False)
    in_logging = SimpleNamespace(f_code=SimpleNamespace(co_filename=logging.__file__))
    try:
        cli_module._on_sigint(2, in_logging)  # deferred, not raised there
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C raised inside logging")
    assert cli_module._CTRL_C["seen"]
    with pytest.raises(KeyboardInterrupt):
        cli_module._stop_if_interrupted()  # the next progress tick
    elsewhere = SimpleNamespace(f_code=SimpleNamespace(co_filename=__file__))
    with pytest.raises(KeyboardInterrupt):
        cli_module._on_sigint(2, elsewhere)


def test_help_shows_no_type_for_flags(tmp_path):
    """A flag takes no value: help must not show it a type (Typer 0.29 printed ``--json
    <bool>``, which reads as ``--json true``); options that take a value keep theirs."""
    import re

    for command in ("run", "calibrate", "ensemble", "data", "runs"):
        text = cli(command, "--help", cwd=tmp_path).stdout
        flags = [line for line in text.splitlines()
                 if re.search(r"--(json|quiet|resume|csv|all|no-report)\b", line)]
        assert flags, command
        assert not any("<bool>" in line for line in flags), (command, flags)
    assert "<int>" in cli("run", "--help", cwd=tmp_path).stdout  # --seed keeps its type


def test_a_run_with_a_posterior_marks_the_years_that_calibration_fitted(tmp_path):
    """After `calibrate --calibration-years 2000-2016`, `run --posterior` still starred 2015
    and 2016 as "held-out (never used for fitting)" and stored them so; the calibration
    fitted them. The run takes the calibration's split."""
    cli("calibrate", "toy", "--name", "cy", "--budget", "20", "--population", "10",
        "--calibration-years", "2000-2016", "--workers", "1", "-q", cwd=tmp_path)
    cli("run", "toy", "--posterior", "cy", "--no-report", "--json", cwd=tmp_path)
    st = Store(tmp_path / "onward.duckdb")
    run_id = st.list_runs().query("kind == 'run'").run_id.iloc[0]
    summary = st.read_table("summary_applications", run_id)
    held = sorted(summary[summary.held_out].year.unique())
    assert held == list(range(2017, 2021)), held
    plain = cli("run", "toy", "--no-report", "--json", cwd=tmp_path)  # no posterior: as is
    run_id = json.loads(plain.stdout)["run_id"]
    summary = st.read_table("summary_applications", run_id)
    assert sorted(summary[summary.held_out].year.unique()) == list(range(2015, 2021))


def test_run_with_a_posterior_and_no_scenario_runs_the_calibrated_one(tmp_path):
    """`onward calibrate toy --name fit` then `onward run --posterior fit` ran nk-onward
    (the default) with toy's parameters, stored as nk-onward's 'posterior fit', with only a
    warning that three parameters were left out. Without a scenario, a run with a posterior
    runs the scenario it was fitted to, as `onward score fit` scores it; a scenario given
    by name is still run."""
    from test_arguments import fake_calibration

    fake_calibration(tmp_path / "onward.duckdb", name="fit", scenario="toy")
    proc = cli("run", "--posterior", "fit", "--no-report", "--json", cwd=tmp_path)
    assert json.loads(proc.stdout)["scenario"] == "toy"
    assert "left out" not in proc.stderr, proc.stderr
    proc = cli("run", "toy", "--posterior", "fit", "--no-report", "--json", cwd=tmp_path)
    assert json.loads(proc.stdout)["scenario"] == "toy"
    plain = cli("run", "--no-report", "--json", cwd=tmp_path)  # no posterior: the flagship
    assert json.loads(plain.stdout)["scenario"] == "nk-onward"
    days = cli("run", "--posterior", "fit", "--days", "5", cwd=tmp_path, check=False)
    assert days.returncode == 2 and "'toy' is not one" in days.stderr, days.stderr


def test_commands_suggested_after_storing_name_the_store_they_used(tmp_path):
    """`onward run toy --store b.duckdb` ended "Query it with `onward runs`, export with
    `onward export run-0001`": run ids restart in each store, so the suggested export
    wrote ./onward.duckdb's own run-0001, another run. The commands it suggests (and an
    experiment's `onward report ID`) carry the --store that was given."""
    cli("run", "toy", "--no-report", cwd=tmp_path)  # ./onward.duckdb has a run-0001 too
    said = cli("run", "toy", "--store", "b.duckdb", "--no-report", cwd=tmp_path).stdout
    said = " ".join(said.split())
    assert "`onward runs --store b.duckdb`" in said, said
    assert "`onward export run-0001 --store b.duckdb`" in said, said
    plain = " ".join(cli("run", "toy", "--no-report", cwd=tmp_path).stdout.split())
    assert "`onward runs`" in plain and "--store" not in plain  # no --store: none added
    (tmp_path / "short.yaml").write_text(SHORT + "name: short\n")
    said = cli("ensemble", "short.yaml", "-n", "1", "--store", "b.duckdb", "-q",
               cwd=tmp_path).stdout
    assert "--store b.duckdb`" in " ".join(said.split()), said
    proc = cli("ensemble", "short.yaml", "-n", "1", "--store", "b.duckdb", "-q", "--json",
               cwd=tmp_path)
    assert "--store b.duckdb" in proc.stderr, proc.stderr


def test_validate_list_prints_parameters_as_overrides_and_events_name_them(tmp_path):
    """`onward validate --list`, titled "parameters.<group>.<name> or destinations.<ISO3>.
    <name>", printed global parameters as integration.discrimination_rate, which an event's
    target, an override or the dashboard refuses ("not a parameter"). They are printed
    with their section, as those name them."""
    text = cli("validate", "--list", cwd=tmp_path).stdout
    names = [line.split("│")[1].strip() for line in text.splitlines()
             if line.startswith("│") and line.split("│")[1].strip()]
    assert "parameters.integration.discrimination_rate" in names, names
    assert "destinations.*.recognition_rate" in names, names
    assert all(n.startswith(("parameters.", "destinations.")) for n in names), names


def test_a_variant_without_a_name_is_told_it_runs_under_its_bases(tmp_path):
    """A variant file without name: ran and was stored as 'nk-onward' with no word (and
    compare later refused it as a second 'nk-onward')."""
    (tmp_path / "noname.yaml").write_text("extends: nk-onward\nparameters:\n  integration:\n"
                                          "    discrimination_rate: 0.2\n")
    (tmp_path / "named.yaml").write_text("extends: nk-onward\nname: named\n")
    said = " ".join(cli("validate", "noname.yaml", cwd=tmp_path).stderr.split())
    assert "noname.yaml has no name: of its own, so it runs as 'nk-onward'" in said
    assert "Fix: add name: noname" in said
    assert "no name" not in cli("validate", "named.yaml", cwd=tmp_path).stderr


def test_run_totals_show_the_years_after_the_observed_ones(tmp_path):
    """`onward run` printed the calibration and held-out years only: a policy starting after
    them (2016 on, in the flagship) showed no effect anywhere in its output."""
    (tmp_path / "short.yaml").write_text(
        "extends: toy\nname: short-split\ncalibration:\n  years: 2000-2010\n"
        "  held_out: 2011-2012\n")
    proc = cli("run", "short.yaml", "--no-report", cwd=tmp_path)
    assert "simulated 2013-2020" in proc.stdout, proc.stdout
    st = Store(tmp_path / "onward.duckdb")
    run_id = st.list_runs().run_id.iloc[0]
    apps = st.read_table("summary_applications", run_id)
    crp = int(apps[(apps.destination == "CRP") & (apps.year >= 2013)].simulated.sum())
    totals = proc.stdout[proc.stdout.index("Totals (persons)"):]
    row = next(line for line in totals.splitlines() if line.strip("│ ").startswith("CRP"))
    assert row.replace("│", " ").split()[-1] == str(crp), row
    # the calibration and held-out years apart, as the README says (and the report does)
    assert "calibration 2000-2010" in totals and "held out 2011-2012" in totals
    fitted = apps[(apps.destination == "CRP") & apps.year.between(2000, 2010)]
    assert f"{int(fitted.simulated.sum())}/{int(fitted.observed.sum())}" in row


def test_compare_says_what_each_alternative_changes(tmp_path):
    (tmp_path / "alt.yaml").write_text("extends: toy\nname: toy-alt\nevents:\n"
                                       "  - {id: crp-checks-2010, remove: true}\n")
    proc = cli("compare", "toy", "alt.yaml", "-n", "2", "--workers", "1", "-q", cwd=tmp_path)
    assert ("toy-alt changes against toy: event crp-checks-2010 removed (2010-06: "
            "destinations.CRP.checks_prior_nationality = 1)") in proc.stdout, proc.stdout
    # two replicates give no interval to quote: "90% interval" was printed without a word
    assert "With 2 paired replicates the interval is about the range of their " \
        "differences" in " ".join(proc.stdout.split())


def test_a_calibration_exports_by_its_name(tmp_path):
    """`onward export t1` said "no run 't1'"; exporting a generation's run gave that
    generation only. A calibration's name now exports every generation."""
    # (13 particles: with no more than the toy's 12 free parameters a second generation
    # is refused)
    cli("calibrate", "toy", "--name", "t1", "--budget", "60", "--population", "13",
        "--workers", "1", "-q", cwd=tmp_path)
    proc = cli("export", "t1", "--format", "csv", "--out", "t1", cwd=tmp_path)
    assert {Path(x).name for x in proc.stdout.split()} == {
        "generations.csv", "posterior.csv", "calibration.json"}
    gens = pd.read_csv(tmp_path / "t1" / "generations.csv")
    post = pd.read_csv(tmp_path / "t1" / "posterior.csv")
    assert len(gens) >= 2 and sorted(post.generation.unique()) == gens.generation.tolist()
    n_free = len(load_scenario("toy").free_parameters())
    assert len(post) == gens.particles.sum() * n_free
    settings = json.loads((tmp_path / "t1" / "calibration.json").read_text())
    assert settings["name"] == "t1" and settings["seed"] == 1
    assert settings["scenario_hash"] == scenario_hash(load_scenario("toy"))


def test_compare_json_carries_the_baseline_changes_and_units(tmp_path):
    """compare --json had the effects only: no unit, no baseline, no 'changes against'."""
    (tmp_path / "alt.yaml").write_text("extends: toy\nname: toy-alt\nevents:\n"
                                       "  - {id: crp-checks-2010, remove: true}\n")
    proc = cli("compare", "toy", "alt.yaml", "-n", "2", "--workers", "1", "-q", "--json",
               cwd=tmp_path)
    payload = json.loads(proc.stdout)
    assert payload["baseline"] == "toy"
    assert payload["changes"] == {"toy-alt": [
        "event crp-checks-2010 removed (2010-06: destinations.CRP.checks_prior_nationality "
        "= 1)"]}
    assert {r["unit"] for r in payload["effects"]} == {"persons, total over the period"}


def test_run_json_says_which_years_are_held_out(tmp_path):
    """`onward run --json` had no held-out field: a script could not split the rows into
    calibration and held-out years as the text table's * does."""
    proc = cli("run", "toy", "--json", "--no-report", "-q", cwd=tmp_path)
    payload = json.loads(proc.stdout)
    assert payload["calibration_years"] == list(range(2000, 2015))
    assert payload["held_out_years"] == list(range(2015, 2021))
    rows = pd.DataFrame(payload["applications"])
    assert (rows.held_out == rows.year.between(2015, 2020)).all()


def test_the_selection_table_says_what_stayers_are(tmp_path):
    """The README called stayers 'residents who never moved'; they are household-years of
    onward households not yet moved at each year end. The table and the README say so."""
    proc = cli("run", "toy", "--no-report", "-q", cwd=tmp_path)
    said = " ".join(proc.stdout.split())
    assert "stayers: household-years of onward households not yet moved, at each year end" \
        in said, said
    readme = " ".join((Path(__file__).parents[1] / "README.md").read_text().split())
    assert "residents who never moved" not in readme
    assert "stayers are household-years" in readme


def test_messages_to_a_file_are_not_wrapped(tmp_path):
    """Errors written to a file or a pipe were wrapped at 80 columns, breaking grep and an
    editor's file:line jump; each is one line now (a terminal still wraps them)."""
    (tmp_path / "bad.yaml").write_text("extends: toy\nname: bad\npopulation:\n"
                                       "  attributes:\n    female_share: 45\n")
    proc = cli("validate", "bad.yaml", cwd=tmp_path, check=False)
    assert proc.returncode == 2
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("error: bad.yaml:5: population.attributes.female_share") \
        and len(line) > 100 and "Fix:" in line


def test_destinations_keeps_every_column_within_the_width(tmp_path, monkeypatch):
    """`onward destinations nk-onward` printed a table wider than the output and cut it:
    the USA column lost its header and OTH vanished. Every destination now keeps its
    header and its values, in a second table where they do not fit beside the others."""
    import io

    from rich.console import Console
    from typer.testing import CliRunner

    from onward.interfaces import cli as cli_module

    buffer = io.StringIO()
    monkeypatch.setattr(cli_module, "out", Console(file=buffer, width=70, emoji=False))
    result = CliRunner().invoke(cli_module.app, [
        "destinations", "toy", "-n", "2", "--workers", "1", "-q",
        "--store", str(tmp_path / "s.duckdb")])
    assert result.exit_code == 0, result.output
    text = buffer.getvalue()
    table = text[:text.index("experiment ")]
    assert max(len(line) for line in table.splitlines()) <= 70
    heads = [line.split() for line in table.splitlines() if line.strip().startswith("measure")]
    assert sorted(h for head in heads for h in head[1:]) == ["CRP", "DLT", "ELB"]


def test_runs_shows_whole_experiment_ids(tmp_path, monkeypatch):
    """`onward runs` cut experiment ids ("destinations-7e34c34777…"), so they could not
    be pasted into `onward report`."""
    import io

    from rich.console import Console
    from typer.testing import CliRunner

    from onward.experiments.destinations import destinations
    from onward.interfaces import cli as cli_module

    res = destinations("toy", n=1, workers=1, store=tmp_path / "onward.duckdb")
    for width in (140, 90):  # (a terminal's width)
        buffer = io.StringIO()
        monkeypatch.setattr(cli_module, "out", Console(file=buffer, width=width, emoji=False))
        CliRunner().invoke(cli_module.app, ["runs", "--store", str(tmp_path / "onward.duckdb")])
        assert res.experiment_id in buffer.getvalue(), buffer.getvalue()


def test_destinations_says_its_years_and_what_its_json_counts(tmp_path):
    """`onward destinations` never said which years its totals cover (every departure of
    the run, projected years included with --until), and its --json had no experiment
    id, replicates, years or units, which compare's has."""
    proc = cli("destinations", "toy", "-n", "2", "--workers", "1", "-q", "--until", "2022",
               cwd=tmp_path)
    assert "Destinations side by side, 2000-2022: median [90% interval] over 2 replicates" \
        in " ".join(proc.stdout.split()), proc.stdout
    proc = cli("destinations", "toy", "-n", "2", "--workers", "1", "-q", "--json",
               cwd=tmp_path)
    payload = json.loads(proc.stdout)
    assert payload["experiment_id"].startswith("destinations-")
    assert payload["replicates"] == 2 and payload["years"] == [2000, 2020]
    units = {r["measure"]: r["unit"] for r in payload["destinations"]}
    assert units["skill"] == "0-1" and units["departures"] == "persons"


def test_query_answers_sql_on_the_store_as_a_table_csv_or_json(tmp_path):
    """Results they can query without Python: `onward query SQL` reads the store (read-only)
    and prints a table, or every row as CSV or JSON; bad SQL, a write and a missing store
    are one line each that names the fix."""
    import io
    import subprocess
    import sys

    import onward

    onward.run("toy", seed=2, store=tmp_path / "onward.duckdb")
    sql = ("select year, sum(persons) as persons from applications "
           "where destination = 'CRP' group by year order by year")
    want = onward.store.Store(tmp_path / "onward.duckdb").query(sql)
    assert len(want) > 3
    table = cli("query", sql, "--limit", "3", cwd=tmp_path).stdout
    assert f"3 of {len(want)} rows" in table
    first = want.iloc[0]
    assert any(line.split() == [str(int(first.year)), str(int(first.persons))]
               for line in table.splitlines()), table
    csv = cli("query", sql, "--csv", cwd=tmp_path).stdout
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(csv)), want, check_dtype=False)
    assert "\n2000,1\n" in csv  # a sum of counts is whole ("1", not DuckDB's "1.0")
    rows = json.loads(cli("query", sql, "--json", cwd=tmp_path).stdout)
    assert [r["persons"] for r in rows] == want.persons.astype(int).tolist()
    # the statement from standard input
    piped = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", "query", "-",
                            "--csv"], input="select count(*) as n from runs", cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stdout.split() == ["n", "1"], piped.stderr
    # mistakes: one line with the fix, exit 2, and the store unchanged
    bad = cli("query", "select * from nope", cwd=tmp_path, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "nope" in bad.stderr and 'onward query "show tables"' in bad.stderr
    write = cli("query", "delete from runs", cwd=tmp_path, check=False)
    assert write.returncode == 2 and "read-only" in write.stderr
    assert cli("query", "select count(*) as n from runs", "--csv",
               cwd=tmp_path).stdout.split() == ["n", "1"]
    for args in (("runs", "--limit", "0"), ("query", "select 1", "--limit", "0")):
        none = cli(*args, cwd=tmp_path, check=False)  # an empty table said nothing
        assert none.returncode == 2 and "--limit 0: shows no" in none.stderr, none.stderr
    gone = cli("query", "select 1", "--store", "other.duckdb", cwd=tmp_path, check=False)
    assert gone.returncode == 2 and "--store other.duckdb: no such store" in gone.stderr
    assert not (tmp_path / "other.duckdb").exists()
