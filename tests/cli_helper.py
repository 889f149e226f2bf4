"""Run the ``onward`` command line in a subprocess, as a user would (shared by the tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def cli(*args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """``onward ARGS`` in ``cwd`` with a wide terminal and no ``ONWARD_STORE``; with
    ``check`` the exit status must be 0 (stderr is shown otherwise)."""
    env = dict(os.environ, COLUMNS="160")
    env.pop("ONWARD_STORE", None)
    proc = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", *args], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


#: toy cut to 2000-2006 without its later events: a short scenario for experiment tests
SHORT = (
    "extends: toy\n"
    "horizon: {start: 2000-01, end: 2006-12}\n"
    "events:\n"
    "  - {id: crp-checks-2010, remove: true}\n"
    "  - {id: bor-antidiscrimination-2015, remove: true}\n"
    "calibration: {years: 2000-2004, held_out: 2005}\n"
)
