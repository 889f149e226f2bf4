"""Crash safety of the store: SIGKILL `onward run`, `onward calibrate` and `onward ensemble`
at random moments; the store stays readable, completed runs stay intact and identical, no
half-written run is ever visible, and the interrupted work resumes to the same results.

CI kills each command twice (6 kills). The full campaign is the same test with more kills
per command, and a log for the figure of docs/reliability.md::

    ONWARD_CRASH_KILLS=25 ONWARD_CRASH_LOG=/tmp/crash.json python3 -m pytest -q \\
        tests/test_crash.py -k campaign
    python3 scripts/reliability_figures.py --crash-log /tmp/crash.json

Each command runs as ``python -m onward.interfaces.cli`` in its own process group; a kill
takes the whole group (the command and any worker processes), at a moment drawn uniformly
from the time an uninterrupted run of the same command took.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from onward.calibration.abc import load_posterior, stored_generations
from onward.experiments.ensemble import ensemble
from onward.store import Store

KILLS = int(os.environ.get("ONWARD_CRASH_KILLS", "2"))
LOG = os.environ.get("ONWARD_CRASH_LOG")
SEED = int(os.environ.get("ONWARD_CRASH_SEED", "8"))

SMALL = """\
extends: toy
name: crash-small
horizon: {start: 2000-01, end: 2004-12}
events:
  - {id: crp-checks-2010, remove: true}
  - {id: bor-antidiscrimination-2015, remove: true}
calibration: {years: 2000-2002, held_out: 2003}
"""
# nk-onward with two free parameters and three calibration years: a calibration of a few
# dozen short simulations
CAL = """\
extends: nk-onward
name: crash-cal
horizon: {start: 1999-01, end: 2015-12}
events: [{id: can-tb4-2016, remove: true}, {id: can-vacate-2017, remove: true}]
calibration: {years: 2000-2002, held_out: []}
parameters:
  integration:
    hiring_discrimination: {free: false}
    glass_ceiling: {free: false}
    discrimination_rate: {free: false}
  aspiration: {w_frustration: {free: false}, w_recognition: {free: false}}
  decision: {base_hazard: {free: false}}
  network: {diaspora_share: {free: false}}
  brokers: {contacts: {free: false}}
destinations:
  GBR: {recognition_rate: {free: false}, detection: {free: false}}
  CAN: {recognition_rate: {free: false}, detection: {free: false}}
"""
CAL_ARGS = ["--budget", "20", "--population", "6", "--workers", "1", "--seed", "3"]
ENS_ARGS = ["-n", "4", "--workers", "2", "--until", "2005"]


def cli(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ, COLUMNS="160")
    env.pop("ONWARD_STORE", None)
    return subprocess.Popen([sys.executable, "-m", "onward.interfaces.cli", *args], cwd=cwd,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 600) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
    assert "Traceback" not in err
    return out


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=60)


# --- what a store must look like after any crash ----------------------------------------------


def fingerprints(path: Path) -> dict[str, tuple[str, str, str]]:
    """run_id -> (kind, identity, SHA-256 of its rows in every table it names).

    ``identity`` says which runs must be identical: a plain run by (scenario, seed), an
    ensemble job by (experiment, job), a calibration generation by generation number (the
    calibration's name is left out of the rows, so differently named runs of the same
    calibration compare equal).
    """
    out: dict[str, tuple[str, str, str]] = {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        runs = con.execute("select run_id, kind, scenario, seed, table_names, extra from runs"
                           ).fetchall()
        for run_id, kind, scenario, seed, names, extra in runs:
            extra = json.loads(extra or "{}")
            h = hashlib.sha256()
            for name in sorted(json.loads(names or "[]")):
                df = con.execute(f'select * from "{name}" where run_id = ? order by rowid',
                                 [run_id]).fetchdf()
                df = df.drop(columns=[c for c in ("run_id", "name") if c in df.columns])
                h.update(name.encode() + df.to_csv(index=False).encode())
            if kind == "run":
                ident = f"{scenario}/{seed}"
            elif kind == "ensemble-job":
                ident = f"{extra['experiment_id']}/{extra['job']}"
            elif kind == "calibration":
                ident = f"{scenario}/{extra['generation']}"
            else:
                ident = f"{kind}/{extra.get('experiment_id', run_id)}"
            out[run_id] = (kind, ident, h.hexdigest())
    finally:
        con.close()
    return out


def check_store(path: Path, before: dict[str, tuple[str, str, str]]
                ) -> dict[str, tuple[str, str, str]]:
    """The store opens; earlier runs are unchanged; no partial run; equal runs are equal."""
    st = Store(path, timeout=10)
    listed = st.list_runs()  # opens through the public API
    now = fingerprints(path)
    assert set(listed.run_id) == set(now)
    for rid, fp in before.items():
        assert now.get(rid) == fp, f"completed run {rid} changed or vanished after a kill"
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()]
        for t in tables:
            if t == "runs" or t.startswith("_"):
                continue
            orphans = con.execute(f'select count(*) from "{t}" where run_id not in '
                                  "(select run_id from runs)").fetchone()[0]
            assert orphans == 0, f"{orphans} rows of a half-written run in {t}"
    finally:
        con.close()
    by_ident: dict[str, str] = {}
    for rid, (kind, ident, digest) in sorted(now.items()):
        if kind in ("run", "ensemble-job", "calibration"):
            assert by_ident.setdefault(ident, digest) == digest, \
                f"{rid} ({ident}) differs from an earlier run of the same work"
    return now


# --- the campaign -------------------------------------------------------------------------


def _command(kind: str, store: str, step: str, name: str, have_state: bool) -> list[str]:
    if kind == "run":
        return ["run", "small.yaml", "--store", store, "--quiet", "--no-report", "--json"]
    if kind == "ensemble":
        seed = "1" if step == "baseline" else "2"
        return ["ensemble", "small.yaml", *ENS_ARGS, "--seed", seed, "--store", store,
                "--quiet", "--json"]
    resume = ["--resume"] if have_state else []
    return ["calibrate", "cal.yaml", "--name", name, *CAL_ARGS, *resume, "--store", store,
            "--quiet"]


def _calibration_state(folder: Path, store: Path, name: str) -> bool:
    """Whether a later start must pass --resume (what a user would do after a crash)."""
    return (not stored_generations(Store(store), name).empty
            or any((folder / ".onward-calibrations").glob(f"*--{name}.db")))


def test_sigkill_campaign(tmp_path: Path) -> None:
    (tmp_path / "small.yaml").write_text(SMALL)
    (tmp_path / "cal.yaml").write_text(CAL)
    store = tmp_path / "store.duckdb"
    rng = random.Random(SEED)
    log: list[dict] = []
    seen = check_store(store, {}) if store.exists() else {}
    t_campaign = time.perf_counter()
    for kind in ("run", "ensemble", "calibrate"):
        # an uninterrupted run: the reference results, and how long the command takes
        t0 = time.perf_counter()
        finish(cli(_command(kind, store.name, "baseline", "ref", False), tmp_path))
        duration = time.perf_counter() - t0
        seen = check_store(store, seen)
        log.append({"command": kind, "event": "baseline", "seconds": duration,
                    "runs": len(seen)})
        # a chain of kills of the same work, each start continuing the last
        for k in range(KILLS):
            have = kind == "calibrate" and _calibration_state(tmp_path, store, "chain")
            proc = cli(_command(kind, store.name, "chain", "chain", have), tmp_path)
            # the first kill of `onward run` aims at its end, where the store is written
            lo = 0.85 if kind == "run" and k == 0 else 0.0
            at = rng.uniform(lo, 1.0) * duration
            try:
                proc.wait(timeout=at)
                finished = True
            except subprocess.TimeoutExpired:
                finished = False
            kill_group(proc)
            if finished:
                assert proc.returncode == 0, proc.stderr
            before = len(seen)
            seen = check_store(store, seen)
            log.append({"command": kind, "event": "kill", "k": k, "at": at,
                        "fraction": at / duration, "finished_first": finished,
                        "runs_before": before, "runs": len(seen)})
        # resume: the same command (calibrate: --resume) completes the interrupted work
        have = kind == "calibrate" and _calibration_state(tmp_path, store, "chain")
        t0 = time.perf_counter()
        finish(cli(_command(kind, store.name, "chain", "chain", have), tmp_path))
        seen = check_store(store, seen)
        log.append({"command": kind, "event": "resume", "seconds": time.perf_counter() - t0,
                    "resumed": have, "runs": len(seen)})
        _check_resumed(kind, tmp_path, store)
    # the store is still writable
    rid = Store(store).write_run({"kind": "probe"}, {"probe": pd.DataFrame({"x": [1]})})
    assert rid == max(Store(store).list_runs().run_id)
    kills = [e for e in log if e["event"] == "kill"]
    assert len(kills) == 3 * KILLS
    if LOG:
        Path(LOG).write_text(json.dumps({"kills_per_command": KILLS, "seed": SEED,
                                         "seconds": time.perf_counter() - t_campaign,
                                         "events": log}, indent=1))


def _check_resumed(kind: str, folder: Path, store: Path) -> None:
    """The interrupted-and-resumed work equals the same work done without interruption."""
    runs = Store(store).list_runs()
    if kind == "run":
        assert (runs.kind == "run").sum() >= 2  # baseline + the final run, all equal
    elif kind == "ensemble":
        scratch = folder / "reference.duckdb"
        ref = ensemble(str(folder / "small.yaml"), n=4, seed=2, until=2005, workers=1,
                       store=scratch)
        got = Store(store).query("select * from experiment_values where experiment_id = ?",
                                 [ref.experiment_id])
        assert got.job.nunique() == 4 and len(got) == len(ref.values)
        cols = ["job", "output", "year", "destination", "value"]
        got = got.sort_values(cols[:4]).reset_index(drop=True)[cols]
        pd.testing.assert_frame_equal(got, ref.values[cols].reset_index(drop=True))
        bands = Store(store).query("select count(distinct run_id) as n from ensemble_bands "
                                   "where experiment_id = ?", [ref.experiment_id])
        assert bands.n.iloc[0] == 1
    else:
        ref = stored_generations(Store(store), "ref").generation.tolist()
        got = stored_generations(Store(store), "chain").generation.tolist()
        assert got == ref == list(range(len(ref)))
        for g in ref:
            a = load_posterior("ref", store, generation=g)
            b = load_posterior("chain", store, generation=g)
            pd.testing.assert_frame_equal(a.particles, b.particles, check_exact=True)
            assert (a.weights == b.weights).all() and a.epsilon == b.epsilon


def test_two_writers_serialise(tmp_path: Path) -> None:
    """Two `onward run` at once on one store: both finish, one after the other."""
    (tmp_path / "small.yaml").write_text(SMALL)
    store = tmp_path / "store.duckdb"
    args = ["run", "small.yaml", "--store", store.name, "--quiet", "--no-report", "--json"]
    procs = [cli(args, tmp_path) for _ in range(2)]
    ids = sorted(json.loads(finish(p))["run_id"] for p in procs)
    assert ids == ["run-0001", "run-0002"]
    fps = check_store(store, {})
    assert fps["run-0001"][2] == fps["run-0002"][2]


def test_resume_after_a_kill_before_pyabc_recorded_the_run(tmp_path: Path) -> None:
    """Found by the campaign: a kill right after the calibration database file was created
    left a file without pyabc's run, and `--resume` stopped with pyabc's "Specified id 1
    does not exist in database". Nothing was done, so resuming now starts afresh."""
    from onward.calibration.abc import _db_path, calibrate
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    db = _db_path(Store(store), "early")
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    post = calibrate(load_text(CAL), "early", budget=6, population=3, max_generations=1,
                     workers=1, seed=3, store=store, resume=True)
    assert post.generation == 0 and len(post.particles) == 3


def test_resume_after_a_kill_while_pyabc_created_its_tables(tmp_path: Path) -> None:
    """Found by the campaign in CI: a kill while pyabc was creating its tables left a file
    whose version table is still empty, and `--resume` stopped with pyabc's "Database has
    version 0". No generation was stored, so resuming starts afresh."""
    import sqlite3

    from onward.calibration.abc import _db_path, calibrate
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    db = _db_path(Store(store), "half")
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as con:  # the version table exists, its row does not yet
        con.execute("CREATE TABLE version (version_num VARCHAR(32) NOT NULL, "
                    "PRIMARY KEY (version_num))")
    post = calibrate(load_text(CAL), "half", budget=6, population=3, max_generations=1,
                     workers=1, seed=3, store=store, resume=True)
    assert post.generation == 0 and len(post.particles) == 3


def test_resume_after_a_kill_before_pyabc_wrote_its_first_population(tmp_path: Path) -> None:
    """Found by a user: Ctrl-C 3 s into a calibration, then --resume as told, crashed in 2
    of 8 tries with "'>=' not supported between 'NoneType' and 'int'": pyabc had recorded
    its run but no population, so its max_t was None. Resuming starts afresh."""
    import sqlite3

    from onward.calibration.abc import _db_path, calibrate
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    sc = load_text(CAL)
    calibrate(sc, "early", budget=6, population=3, max_generations=1, workers=1, seed=3,
              store=tmp_path / "first.duckdb")
    db = _db_path(Store(store), "early")
    db.parent.mkdir(parents=True, exist_ok=True)
    src = _db_path(Store(tmp_path / "first.duckdb"), "early")
    db.write_bytes(src.read_bytes())
    with sqlite3.connect(db) as con:  # the run is recorded, no population yet
        for table in ("samples", "summary_statistics", "parameters", "particles",
                      "models", "populations"):
            con.execute(f"delete from {table}")
    post = calibrate(sc, "early", budget=6, population=3, max_generations=1, workers=1,
                     seed=3, store=store, resume=True)
    assert post.generation == 0 and len(post.particles) == 3


def test_one_calibration_name_is_run_by_one_process_at_a_time(tmp_path: Path) -> None:
    """Two `onward calibrate --name dup` at once on one store: the first stored a posterior
    mixed from both processes' proposals, the second crashed on pyabc's weights. The
    second is now refused at once, naming the first's PID."""
    import fcntl

    from onward.calibration import CalibrationError
    from onward.calibration.abc import _db_path, calibrate
    from onward.scenario import load_text

    store = tmp_path / "s.duckdb"
    db = _db_path(Store(store), "dup")
    db.parent.mkdir(parents=True)
    with open(db.with_name(db.name + ".lock"), "w") as fh:  # as a running calibration holds
        fh.write("4242")
        fh.flush()
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(CalibrationError, match="calibration 'dup' is being run by another "
                           r"process \(PID 4242\) on this store. Fix: wait for it"):
            calibrate(load_text(CAL), "dup", budget=6, population=3, max_generations=1,
                      workers=1, seed=3, store=store)
    # once the first has finished, the name is free
    post = calibrate(load_text(CAL), "dup", budget=6, population=3, max_generations=1,
                     workers=1, seed=3, store=store)
    assert post.generation == 0


def test_calibrate_refuses_a_store_it_cannot_open_before_simulating(tmp_path: Path) -> None:
    """A corrupt store was found only after a whole first generation (14 s on the toy;
    minutes on the flagship)."""
    from onward.calibration.abc import calibrate
    from onward.scenario import load_text
    from onward.store import StoreError

    bad = tmp_path / "corrupt.duckdb"
    bad.write_text("this is not a database")
    calls = []
    with pytest.raises(StoreError):
        calibrate(load_text(CAL), "c", budget=6, population=3, max_generations=1, workers=1,
                  seed=3, store=bad, progress=lambda *a: calls.append(a))
    assert not calls
