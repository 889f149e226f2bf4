"""Microdata of real people as an attribute distribution: only aggregates go anywhere.

A scenario may name a CSV of survey responses; the loader keeps binned counts with a
minimum cell size and drops the records. These tests plant distinctive values in such a
file, run the scenario through the CLI (store and HTML report), and scan every table, the
run metadata and the report for any of them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from onward.api import simulate
from onward.scenario import ScenarioError, load_scenario, load_text, scenario_to_yaml
from onward.scenario.microdata import binned, nice_width

SCENARIO = """\
extends: toy
name: micro
horizon: {start: 2000-01, end: 2004-12}
events:
  - {id: crp-checks-2010, remove: true}
  - {id: bor-antidiscrimination-2015, remove: true}
calibration: {years: 2000-2002, held_out: 2003}
population:
  attributes:
    microdata:
      file: FILE
      columns: {age: age, skill: education, funds: funds, children: n_children}
      min_cell: 10
      source: "a made-up survey of 300 people"
"""


def survey(n: int = 300, seed: int = 5) -> pd.DataFrame:
    """Records with values no simulation would produce by chance (many decimals, ids)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "respondent": [f"R{7_000_000 + i}" for i in range(n)],
        "name": [f"Person{i:04d}Zq" for i in range(n)],
        "age": rng.integers(18, 70, n),
        "education": np.round(rng.beta(2, 3, n), 7) + 1e-7,
        "funds": np.round(rng.lognormal(0.5, 0.8, n), 6) + 3.3e-6,
        "n_children": rng.poisson(0.8, n),
    })


def write(folder: Path, df: pd.DataFrame, file: str = "survey.csv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / "survey.csv", index=False)
    p = folder / "micro.yaml"
    p.write_text(SCENARIO.replace("FILE", file))
    return p


def test_distributions_are_binned_counts(tmp_path: Path) -> None:
    df = survey()
    sc = load_scenario(write(tmp_path, df))
    a = sc.population.attributes
    for attr in ("age", "skill", "funds", "children"):
        d = getattr(a, attr)
        assert d.kind == "histogram" and "bins with fewer than 10" in d.source
        assert all(w == 0 or w >= 10 for w in d.weights)  # minimum cell size
    assert a.microdata is None
    # children are counts: bins centred on whole numbers
    assert a.children.edges[0] == -0.5 and all(
        b - e == 1 for e, b in zip(a.children.edges, a.children.edges[1:], strict=False))
    # the same file, the same scenario; round trip through YAML without the CSV
    assert load_text(scenario_to_yaml(sc)) == sc
    # agents follow the binned distribution (and values stay inside the edges)
    res = simulate(sc)
    funds0 = res.agents.funds
    assert res.applications.persons.sum() > 0
    assert np.isfinite(funds0).all()


def _needles(df: pd.DataFrame) -> tuple[set[str], set[float]]:
    """Strings and numbers of the records that must never appear downstream."""
    text = set(df.respondent) | set(df.name)
    text |= {repr(float(x)) for x in df.education} | {repr(float(x)) for x in df.funds}
    numbers = set(map(float, df.education)) | set(map(float, df.funds))
    return text, numbers


def test_no_record_reaches_the_store_or_the_report(tmp_path: Path) -> None:
    df = survey()
    p = write(tmp_path, df)
    env = dict(os.environ, COLUMNS="160")
    env.pop("ONWARD_STORE", None)
    proc = subprocess.run([sys.executable, "-m", "onward.interfaces.cli", "run", p.name,
                           "--store", "s.duckdb", "--quiet"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    text_needles, num_needles = _needles(df)
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    tables = [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
    assert "runs" in tables and len(tables) >= 5
    rows = 0
    for t in tables:
        frame = con.execute(f'select * from "{t}"').fetchdf()
        rows += len(frame)
        for col in frame.columns:
            s = frame[col]
            if pd.api.types.is_numeric_dtype(s):
                hits = set(map(float, s.dropna())) & num_needles
                assert not hits, f"{t}.{col} holds a surveyed value: {sorted(hits)[:3]}"
            else:
                blob = "\n".join(map(str, s.dropna()))
                for needle in text_needles:
                    assert needle not in blob, f"{t}.{col} holds {needle!r}"
                # run metadata (scenario YAML) holds the counts, never a record
                numbers = {float(x) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", blob)}
                assert not numbers & num_needles, f"{t}.{col}"
    con.close()
    assert rows > 100
    reports = list((tmp_path / "reports").glob("*.html"))
    for report in reports:
        html = report.read_text(encoding="utf-8", errors="replace")
        for needle in text_needles:
            assert needle not in html, f"{report.name} holds {needle!r}"
    # a whole record, as it stood in the CSV, appears nowhere either
    raw = (tmp_path / "s.duckdb").read_bytes()
    for line in (tmp_path / "survey.csv").read_text().splitlines()[1:50]:
        assert line.encode() not in raw


@pytest.mark.parametrize("file, problem", [
    ("../survey.csv", "leaves the scenario's folder"),
    ("sub/../../survey.csv", "leaves the scenario's folder"),
    ("/etc/passwd", "absolute path"),
    ("ABSOLUTE", "absolute path"),
    ("missing.csv", "no file"),
    ("micro.yaml", "not a .csv"),
    ("link.csv", "outside the scenario's folder"),
])
def test_file_must_lie_in_the_scenario_folder(tmp_path: Path, file: str, problem: str) -> None:
    outside = tmp_path / "outside"
    survey().to_csv(tmp_path / "survey.csv", index=False)  # exists, one level up
    outside.mkdir()
    (outside / "link.csv").symlink_to(tmp_path / "survey.csv")
    file = str(tmp_path / "survey.csv") if file == "ABSOLUTE" else file
    p = outside / "micro.yaml"
    p.write_text(SCENARIO.replace("FILE", file))
    with pytest.raises(ScenarioError) as info:
        load_scenario(p)
    text = str(info.value)
    assert re.match(rf"{re.escape(str(p))}:11: population\.attributes\.microdata\.file: ",
                    text), text
    assert problem in text and "Fix:" in text


def test_microdata_problems_are_clear(tmp_path: Path) -> None:
    df = survey()
    p = write(tmp_path, df)
    p.write_text(SCENARIO.replace("FILE", "survey.csv").replace("education", "edu"))
    with pytest.raises(ScenarioError, match=r"micro\.yaml:12: population\.attributes\."
                       r"microdata\.columns\.skill: no column 'edu'.*Fix: use one of"):
        load_scenario(p)
    p.write_text(SCENARIO.replace("FILE", "survey.csv").replace("min_cell: 10",
                                                                "min_cell: 1000"))
    with pytest.raises(ScenarioError, match=r"fewer than min_cell 1000"):
        load_scenario(p)
    p.write_text(SCENARIO.replace("FILE", "survey.csv").replace("age: age", "region: age"))
    with pytest.raises(ScenarioError, match=r"columns\.region: 'region' cannot come from"):
        load_scenario(p)
    (tmp_path / "survey.csv").write_bytes(b"\xff\xfe\x00garbage\x00\n\x01")
    p.write_text(SCENARIO.replace("FILE", "survey.csv"))
    with pytest.raises(ScenarioError, match=r"microdata\.(file|columns)"):
        load_scenario(p)
    with pytest.raises(ScenarioError, match=r"no folder"):
        load_text(SCENARIO.replace("FILE", "survey.csv"), "text.yaml")


def test_binning_never_shows_a_single_value() -> None:
    # a rich outlier: its bin has one record, so it is suppressed and trimmed away
    x = np.concatenate([np.linspace(0, 5, 200), [987.654321]])
    edges, counts = binned(x, bins=10, integers=False, min_cell=10)
    assert 987.654321 not in edges and max(edges) <= 10 and sum(counts) == 201
    assert all(e == round(e, 6) for e in edges)  # a rounded grid, not data values
    assert nice_width(0.37) == 0.5 and nice_width(12) == 20
