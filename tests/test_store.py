"""Tests for :mod:`onward.store`, the DuckDB results store."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import onward.store
from onward.store import (
    Store,
    StoreBusyError,
    StoreError,
    UnknownRunError,
    default_store_path,
    duck,
)

SRC_DIR = Path(onward.store.__file__).absolute().parents[2]


def _child_env() -> dict[str, str]:
    """Environment for a child Python that can import onward from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC_DIR), env.get("PYTHONPATH")]))
    return env


def _flows(n: int = 3, offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "year": np.arange(2020, 2020 + n, dtype="int64"),
            "country": [f"C{i + offset}" for i in range(n)],
            "people": np.linspace(0.5, 10.0, n) + offset,
            "flag": [i % 2 == 0 for i in range(n)],
            "when": pd.date_range("2021-01-01", periods=n, freq="D").as_unit("us"),
        }
    )


META = {
    "scenario": "baseline",
    "scenario_hash": "abc123",
    "seed": 42,
    "versions": {"onward": "0.1.0", "numpy": np.__version__},
    "wall_seconds": 1.25,
    "engine_seconds": 0.75,
    "note": "extra key",
    "replicates": np.int64(8),
}


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "results.duckdb", timeout=5)


def _data(frame: pd.DataFrame) -> pd.DataFrame:
    """A read-back table without its run_id column, for comparison with what was written."""
    return frame.drop(columns="run_id").reset_index(drop=True)


# ---------------------------------------------------------------------- paths and empty stores


def test_default_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ONWARD_STORE", raising=False)
    assert default_store_path() == Path("onward.duckdb")
    monkeypatch.setenv("ONWARD_STORE", str(tmp_path / "elsewhere.duckdb"))
    assert default_store_path() == tmp_path / "elsewhere.duckdb"
    assert Store().path == tmp_path / "elsewhere.duckdb"
    assert Store(tmp_path / "arg.duckdb").path == tmp_path / "arg.duckdb"


def test_relative_path_is_made_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert Store("x.duckdb").path == tmp_path / "x.duckdb"


def test_missing_store_reads_as_empty(store: Store) -> None:
    runs = store.list_runs()
    assert runs.empty
    assert list(runs.columns)[:2] == ["run_id", "created_at"]
    assert store.tables() == []
    assert store.read_table("flows").empty
    with pytest.raises(UnknownRunError, match="no runs yet"):
        store.get_run("latest")
    with pytest.raises(UnknownRunError):
        store.read_table("flows", "run-0001")
    with pytest.raises(UnknownRunError):
        store.delete_run("run-0001")
    assert not store.path.exists(), "reading must not create the store"


def test_init_opens_nothing(tmp_path: Path) -> None:
    Store(tmp_path / "sub" / "never.duckdb")
    assert not (tmp_path / "sub").exists()


# ---------------------------------------------------------------------- write and read


def test_roundtrip(store: Store) -> None:
    flows, stocks = _flows(5), pd.DataFrame({"country": ["A", "B"], "stock": [10, 20]})
    rid = store.write_run(META, {"flows": flows, "stocks": stocks})
    assert rid == "run-0001"
    assert store.tables() == ["flows", "stocks"]

    got = store.read_table("flows", rid)
    assert list(got.columns) == ["run_id", *flows.columns]
    assert (got["run_id"] == rid).all()
    pd.testing.assert_frame_equal(_data(got), flows, check_dtype=False)
    assert got["year"].dtype.kind == "i" and got["people"].dtype.kind == "f"
    assert got["when"].dtype.kind == "M" and got["flag"].dtype.kind == "b"
    pd.testing.assert_frame_equal(_data(store.read_table("stocks", rid)), stocks, check_dtype=False)

    meta = store.get_run(rid)
    assert meta["run_id"] == rid
    for key in ("scenario", "scenario_hash", "seed", "versions", "wall_seconds", "engine_seconds"):
        assert meta[key] == META[key]
    assert meta["kind"] == "run"
    assert meta["note"] == "extra key" and meta["replicates"] == 8
    assert meta["table_names"] == ["flows", "stocks"]
    now_utc = pd.Timestamp.now(tz="UTC").tz_localize(None)
    assert abs((now_utc - pd.Timestamp(meta["created_at"])).total_seconds()) < 120

    runs = store.list_runs()
    assert runs["run_id"].tolist() == [rid]
    assert json.loads(runs.loc[0, "versions"]) == META["versions"]
    assert json.loads(runs.loc[0, "extra"]) == {"note": "extra key", "replicates": 8}


def test_column_order_does_not_matter(store: Store) -> None:
    first = _flows(2)
    store.write_run({}, {"flows": first})
    store.write_run({}, {"flows": first[first.columns[::-1]]})
    got = store.read_table("flows")
    assert len(got) == 4
    pd.testing.assert_frame_equal(_data(got.iloc[2:]), first, check_dtype=False)


def test_read_all_runs_in_insertion_order(store: Store) -> None:
    ids = [store.write_run({"seed": i}, {"flows": _flows(3, offset=10 * i)}) for i in range(3)]
    got = store.read_table("flows")
    assert got["run_id"].tolist() == [rid for rid in ids for _ in range(3)]
    expected = pd.concat([_flows(3, offset=10 * i) for i in range(3)], ignore_index=True)
    pd.testing.assert_frame_equal(_data(got), expected, check_dtype=False)


def test_run_ids_increment_and_are_never_reused(store: Store) -> None:
    ids = [store.write_run({"seed": i}, {"flows": _flows(1)}) for i in range(3)]
    assert ids == ["run-0001", "run-0002", "run-0003"]
    store.delete_run("run-0003")
    assert store.write_run({}, {"flows": _flows(1)}) == "run-0004"
    assert store.list_runs()["run_id"].tolist() == ["run-0004", "run-0002", "run-0001"]


def test_run_with_no_tables(store: Store) -> None:
    rid = store.write_run({"kind": "calibration"}, {})
    assert store.get_run(rid)["kind"] == "calibration"
    assert store.get_run(rid)["table_names"] == []


def test_new_column_added_later(store: Store) -> None:
    r1 = store.write_run({}, {"flows": pd.DataFrame({"a": [1, 2]})})
    r2 = store.write_run({}, {"flows": pd.DataFrame({"a": [3], "b": ["new"]})})
    old = store.read_table("flows", r1)
    assert list(old.columns) == ["run_id", "a", "b"]
    assert old["b"].isna().all()
    new = store.read_table("flows", r2)
    assert new["b"].tolist() == ["new"] and new["a"].tolist() == [3]


def test_type_is_widened_not_rounded(store: Store) -> None:
    store.write_run({}, {"t": pd.DataFrame({"x": [1, 2]})})
    r2 = store.write_run({}, {"t": pd.DataFrame({"x": [1.5]})})
    assert store.read_table("t", r2)["x"].tolist() == [1.5]
    assert store.read_table("t")["x"].tolist() == [1.0, 2.0, 1.5]


def test_all_null_column_takes_its_type_later(store: Store) -> None:
    store.write_run({}, {"t": pd.DataFrame({"x": [None, None], "y": [1, 2]})})
    r2 = store.write_run({}, {"t": pd.DataFrame({"x": [7], "y": [3]})})
    got = store.read_table("t", r2)
    assert got["x"].tolist() == [7] and got["x"].dtype.kind == "i"


def test_categorical_columns_accept_new_levels(store: Store) -> None:
    store.write_run({}, {"t": pd.DataFrame({"c": pd.Categorical(["a", "b"])})})
    r2 = store.write_run({}, {"t": pd.DataFrame({"c": pd.Categorical(["z"])})})
    assert store.read_table("t", r2)["c"].astype(str).tolist() == ["z"]


def test_named_index_is_kept(store: Store) -> None:
    df = pd.DataFrame({"n": [1, 2]}, index=pd.Index(["x", "y"], name="country"))
    rid = store.write_run({}, {"t": df})
    assert store.read_table("t", rid)[["country", "n"]].values.tolist() == [["x", 1], ["y", 2]]


def test_empty_dataframe_creates_table(store: Store) -> None:
    rid = store.write_run({}, {"t": pd.DataFrame({"a": pd.Series([], dtype="int64")})})
    assert store.tables() == ["t"]
    assert store.read_table("t", rid).empty


# ---------------------------------------------------------------------- looking runs up


def test_latest_and_numbers(store: Store) -> None:
    store.write_run({"seed": 1}, {"flows": _flows(1)})
    r2 = store.write_run({"seed": 2}, {"flows": _flows(2)})
    assert store.get_run("latest")["run_id"] == r2
    assert store.get_run("LATEST")["seed"] == 2
    assert store.get_run(1)["seed"] == 1
    assert store.get_run("2")["run_id"] == r2
    assert len(store.read_table("flows", "latest")) == 2
    assert store.list_runs()["run_id"].tolist() == [r2, "run-0001"]


def test_unknown_run_error_lists_recent_ids(store: Store) -> None:
    for i in range(7):
        store.write_run({"seed": i}, {})
    with pytest.raises(UnknownRunError) as info:
        store.get_run("run-0099")
    message = str(info.value)
    assert "run-0099" in message and str(store.path) in message
    assert "run-0007, run-0006, run-0005" in message
    assert "run-0001" not in message, "only the most recent ids are listed"
    assert "onward.store.Store().list_runs() lists them all" in message  # (Python's way)
    assert isinstance(info.value, StoreError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownRunError, match=r"list_runs\(\)"):
        store.read_table("anything", "run-0099")
    with pytest.raises(UnknownRunError, match=r"list_runs\(\)"):
        store.export("run-0099", store.path.parent / "out")
    assert not (store.path.parent / "out").exists()
    with pytest.raises(UnknownRunError):
        store.delete_run("run-0099")


def test_unknown_table(store: Store) -> None:
    store.write_run({}, {"flows": _flows(1)})
    with pytest.raises(StoreError, match=r"no table 'stocks'.*tables: flows"):
        store.read_table("stocks")


def test_run_without_that_table_reads_empty(store: Store) -> None:
    store.write_run({}, {"flows": _flows(1)})
    r2 = store.write_run({}, {"other": _flows(1)})
    assert store.read_table("flows", r2).empty


def test_read_table_is_case_insensitive(store: Store) -> None:
    rid = store.write_run({}, {"Flows": _flows(2)})
    assert len(store.read_table("flows", rid)) == 2


# ---------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "name",
    ["runs", "RUNS", "1flows", "flows; DROP TABLE runs", 'a"b', "", "a b", "_onward_counter", 3],
)
def test_bad_table_names_are_refused(store: Store, name: object) -> None:
    with pytest.raises(StoreError):
        store.write_run({}, {name: _flows(1)})  # type: ignore[dict-item]
    assert not store.path.exists() or store.list_runs().empty


def test_bad_table_name_on_read(store: Store) -> None:
    with pytest.raises(StoreError, match="bad table name"):
        store.read_table("x; DROP TABLE runs")


def test_bad_frames_and_meta_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="run_id"):
        store.write_run({}, {"t": pd.DataFrame({"run_id": [1]})})
    with pytest.raises(StoreError, match="column name"):
        store.write_run({}, {"t": pd.DataFrame({0: [1]})})
    with pytest.raises(StoreError, match="case-insensitive"):
        store.write_run({}, {"t": pd.DataFrame([[1, 2]], columns=["a", "A"])})
    with pytest.raises(StoreError, match="case-insensitive"):
        store.write_run({}, {"t": _flows(1), "T": _flows(1)})
    with pytest.raises(StoreError, match="DataFrame"):
        store.write_run({}, {"t": [1, 2]})  # type: ignore[dict-item]
    with pytest.raises(StoreError, match="run_id"):
        store.write_run({"run_id": "mine"}, {})
    with pytest.raises(StoreError, match="seed"):
        store.write_run({"seed": "abc"}, {})
    with pytest.raises(StoreError, match="JSON"):
        store.write_run({"thing": object()}, {})
    assert store.list_runs().empty


def test_only_the_creating_process_writes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_run({}, {})
    monkeypatch.setattr(store, "_owner_pid", os.getpid() + 1)
    with pytest.raises(StoreError, match="only be written by the process"):
        store.write_run({}, {})
    with pytest.raises(StoreError, match="only be written by the process"):
        store.delete_run("latest")
    assert len(store.list_runs()) == 1  # reading is fine


# ---------------------------------------------------------------------- atomicity


def _assert_no_trace(store: Store, run_id: str) -> None:
    assert run_id not in store.list_runs()["run_id"].tolist()
    for table in store.tables():
        n = store.query(f'SELECT count(*) AS n FROM "{table}" WHERE run_id = ?', [run_id])
        assert n["n"].iloc[0] == 0, f"{table} has rows of the failed run"


def test_failing_table_rolls_back_whole_run(store: Store) -> None:
    r1 = store.write_run({}, {"flows": _flows(2), "bad": pd.DataFrame({"x": [1]})})
    # A list cannot go into the BIGINT column "x": the third table of the run fails to insert.
    bad = pd.DataFrame({"x": [[1, 2]]})
    with pytest.raises(duckdb.Error, match="(?i)cast|conver") as info:
        store.write_run({}, {"flows": _flows(4), "fresh": _flows(1), "bad": bad})
    assert any("'bad'" in note and "rolled back" in note for note in info.value.__notes__)
    _assert_no_trace(store, "run-0002")
    assert store.tables() == ["bad", "flows"], "tables created by the failed run are rolled back"
    assert len(store.read_table("flows")) == 2
    assert store.write_run({}, {"flows": _flows(1)}) == "run-0002", "failed run used no id"
    assert store.list_runs()["run_id"].tolist() == ["run-0002", r1]


def test_failure_after_all_tables_rolls_back(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_run({}, {"flows": pd.DataFrame({"a": [1]})})

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated crash before the runs row")

    monkeypatch.setattr(duck, "_insert_runs_row", boom)
    with pytest.raises(RuntimeError, match="simulated crash"):
        store.write_run({}, {"flows": pd.DataFrame({"a": [2], "b": [1.5]}), "more": _flows(1)})
    monkeypatch.undo()
    _assert_no_trace(store, "run-0002")
    assert store.tables() == ["flows"]
    assert list(store.read_table("flows").columns) == ["run_id", "a"], "ALTER rolled back"


def test_delete_run_removes_every_row(store: Store) -> None:
    r1 = store.write_run({}, {"flows": _flows(2), "stocks": _flows(3)})
    r2 = store.write_run({}, {"flows": _flows(4)})
    store.delete_run(r1)
    _assert_no_trace(store, r1)
    assert len(store.read_table("flows", r2)) == 4
    store.delete_run("latest")
    assert store.list_runs().empty


_KILL_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import pandas as pd
    from onward.store import Store

    store = Store(sys.argv[1], timeout=30)
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        store.write_run(
            {"scenario": "kill", "seed": i},
            {
                "big": pd.DataFrame({"i": np.arange(1000), "seed": i}),
                "small": pd.DataFrame({"k": np.arange(7), "seed": i}),
            },
        )
        print("committed", flush=True)
    """
)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_never_leaves_a_half_written_run(tmp_path: Path) -> None:
    path = tmp_path / "killed.duckdb"
    rng = random.Random(20240601)
    for attempt in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", _KILL_CHILD, str(path)],
            stdout=subprocess.PIPE,
            env=_child_env(),
            text=True,
        )
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "ready"
            if attempt == 0:  # at least one run is committed, however slow the machine
                assert child.stdout.readline().strip() == "committed"
            time.sleep(rng.uniform(0.05, 0.4))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
            if child.stdout is not None:
                child.stdout.close()
        assert child.returncode == -signal.SIGKILL, "the child died before it was killed"

    store = Store(path, timeout=5)
    runs = store.list_runs()
    assert len(runs) > 0, "no run was ever committed; the test proved nothing"
    counts = store.query(
        """
        SELECT r.run_id, r.seed,
               (SELECT count(*) FROM big b WHERE b.run_id = r.run_id AND b.seed = r.seed) AS big,
               (SELECT count(*) FROM small s WHERE s.run_id = r.run_id AND s.seed = r.seed) AS small
        FROM runs r
        """
    )
    assert (counts["big"] == 1000).all(), counts[counts["big"] != 1000]
    assert (counts["small"] == 7).all(), counts[counts["small"] != 7]
    for table in ("big", "small"):
        orphans = store.query(
            f"SELECT count(*) AS n FROM {table} WHERE run_id NOT IN (SELECT run_id FROM runs)"
        )
        assert orphans["n"].iloc[0] == 0
    # The store is still writable, and ids keep increasing.
    rid = store.write_run({}, {"small": pd.DataFrame({"k": [1], "seed": [0]})})
    assert rid == max(store.list_runs()["run_id"])


# ---------------------------------------------------------------------- locking and damage


_HOLD_CHILD = textwrap.dedent(
    """
    import sys, time
    import duckdb
    con = duckdb.connect(sys.argv[1])
    print("locked", flush=True)
    time.sleep(60)
    """
)


def test_lock_contention_raises_store_busy(store: Store) -> None:
    store.write_run({}, {"flows": _flows(1)})
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CHILD, str(store.path)],
        stdout=subprocess.PIPE,
        env=_child_env(),
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        busy = Store(store.path, timeout=0.5, write_timeout=0.5)
        start = time.monotonic()
        with pytest.raises(StoreBusyError) as info:
            busy.write_run({}, {"flows": _flows(1)})
        assert time.monotonic() - start >= 0.45, "gave up before the timeout"
        message = str(info.value)
        assert str(store.path) in message
        assert f"PID {child.pid}" in message
        assert "Fix: close that program's connection to the store" in message
        assert "use store=FILE to write elsewhere" in message  # (Python's keyword)
        with pytest.raises(StoreBusyError):
            busy.list_runs()  # DuckDB does not let readers in while another process writes
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert len(store.list_runs()) == 1, "usable again once the other process is gone"


def test_busy_store_waits_for_the_lock(store: Store) -> None:
    store.write_run({}, {})
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _HOLD_CHILD.replace("time.sleep(60)", "time.sleep(0.5)"),
            str(store.path),
        ],
        stdout=subprocess.PIPE,
        env=_child_env(),
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        assert Store(store.path, timeout=20).write_run({}, {}) == "run-0002"
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


def test_corrupt_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.duckdb"
    path.write_bytes(b"this is not a duckdb file\n" * 500)
    store = Store(path, timeout=0.2)
    for call in (store.list_runs, lambda: store.write_run({}, {})):
        with pytest.raises(StoreError) as info:
            call()
        message = str(info.value)
        assert str(path) in message
        assert "move it aside" in message and "store=FILE (or ONWARD_STORE)" in message


def test_empty_file_left_by_a_crash_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.duckdb"
    path.touch()  # what a process killed while creating the store can leave behind
    store = Store(path, timeout=0.2)
    assert store.list_runs().empty
    assert store.write_run({}, {"t": _flows(1)}) == "run-0001"
    assert len(store.read_table("t")) == 1


def test_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="directory"):
        Store(tmp_path).write_run({}, {})


# ---------------------------------------------------------------------- query and export


def test_query_is_read_only(store: Store) -> None:
    store.write_run({"seed": 5}, {"flows": _flows(3)})
    got = store.query("SELECT run_id, count(*) AS n FROM flows GROUP BY run_id")
    assert got.to_dict("records") == [{"run_id": "run-0001", "n": 3}]
    assert store.query("SELECT seed FROM runs WHERE run_id = $rid", {"rid": "run-0001"})[
        "seed"
    ].tolist() == [5]
    with pytest.raises(StoreError, match="read-only"):
        store.query("DELETE FROM runs")
    with pytest.raises(StoreError, match="query failed"):
        store.query("SELECT * FROM no_such_table")
    assert len(store.list_runs()) == 1


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_round_trip(store: Store, tmp_path: Path, fmt: str) -> None:
    store.write_run({}, {"flows": _flows(1)})
    rid = store.write_run(META, {"flows": _flows(4), "stocks": pd.DataFrame({"n": [1, 2]})})
    out = tmp_path / "out" / "nested"
    paths = store.export(rid, out, fmt=fmt)  # type: ignore[arg-type]
    assert [p.name for p in paths] == [f"flows.{fmt}", f"stocks.{fmt}", "run.json"]
    assert all(p.parent == out and p.is_file() for p in paths)
    assert not list(out.glob(".*.tmp"))

    for name in ("flows", "stocks"):
        expected = store.read_table(name, rid)
        if fmt == "parquet":
            got = pd.read_parquet(out / f"{name}.parquet")
        else:
            got = pd.read_csv(out / f"{name}.csv")
            for column in expected.columns:
                if expected[column].dtype.kind == "M":
                    got[column] = pd.to_datetime(got[column]).astype(expected[column].dtype)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)

    meta = json.loads((out / "run.json").read_text())
    assert meta["run_id"] == rid
    assert meta["versions"] == META["versions"] and meta["seed"] == 42
    assert meta["note"] == "extra key" and meta["replicates"] == 8
    assert meta["table_names"] == ["flows", "stocks"]
    # Exporting again replaces the files.
    assert store.export("latest", out, fmt=fmt) == paths  # type: ignore[arg-type]


def test_export_rejects_unknown_format(store: Store, tmp_path: Path) -> None:
    store.write_run({}, {})
    with pytest.raises(StoreError, match="format"):
        store.export("latest", tmp_path, fmt="xlsx")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- property


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=20,
)


@settings(max_examples=25, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.integers(min_value=-(2**63), max_value=2**63 - 1),
            st.floats(allow_nan=False, allow_infinity=True),
            _text,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_property_roundtrip(rows: list[tuple[int, float, str]]) -> None:
    df = pd.DataFrame(rows, columns=["i", "f", "s"])
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "p.duckdb")
        rid = store.write_run({}, {"t": df})
        got = _data(store.read_table("t", rid))
    pd.testing.assert_frame_equal(got, df, check_dtype=False)


def test_ctrl_c_during_a_query_is_an_interrupt_not_an_error(tmp_path):
    """DuckDB turns Ctrl-C during a statement into its own error, and callers that read
    a failed query as "no table yet" swallowed it: an ensemble interrupted there ran to
    the end and exited 0. The store raises KeyboardInterrupt instead."""
    import os
    import signal
    import threading

    store = Store(tmp_path / "s.duckdb")
    # a test runner started as a background job without job control ignores SIGINT
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):  # a few seconds if nothing interrupts it
            store.query("select count(*) from range(2000000000) t(i) where i % 7 = 3")
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)


def test_has_table_names_a_stored_table_in_any_case(tmp_path):
    """done_jobs and stored_generations ask this (each had its own lower-cased scan)."""
    st = Store(tmp_path / "s.duckdb")
    assert not st.has_table("flows") and not (tmp_path / "s.duckdb").exists()
    st.write_run({"scenario": "x"}, {"flows": pd.DataFrame({"year": [2020], "n": [5]})})
    assert st.has_table("flows") and st.has_table("FLOWS") and not st.has_table("stocks")


class _FullDiskConnection:
    """A connection whose commit fails as DuckDB's does on a full disk."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con, self._path = con, path

    def __getattr__(self, name: str) -> object:
        return getattr(self._con, name)

    def commit(self) -> None:
        raise duckdb.TransactionException(
            f'TransactionContext Error: Failed to commit: Could not write file "{self._path}'
            '.wal": No space left on device')


def test_a_full_disk_is_a_store_error_and_keeps_the_stored_runs(store: Store, monkeypatch
                                                                  ) -> None:
    """A full disk mid-ensemble ended in a _duckdb.TransactionException traceback (exit 1)."""
    store.write_run({}, {"flows": _flows(1)})
    opened = Store._open
    monkeypatch.setattr(Store, "_open", lambda self, *args: _FullDiskConnection(
        opened(self, *args), self.path))
    with pytest.raises(StoreError, match=r"could not write to results store .*: its disk is "
                       r"full; this run was not stored, and the runs stored before it are kept"
                       r".* Fix: free space on that disk, or use store=FILE to write "
                       r"elsewhere\. DuckDB said: .*No space left on device"):
        store.write_run({}, {"flows": _flows(2)})
    monkeypatch.undo()
    assert list(store.list_runs().run_id) == ["run-0001"]


def test_a_write_waits_long_for_a_reader_and_says_who_holds_the_store(
        store: Store, monkeypatch) -> None:
    """A notebook's read-only connection held for over 30 s stopped a long ensemble
    ('gave up after 30 s. Fix: wait for the other onward command to finish') and lost the
    job in flight. A write now waits far longer, saying now and then who holds the file."""
    from onward.store import StoreBusyWarning, duck

    store.write_run({}, {"flows": _flows(1)})
    monkeypatch.setattr(duck, "BUSY_NOTICE_SECONDS", 0.3)
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLD_CHILD.replace("duckdb.connect(sys.argv[1])",
                                                   "duckdb.connect(sys.argv[1], read_only=True)")
         .replace("time.sleep(60)", "time.sleep(2)"), str(store.path)],
        stdout=subprocess.PIPE, env=_child_env(), text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.warns(StoreBusyWarning, match=rf"is held by another process \(.*PID "
                          rf"{child.pid}\); waited \d+ s to write it, and waits up to 6 h\. "
                          r"Fix: close that program's connection"):
            assert Store(store.path, timeout=0.5).write_run({}, {"flows": _flows(2)}) == \
                "run-0002"
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()


def test_a_store_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    """--store with a typo in its folder made that folder and a new, empty store in it."""
    path = tmp_path / "reslts" / "onward.duckdb"
    with pytest.raises(StoreError, match=r"the folder .*reslts does not exist\. Fix: check the "
                       r"path for a typo, create the folder \(mkdir -p .*reslts\), or use "
                       r"store=FILE with a file in an existing folder"):
        Store(path).write_run({}, {"flows": _flows(1)})
    assert not path.parent.exists()
    assert Store(path).list_runs().empty  # reading a store that is not there is no error


def test_an_unwritable_store_says_what_to_do(tmp_path: Path, monkeypatch) -> None:
    """An unwritable store file gave 'could not open results store ...: IO Error: ...
    Operation not permitted' and no Fix."""
    def denied(*args, **kwargs):
        raise duckdb.IOException(f'IO Error: Cannot open file "{tmp_path}/r.duckdb": '
                                 "Operation not permitted")

    monkeypatch.setattr(duckdb, "connect", denied)
    with pytest.raises(StoreError, match=r"could not open results store .*Operation not "
                       r"permitted\. Fix: make the file and its folder writable for this user "
                       r".*, or use store=FILE to use another file\.$"):
        Store(tmp_path / "r.duckdb").write_run({}, {})


def test_a_file_system_without_locking_is_said_at_once(tmp_path: Path, monkeypatch) -> None:
    """DuckDB's 'Could not set lock on file ...: No locks available' (NFS without a lock
    daemon) was taken for another process holding the file, so a write waited its whole
    timeout (6 h), warning of a holder that did not exist. It is refused at once."""
    import time

    import duckdb

    def no_locks(*args, **kwargs):
        raise duckdb.IOException('IO Error: Could not set lock on file "x.duckdb": No locks '
                                 "available")

    monkeypatch.setattr(duckdb, "connect", no_locks)
    start = time.monotonic()
    with pytest.raises(StoreError, match="refuses DuckDB's file lock .* local disk"):
        Store(tmp_path / "x.duckdb").write_run({}, {})
    assert time.monotonic() - start < 5


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_in_the_middle_of_a_write_lets_the_run_land_then_stops(tmp_path, monkeypatch):
    """A Ctrl-C while DuckDB read a frame (Python code it calls) came out as an ordinary
    DuckDB error: the two-worker ensemble ended with status 1 and a traceback, not 130 (1 in
    ~50 runs of the CLI's Ctrl-C test). The write now finishes, then the Ctrl-C acts."""
    import onward.store.duck as duck

    real = duck._insert_frame

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # a terminal's Ctrl-C, mid-transaction
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(duck, "_insert_frame", interrupted)
    store = Store(tmp_path / "s.duckdb")
    with pytest.raises(KeyboardInterrupt):
        store.write_run({"scenario": "s", "seed": 1},
                        {"flows": pd.DataFrame({"year": [2020], "n": [5]})})
    monkeypatch.setattr(duck, "_insert_frame", real)
    assert store.list_runs().run_id.tolist() == ["run-0001"]
    assert store.read_table("flows", "run-0001").n.tolist() == [5]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_in_the_middle_of_a_delete_lets_it_finish_then_stops(tmp_path, monkeypatch):
    """delete_run holds Ctrl-C over its transaction as write_run does: a Ctrl-C between
    its statements deletes the run from every table, then acts."""
    import onward.store.duck as duck

    store = Store(tmp_path / "s.duckdb")
    store.write_run({"scenario": "s"}, {"flows": pd.DataFrame({"year": [2020], "n": [5]})})
    keep = store.write_run({"scenario": "s"}, {"flows": pd.DataFrame({"year": [2021], "n": [6]})})
    real = duck._user_tables

    def interrupted(con):
        os.kill(os.getpid(), signal.SIGINT)  # a terminal's Ctrl-C, mid-transaction
        time.sleep(0.05)
        return real(con)

    monkeypatch.setattr(duck, "_user_tables", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.delete_run("run-0001")
    monkeypatch.setattr(duck, "_user_tables", real)
    assert store.list_runs().run_id.tolist() == [keep]
    assert store.read_table("flows").n.tolist() == [6]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.usefixtures("ctrl_c")
def test_ctrl_c_while_a_write_waits_for_the_file_acts_at_once(store: Store) -> None:
    """The hold over a write's transaction starts once the file is open: a Ctrl-C while
    the write waits for another process to let go of the file ends the wait at once (held
    too, it would have waited the whole write timeout)."""
    import threading

    store.write_run({}, {"flows": _flows(1)})
    child = subprocess.Popen([sys.executable, "-c", _HOLD_CHILD, str(store.path)],
                             stdout=subprocess.PIPE, env=_child_env(), text=True)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        waiting = Store(store.path, write_timeout=8)
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            waiting.write_run({}, {"flows": _flows(1)})
        assert time.monotonic() - start < 4
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert len(store.list_runs()) == 1


def test_duckdb_errors_that_carry_a_keyboard_interrupt_are_interrupts():
    """DuckDB re-raises a KeyboardInterrupt in Python code it ran as its own error, with
    the Python traceback (a frame it read) or the exception's name (a function) as text."""
    from onward.store.duck import is_interrupt

    def stop(x):
        raise KeyboardInterrupt

    # (closed at once: a connection left to the garbage collector with a Python function
    # in it crashed a process forked later in the test session, collecting it)
    with duckdb.connect() as con:
        con.create_function("stop", stop, ["BIGINT"], "BIGINT")
        with pytest.raises(duckdb.Error) as caught:
            con.execute("select stop(1)").fetchall()
    assert is_interrupt(caught.value)
    assert is_interrupt(duckdb.Error("Traceback (most recent call last):\n  File \"x.py\", "
                                     "line 1, in f\nKeyboardInterrupt: \n"))
    assert not is_interrupt(duckdb.Error("Invalid Input Error: Python exception occurred "
                                         "while executing the UDF: ValueError: bad"))
    assert not is_interrupt(duckdb.Error("KeyboardInterrupt handling is not at the end"))
