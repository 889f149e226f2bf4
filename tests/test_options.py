"""Messages shared by the Python API and the command line name an option as the caller
spells it: ``budget`` in a notebook, ``--budget`` at the command line."""

from __future__ import annotations

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
