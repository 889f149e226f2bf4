"""Messages shared by the Python API and the command line name an option as the caller
spells it: ``budget`` in a notebook, ``--budget`` at the command line."""

from __future__ import annotations

import pandas as pd
import pytest
from cli_helper import cli
from typer.testing import CliRunner

from onward.calibration import CalibrationError
from onward.calibration.abc import calibrate
from onward.experiments.sensitivity import sensitivity
from onward.interfaces.cli import app
from onward.options import command_line, option


def test_option_spells_keyword_or_flag():
    assert option("workers") == "workers"
    assert option("scheduler", "tcp://h:1") == "scheduler='tcp://h:1'"
    assert option("until", "YEAR", placeholder=True) == "until=YEAR"
    assert option("resume", True) == "resume=True"
    with command_line():
        assert option("workers") == "--workers"
        assert option("scheduler", "tcp://h:1") == "--scheduler tcp://h:1"
        assert option("until", "YEAR", placeholder=True) == "--until YEAR"
        assert option("resume", True) == "--resume"  # a flag takes no value
        assert option("min_epsilon", flag="--epsilon") == "--epsilon"
        assert option("calibration_years") == "--calibration-years"
    assert option("workers") == "workers"  # back to Python's spelling after the block


def test_python_caller_is_told_its_keywords(tmp_path):
    with pytest.raises(CalibrationError) as info:
        calibrate("toy", name="fit", budget=0, store=tmp_path / "s.duckdb")
    assert str(info.value).startswith("budget must be at least 1 simulation")
    with pytest.raises(CalibrationError, match=r"^min_epsilon must be 0 or more"):
        calibrate("toy", name="fit", budget=10, min_epsilon=-1, store=tmp_path / "s.duckdb")
    with pytest.raises(ValueError) as info:
        sensitivity("toy", method="morris", n=2, levels=1, store=tmp_path / "s.duckdb")
    assert str(info.value).startswith("levels=1: a Morris grid needs at least 2 levels")
    assert "levels=4 (the default)" in str(info.value) and "--" not in str(info.value)


def test_command_line_is_told_its_flags_and_python_after_it_its_keywords(tmp_path):
    proc = cli("calibrate", "toy", "--name", "fit", "--budget", "0", cwd=tmp_path,
               check=False)
    assert proc.returncode == 2 and "--budget must be at least 1 simulation" in proc.stderr
    proc = cli("sensitivity", "toy", "--method", "morris", "-n", "2", "--levels", "1",
               cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "--levels 1: a Morris grid" in proc.stderr
    assert "--levels 4 (the default)" in proc.stderr
    # in one process (a notebook that also invokes the command line's app), the command
    # line's spelling ends with the command
    result = CliRunner().invoke(app, ["calibrate", "toy", "--name", "fit", "--budget", "0",
                                      "--store", str(tmp_path / "s.duckdb")])
    assert "--budget must be at least 1" in str(result.output) + str(result.exception)
    with pytest.raises(CalibrationError, match="^budget must be at least 1"):
        calibrate("toy", name="fit", budget=0, store=tmp_path / "s.duckdb")


def test_command_spells_a_whole_command_as_the_caller_would():
    from onward.options import (
        calibrate_command,
        command,
        parameters_command,
        runs_command,
        scenario_show_command,
    )

    assert command("onward runs", "onward.store.Store().list_runs()") == \
        "onward.store.Store().list_runs()"
    assert calibrate_command("fit") == "onward.calibrate(SCENARIO, name='fit')"
    assert calibrate_command("fit", resume=True) == \
        "onward.calibrate(SCENARIO, name='fit', resume=True)"
    assert runs_command() == "onward.store.Store().list_runs()"
    with command_line():
        assert calibrate_command("fit") == "`onward calibrate SCENARIO --name fit`"
        assert calibrate_command("fit", resume=True) == \
            "`onward calibrate SCENARIO --name fit --resume`"
        # a name the shell would split is quoted, so the command runs as pasted
        assert calibrate_command("my fit", resume=True) == \
            "`onward calibrate SCENARIO --name 'my fit' --resume`"
        assert runs_command("calibration") == "`onward runs --kind calibration`"
        assert scenario_show_command("toy") == "`onward scenario show toy`"
        assert parameters_command() == "`onward validate --list`"
    assert scenario_show_command("toy") == \
        "print(onward.scenario.scenario_to_yaml(onward.load_scenario('toy')))"
    assert parameters_command() == "onward.scenario.parameters.all_specs()"


def test_python_messages_name_python_calls_not_commands(tmp_path):
    """score('fit') or load_posterior('fit') with no such calibration, resume=True with
    nothing stored, an unknown run id and the sensitivity caveat told a notebook user to
    run `onward calibrate SCENARIO --name fit`, `onward runs` or 'a larger -n'."""
    import pandas as pd

    from onward.calibration.abc import load_posterior
    from onward.calibration.score import score
    from onward.experiments.sensitivity import _answer
    from onward.store import Store, UnknownRunError

    db = tmp_path / "s.duckdb"
    for call in (lambda: load_posterior("fit", db), lambda: score("fit", store=db)):
        with pytest.raises(CalibrationError) as info:
            call()
        assert "run onward.calibrate(SCENARIO, name='fit') first" in str(info.value)
        assert "`onward" not in str(info.value)
    with pytest.raises(CalibrationError) as info:
        calibrate("toy", name="nothere", budget=10, resume=True, store=db)
    assert ("(onward.store.Store().list_runs().query(\"kind == 'calibration'\") lists the "
            "stored ones)") in str(info.value)
    Store(db).write_run({"seed": 1}, {})
    with pytest.raises(UnknownRunError) as info:
        Store(db).get_run("run-9999")
    assert "onward.store.Store().list_runs() lists them all" in str(info.value)
    ind = pd.DataFrame([("policy", 931.7, 733.6), ("information", 368.8, 136.0)],
                       columns=["group", "mu_star", "mu_star_conf"])
    _, s = _answer(ind, "morris", "applications", "GBR", [2000, 2012])
    assert "Fix: a larger n (Sobol" in s
    with command_line():
        _, s = _answer(ind, "morris", "applications", "GBR", [2000, 2012])
    assert "Fix: a larger -n (Sobol" in s


def test_an_unfinished_calibration_is_resumed_the_python_way(monkeypatch, tmp_path):
    import warnings

    import onward.calibration.abc as abc
    from onward.calibration import UnfinishedCalibration

    monkeypatch.setattr(abc, "unfinished", lambda gens: "has not finished")
    monkeypatch.setattr(abc, "stored_generations", lambda st, name: pd.DataFrame(
        {"generation": [0], "run_id": ["run-0001"], "epsilon": [1.0]}))

    class St:
        path = tmp_path / "s.duckdb"

        def read_table(self, table, run_id):
            return pd.DataFrame({"particle": [0, 1], "parameter": ["a", "a"],
                                 "value": [0.1, 0.2], "weight": [0.5, 0.5]})

    monkeypatch.setattr(abc, "Store", St)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        abc.load_posterior("i3", St())
    said = [str(w.message) for w in caught if issubclass(w.category, UnfinishedCalibration)]
    assert said and "resume it with onward.calibrate(SCENARIO, name='i3', resume=True)" in said[0]


def test_scenario_messages_name_the_callers_way_to_a_valid_example(tmp_path):
    """A scenario loaded from Python with an unknown key, an unknown parameter, a missing
    destination parameter, an inflow without its table, or no file at all was told to run
    `onward scenario show nk-onward`, `onward validate --list`, `onward data` or
    `onward scenarios`: commands of a shell that a notebook does not have."""
    from onward.scenario import ScenarioError, load_scenario

    files = {
        "key.yaml": ("extends: toy\nname: x\nbogus: 1\n",
                     "print(onward.scenario.scenario_to_yaml(onward.load_scenario("
                     "'nk-onward')))", "`onward scenario show nk-onward`"),
        "par.yaml": ("extends: toy\nname: x\nparameters:\n  integration:\n    zzzqqq: 1\n",
                     "onward.scenario.parameters.all_specs() lists the parameters",
                     "`onward validate --list` lists the parameters"),
        "dest.yaml": ("extends: toy\nname: x\ncountries:\n  NEW: {name: N, role: destination}"
                      "\ndestinations:\n  NEW:\n    name: N\n    recognition_rate: 0.5\n",
                      "(onward.scenario.parameters.all_specs() describes them)",
                      "(`onward validate --list` describes them)"),
        "inflow.yaml": ("extends: toy\nname: x\npopulation:\n  inflow:\n    source: data\n"
                        "    table: null\n", "(see onward.data.list_tables())",
                        "(see `onward data`)"),
        "empty.yaml": ("# nothing yet\n", "as print(onward.scenario.scenario_to_yaml(",
                       "or start from `onward scenario new NAME`"),
    }
    for name, (text, *_) in files.items():
        (tmp_path / name).write_text(text)
    flee = tmp_path / "flee"
    (flee / "input_csv").mkdir(parents=True)
    (flee / "source_data").mkdir()
    cases = [(str(tmp_path / name), python, cli_text)
             for name, (_, python, cli_text) in files.items()]
    cases += [("nosuch", "(see onward.scenario.builtin_names())", "(see `onward scenarios`)"),
              (str(flee), "onward.flee.read_flee_folder(FOLDER) checks it",
               "`onward validate FOLDER` checks it")]
    for source, python, cli_text in cases:
        with pytest.raises(ScenarioError) as info:
            load_scenario(source)
        assert python in str(info.value) and "`onward" not in str(info.value), info.value
        with command_line(), pytest.raises(ScenarioError) as info:
            load_scenario(source)
        assert cli_text in str(info.value), info.value


def test_reporting_a_calibration_names_the_callers_way_to_its_figures(monkeypatch, tmp_path):
    """report('fit') of a calibration told a notebook user to run `onward score fit
    --figures DIR` and `onward run --posterior fit`; the command line is still told so."""
    import onward.calibration.abc as abc
    from onward.report import report
    from onward.store import UnknownRunError

    monkeypatch.setattr(abc, "stored_generations", lambda st, name: pd.DataFrame(
        {"generation": [0], "run_id": ["run-0001"], "epsilon": [1.0]}))
    db = tmp_path / "s.duckdb"
    with pytest.raises(UnknownRunError) as info:
        report("fit", db)
    said = str(info.value)
    assert ("its figures come with onward.calibration.plots.write_calibration_figures("
            "'fit', STORE, DIR), and a run to report, with its posterior mean, with "
            "onward.run(SCENARIO, overrides=onward.load_posterior('fit', STORE).mean())"
            ) in said and "`onward" not in said
    result = CliRunner().invoke(app, ["report", "fit", "--store", str(db)])
    said = " ".join((str(result.output) + str(result.exception)).split())
    assert result.exit_code != 0 and ("its figures come with `onward score fit --figures "
                                      "DIR`, and a run to report, with its posterior mean, "
                                      "with `onward run SCENARIO --posterior fit`") in said


def test_the_stored_calibration_hint_runs_as_pasted(tmp_path):
    """`onward calibrate toy --name "my fit"` ended 'score it with `onward score my fit`',
    which scores a calibration named 'my'."""
    from onward.interfaces.cli import _stored_calibration_hint

    said = _stored_calibration_hint("my fit", tmp_path / "a b.duckdb")
    assert f"`onward score 'my fit' --store '{tmp_path / 'a b.duckdb'}'`" in said
    assert "`onward run --posterior 'my fit' --store" in said
    assert "`onward score fit`" in _stored_calibration_hint("fit", None)
