"""The results store: one embedded DuckDB file holding every run's tidy tables.

Design rules (from the project standards):

* **Only the parent process writes.** Workers return their results to the parent, which
  calls :meth:`Store.write_run`. A :class:`Store` refuses to write from any process other
  than the one that created it (for example a forked or unpickled copy in a worker).
* **Connections are short-lived.** Every method opens the file, does its work and closes
  it again, so a reader such as a dashboard never holds the file lock for long. DuckDB
  lets one process at a time open a file for writing, and no other process may read it
  meanwhile; :meth:`Store.connect` therefore retries on a lock conflict with backoff for
  up to ``timeout`` seconds before raising :class:`StoreBusyError`.
* **Runs appear atomically.** :meth:`Store.write_run` writes all tables of a run and its
  row in ``runs`` in one transaction. A crash, ``SIGKILL`` or exception part-way leaves
  nothing visible: a run exists only if its ``runs`` row does, and readers always go
  through ``runs``.
* **Tables are tidy and keyed by ``run_id``.** Each result table has a ``run_id`` column
  first, followed by the columns of the DataFrames written to it.

Layout of the file
------------------
``runs``
    One row per committed run: ``run_id``, ``created_at`` (UTC, naive ``TIMESTAMP``),
    ``scenario``, ``scenario_hash``, ``seed``, ``versions`` (JSON text), ``wall_seconds``,
    ``engine_seconds``, ``kind``, ``table_names`` (JSON list of the tables the run wrote)
    and ``extra`` (JSON text with every other meta key).
``<table>``
    One result table per name passed to :meth:`Store.write_run`, with ``run_id`` first.
``_onward_counter``
    Internal: the last run number handed out, so that ids are never reused, not even
    after :meth:`Store.delete_run`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd

from onward.interrupts import held_interrupts
from onward.options import option, runs_command

__all__ = [
    "ENV_VAR",
    "RUNS_TABLE",
    "Store",
    "StoreBusyError",
    "StoreBusyWarning",
    "StoreError",
    "UnknownRunError",
    "default_store_path",
]

#: Environment variable that overrides the default store path.
ENV_VAR = "ONWARD_STORE"
#: File name of the default store, in the current working directory.
DEFAULT_FILENAME = "onward.duckdb"
#: Name of the table with one row per committed run.
RUNS_TABLE = "runs"

_COUNTER_TABLE = "_onward_counter"
_FRAME_VIEW = "_onward_frame"
_LATEST = "latest"
_TABLE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
_RUN_ID_RE = re.compile(r"run-(\d+)")
_PID_RE = re.compile(r"PID (\d+)")
_HOLDER_RE = re.compile(r"held in (.+?) \(PID")

#: Columns of ``runs``, in order, with their DuckDB types.
_RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("scenario", "VARCHAR"),
    ("scenario_hash", "VARCHAR"),
    ("seed", "BIGINT"),
    ("versions", "VARCHAR"),
    ("wall_seconds", "DOUBLE"),
    ("engine_seconds", "DOUBLE"),
    ("kind", "VARCHAR"),
    ("table_names", "VARCHAR"),
    ("extra", "VARCHAR"),
)
_META_FIELDS = ("scenario", "scenario_hash", "seed", "versions", "wall_seconds", "engine_seconds")
_RESERVED_META = ("run_id", "created_at", "table_names", "extra")
#: Sort key for "newest first": the run number, then the time of writing.
_NEWEST_FIRST = (
    f"TRY_CAST(regexp_extract(run_id, '^{_RUN_ID_RE.pattern}$', 1) AS BIGINT) DESC NULLS LAST, "
    "created_at DESC, run_id DESC"
)


class StoreError(Exception):
    """Base class of every error raised by the results store."""


class StoreBusyError(StoreError):
    """Another process holds the store file and did not let go within the timeout."""


class StoreBusyWarning(UserWarning):
    """A write waits for another process that holds the store file (said every
    :data:`BUSY_NOTICE_SECONDS`)."""


#: how long :meth:`Store.write_run` waits for another process to let go of the file
#: (seconds): a command that has computed a result waits rather than lose it (a notebook's
#: connection, even a read-only one, held for a minute killed a day-long ensemble)
WRITE_WAIT_SECONDS = 6 * 3600.0
#: how often a write that waits says what holds the file (seconds)
BUSY_NOTICE_SECONDS = 30.0


class UnknownRunError(StoreError, KeyError):
    """No committed run has the requested ``run_id``.

    Subclasses :class:`KeyError` too, so ``except KeyError`` works, but the message is
    shown as plain text rather than as a quoted key.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def output_name(store: Store | str | os.PathLike[str] | None, ident: str) -> str:
    """The name of a run's or an experiment's report and export folder: its id, led by the
    store's name unless the store is an ``onward.duckdb`` (run ids restart in each store,
    and reports of two stores in one folder overwrote each other).

    >>> output_name("onward.duckdb", "run-0001"), output_name("b.duckdb", "run-0001")
    ('run-0001', 'b-run-0001')
    """
    path = store.path if isinstance(store, Store) else Path(store or default_store_path())
    return ident if path.name == "onward.duckdb" else f"{path.stem}-{ident}"


#: the kind of an experiment's single run ends so (``ensemble-job``); the run lists hide them
JOB_SUFFIX = "-job"


def is_job_kind(kinds: pd.Series) -> pd.Series:
    """Whether each run of a ``runs`` listing is one of an experiment's single runs
    (``onward runs`` lists the experiment's summary instead; ``--all`` shows them)."""
    return kinds.fillna("").astype(str).str.endswith(JOB_SUFFIX)


def default_store_path() -> Path:
    """Return the path of the results store used when none is given.

    This is ``$ONWARD_STORE`` when that environment variable is set and not empty, and
    ``./onward.duckdb`` (relative to the current working directory) otherwise.

    Returns
    -------
    pathlib.Path
        The store path, with ``~`` expanded.

    Examples
    --------
    >>> default_store_path()  # with ONWARD_STORE unset  # doctest: +SKIP
    PosixPath('onward.duckdb')
    """
    env = os.environ.get(ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path(DEFAULT_FILENAME)


class Store:
    """Embedded DuckDB results store keyed by ``run_id``.

    Nothing is opened when the object is created; every method opens a short-lived
    connection and closes it before returning.

    Parameters
    ----------
    path : str or pathlib.Path, optional
        The DuckDB file. Defaults to :func:`default_store_path` (``$ONWARD_STORE`` or
        ``./onward.duckdb``). A relative path is made absolute at construction time.
    timeout : float, default 30.0
        How many seconds to keep retrying when another process holds the file, before
        raising :class:`StoreBusyError`.
    write_timeout : float, optional
        The same for :meth:`write_run` (default :data:`WRITE_WAIT_SECONDS`, or
        ``timeout`` if longer): a result already computed is worth a long wait. While it
        waits it warns (:class:`StoreBusyWarning`) every :data:`BUSY_NOTICE_SECONDS`,
        naming the process that holds the file.

    Examples
    --------
    >>> import pandas as pd
    >>> store = Store(tmp / "results.duckdb")  # doctest: +SKIP
    >>> rid = store.write_run(
    ...     {"scenario": "baseline", "seed": 1},
    ...     {"flows": pd.DataFrame({"year": [2020, 2021], "n": [5, 7]})},
    ... )  # doctest: +SKIP
    >>> rid  # doctest: +SKIP
    'run-0001'
    >>> store.read_table("flows", "latest")  # doctest: +SKIP
         run_id  year  n
    0  run-0001  2020  5
    1  run-0001  2021  7
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, timeout: float = 30.0,
                 write_timeout: float | None = None):
        raw = default_store_path() if path is None else Path(path).expanduser()
        self.path: Path = raw.absolute()
        self.timeout: float = float(timeout)
        self.write_timeout: float = (max(WRITE_WAIT_SECONDS, self.timeout)
                                     if write_timeout is None else float(write_timeout))
        self._owner_pid: int = os.getpid()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, timeout={self.timeout:g})"

    # ------------------------------------------------------------------ connections

    @contextmanager
    def connect(self, read_only: bool = False, *, wait: float | None = None
                ) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open a short-lived connection to the store file and close it on exit.

        Lock conflicts with another process are retried with exponential backoff for up
        to :attr:`timeout` seconds. A read-only connection to a file that does not exist
        yet is an empty in-memory database, so that readers see an empty store rather
        than an error. A read-write connection creates the file, in a folder that must
        exist (a typo in the folder made a new, empty store elsewhere).

        Parameters
        ----------
        read_only : bool, default False
            Open the file read-only. Several processes may read at once, but none of
            them while a process writes.
        wait : float, optional
            Seconds to retry while another process holds the file (default
            :attr:`timeout`); a wait longer than :data:`BUSY_NOTICE_SECONDS` warns
            (:class:`StoreBusyWarning`) that often, naming the holder.

        Yields
        ------
        duckdb.DuckDBPyConnection
            The open connection. Fetch every result in full before the next statement.

        Raises
        ------
        StoreBusyError
            Another process held the file for longer than :attr:`timeout`.
        StoreError
            The file is not a DuckDB database, or could not be opened for another reason.

        Examples
        --------
        >>> with Store(tmp / "results.duckdb").connect(read_only=True) as con:  # doctest: +SKIP
        ...     con.execute("SELECT 42").fetchall()
        [(42,)]
        """
        con = self._open(read_only, self.timeout if wait is None else wait)
        try:
            yield con
        except (duckdb.Error, RuntimeError) as exc:
            if is_interrupt(exc):  # Ctrl-C during a statement: an interrupt, not an error
                raise KeyboardInterrupt from None
            raise
        finally:
            con.close()

    def _open(self, read_only: bool, wait: float) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            return duckdb.connect(":memory:")
        if not read_only and not self.path.parent.is_dir():
            blocker = next((p for p in self.path.parents if p.exists()), None)
            if blocker is not None and not blocker.is_dir():  # a file where a folder goes
                raise StoreError(
                    f"results store {self.path}: cannot use {blocker}: it is a file, and a "
                    "folder is needed there. Fix: give a path whose folders are folders "
                    f"({option('store', 'FILE', placeholder=True)})")
            raise StoreError(
                f"results store {self.path}: the folder {self.path.parent} does not exist. "
                f"Fix: check the path for a typo, create the folder (mkdir -p "
                f"{self.path.parent}), or use {option('store', 'FILE', placeholder=True)} "
                "with a file in an existing folder"
            )
        if self.path.is_dir():
            raise StoreError(
                f"results store {self.path} is a directory, not a DuckDB file; "
                f"use {option('store', 'FILE', placeholder=True)} (or ONWARD_STORE) to point "
                "onward at a file path"
            )
        start = time.monotonic()
        deadline = start + max(wait, 0.0)
        notice = start + BUSY_NOTICE_SECONDS
        delay = 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=read_only)
            except duckdb.Error as exc:
                message = str(exc)
                if _is_lock_conflict(exc):
                    now = time.monotonic()
                    if now >= deadline:
                        raise StoreBusyError(self._busy_message(message, wait)) from exc
                    if now >= notice:
                        notice = now + BUSY_NOTICE_SECONDS
                        warnings.warn(StoreBusyWarning(
                            f"results store {self.path} is held by another process"
                            f"{_holder(message)}; waited {now - start:.0f} s to "
                            f"{'read' if read_only else 'write'} it, and waits up to "
                            f"{_duration(wait)}. {self._busy_fix()}"), stacklevel=4)
                    time.sleep(min(delay, deadline - now))
                    delay = min(delay * 2, 0.5)
                    continue
                if read_only and "does not exist" in message:
                    # The file vanished between the exists() check and the open.
                    return duckdb.connect(":memory:")
                if "not a valid DuckDB database" in message and _is_empty_file(self.path):
                    # A process killed while creating the file leaves it empty. Nobody holds
                    # it (DuckDB would have reported a lock conflict), and it holds no data.
                    if read_only:
                        return duckdb.connect(":memory:")
                    self.path.unlink(missing_ok=True)
                    continue
                raise StoreError(self._open_error_message(exc)) from exc

    def _busy_message(self, duck_message: str, wait: float) -> str:
        return (
            f"results store {self.path} is in use by another process{_holder(duck_message)}; "
            f"gave up after {_duration(wait)}. {self._busy_fix()}"
        )

    def _busy_fix(self) -> str:
        return (
            "Fix: close that program's connection to the store (a notebook's or a duckdb "
            "shell's, even a read-only one, keeps onward from writing) or wait for it to "
            f"finish, or use {option('store', 'FILE', placeholder=True)} to write elsewhere."
        )

    def _open_error_message(self, exc: duckdb.Error) -> str:
        message = str(exc)
        if "not a valid DuckDB database" in message or "version number" in message.lower():
            return (
                f"results store {self.path} is not a DuckDB database this version of DuckDB "
                f"({duckdb.__version__}) can read: it may be corrupt, written by another "
                "DuckDB version, or a different kind of file. Fix: move it aside (or delete "
                "it) to start a new store, or use "
                f"{option('store', 'FILE', placeholder=True)} (or ONWARD_STORE) to point onward "
                f"at another file. DuckDB said: {message}"
            )
        if "different configuration" in message:
            return (
                f"results store {self.path} is already open in this process in another mode "
                "(read-only vs read-write); close that connection first. "
                f"DuckDB said: {message}"
            )
        denied = ("permission denied", "operation not permitted", "read-only file system")
        if any(d in message.lower() for d in denied):
            fix = ("make the file and its folder writable for this user (ls -l shows who owns "
                   "them)")
        elif "lock" in message.lower():  # (a conflict with another process is waited for)
            fix = ("the file system refuses DuckDB's file lock (NFS or Lustre without "
                   "locking): put the store on a local disk")
        else:
            fix = "check the file and the disk it is on"
        return (
            f"could not open results store {self.path}: {message}. Fix: {fix}, or use "
            f"{option('store', 'FILE', placeholder=True)} to use another file."
        )

    def _write_error_message(self, exc: BaseException) -> str:
        full = "No space left" in str(exc) or "Disk quota" in str(exc)
        why = "its disk is full" if full else "the file system refused the write"
        return (
            f"could not write to results store {self.path}: {why}; this run was not stored, "
            "and the runs stored before it are kept (an experiment run again skips its "
            f"finished jobs). Fix: {'free space on that disk' if full else 'check the disk'}"
            f", or use {option('store', 'FILE', placeholder=True)} to write elsewhere. "
            f"DuckDB said: {exc}"
        )

    def _check_writer(self) -> None:
        if os.getpid() != self._owner_pid:
            raise StoreError(
                f"results store {self.path} may only be written by the process that created "
                f"this Store (PID {self._owner_pid}), not PID {os.getpid()}; return results "
                "to the parent process and write them there"
            )

    # ------------------------------------------------------------------ writing

    def write_run(self, meta: Mapping[str, Any], tables: Mapping[str, pd.DataFrame], *,
                  once: tuple[str, Mapping[str, Any]] | None = None) -> str:
        """Write one run's tables and its ``runs`` row in a single transaction.

        A new table is created with ``run_id VARCHAR`` first and then the DataFrame's
        columns, typed as DuckDB infers them (categoricals become ``VARCHAR``, and so do
        all-null object columns until a later run brings values of another type). Rows
        are inserted by column name, so the order of columns does not matter. A column
        the table lacks is added first (older runs read it as NULL); a column whose type
        changed is widened to the common supertype (for example ``BIGINT`` to ``DOUBLE``)
        so no value is silently rounded. Named index levels are stored as columns; an
        unnamed index is dropped.

        Parameters
        ----------
        meta : mapping
            Run metadata. The keys ``scenario``, ``scenario_hash``, ``seed``, ``versions``
            (a mapping, stored as JSON), ``wall_seconds``, ``engine_seconds`` and ``kind``
            (default ``"run"``) have their own columns in ``runs``; any other key is kept
            in the JSON column ``extra``. Values must be JSON-serialisable (numpy
            scalars, paths and datetimes are converted). ``run_id``, ``created_at``,
            ``table_names`` and ``extra`` are reserved.
        tables : mapping of str to pandas.DataFrame
            Result tables by name. Names must match ``[A-Za-z][A-Za-z0-9_]*`` (at most
            63 characters) and may not be ``runs``; DuckDB treats them case-insensitively.
            The DataFrames may not have a ``run_id`` column.
        once : (table, {column: value}), optional
            Write nothing if ``table`` already has a row with these values (checked in
            the same transaction, so two processes computing the same result store it
            once); the existing row's run id is returned.

        Returns
        -------
        str
            The new run id, ``"run-0001"``, ``"run-0002"``, ... Ids are never reused.

        Raises
        ------
        StoreError
            A bad table or column name, reserved meta key, or unusable metadata; nothing
            is written.
        StoreBusyError
            Another process held the file for longer than :attr:`timeout`.
        Exception
            Any error while writing is re-raised after the whole transaction is rolled
            back, so the run leaves no trace.

        Examples
        --------
        >>> store = Store(tmp / "results.duckdb")  # doctest: +SKIP
        >>> store.write_run({"scenario": "baseline", "seed": 7, "versions": {"onward": "0.1"}},
        ...                 {"flows": pd.DataFrame({"year": [2020], "n": [5]})})  # doctest: +SKIP
        'run-0001'
        """
        self._check_writer()
        row = _runs_row(meta)
        frames = [
            (_check_table_name(name), _prepare_frame(name, df)) for name, df in tables.items()
        ]
        _check_distinct([name for name, _ in frames], "table names")
        row["table_names"] = json.dumps([name for name, _ in frames])
        # a Ctrl-C waits for the transaction's end (it still ends a wait for the file): in
        # the middle, DuckDB may be running Python (reading a frame), and a KeyboardInterrupt
        # there comes out as an ordinary DuckDB error; the run is then kept, or not written
        with self.connect(wait=self.write_timeout) as con, held_interrupts():
            con.begin()
            try:
                _ensure_schema(con)
                if once is not None and (have := _existing_run(con, *once)) is not None:
                    con.rollback()
                    return have
                run_id = _next_run_id(con)
                for name, frame in frames:
                    try:
                        _insert_frame(con, name, frame, run_id)
                    except Exception as exc:
                        exc.add_note(f"while writing table {name!r} of {run_id}; rolled back")
                        raise
                _insert_runs_row(con, run_id, row)
                con.commit()
            except BaseException as exc:
                with suppress(duckdb.Error):
                    con.rollback()
                if _is_write_failure(exc):
                    raise StoreError(self._write_error_message(exc)) from exc
                raise
        return run_id

    def delete_run(self, run_id: str | int) -> None:
        """Delete a run: its ``runs`` row and its rows in every table, in one transaction.

        Parameters
        ----------
        run_id : str or int
            The run id, ``"latest"``, or a run number (``3`` means ``"run-0003"``).

        Raises
        ------
        UnknownRunError
            No such run.

        Examples
        --------
        >>> store.delete_run("run-0001")  # doctest: +SKIP
        """
        self._check_writer()
        if not self.path.exists():
            raise self._unknown(_normalise_run_id(run_id), [])
        with self.connect() as con, held_interrupts():  # (as write_run)
            con.begin()
            try:
                rid = self._resolve(con, run_id)
                for name in _user_tables(con):
                    con.execute(f"DELETE FROM {_quote(name)} WHERE run_id = ?", [rid]).fetchall()
                con.execute(f"DELETE FROM {RUNS_TABLE} WHERE run_id = ?", [rid]).fetchall()
                con.commit()
            except BaseException:
                with suppress(duckdb.Error):
                    con.rollback()
                raise

    # ------------------------------------------------------------------ reading

    def list_runs(self) -> pd.DataFrame:
        """Return the ``runs`` table, newest run first.

        Returns
        -------
        pandas.DataFrame
            One row per committed run with the columns of ``runs``; empty (with those
            columns) when the store does not exist yet or has no runs.

        Examples
        --------
        >>> Store(tmp / "results.duckdb").list_runs()[["run_id", "scenario"]]  # doctest: +SKIP
             run_id  scenario
        0  run-0002  baseline
        1  run-0001  baseline
        """
        with self.connect(read_only=True) as con:
            if not _has_runs(con):
                return _empty_runs_frame(con)
            return con.execute(f"SELECT * FROM {RUNS_TABLE} ORDER BY {_NEWEST_FIRST}").fetchdf()

    def get_run(self, run_id: str | int) -> dict[str, Any]:
        """Return one run's metadata as a flat dict.

        Parameters
        ----------
        run_id : str or int
            The run id, ``"latest"``, or a run number (``3`` means ``"run-0003"``).

        Returns
        -------
        dict
            ``run_id``, ``created_at`` (:class:`datetime.datetime`, UTC), ``scenario``,
            ``scenario_hash``, ``seed``, ``versions`` (dict), ``wall_seconds``,
            ``engine_seconds``, ``kind``, ``table_names`` (list), then the keys that
            were stored in ``extra``.

        Raises
        ------
        UnknownRunError
            No such run; the message lists the most recent run ids.

        Examples
        --------
        >>> Store(tmp / "results.duckdb").get_run("latest")["run_id"]  # doctest: +SKIP
        'run-0002'
        """
        with self.connect(read_only=True) as con:
            return _run_dict(con, self._resolve(con, run_id))

    def read_table(self, name: str, run_id: str | int | None = None) -> pd.DataFrame:
        """Return a result table's rows for one run, or for every committed run.

        Parameters
        ----------
        name : str
            The table name.
        run_id : str or int, optional
            The run id, ``"latest"``, or a run number. ``None`` reads every committed run.

        Returns
        -------
        pandas.DataFrame
            ``run_id`` then the table's columns, in insertion order. Empty when the run
            did not write this table, or when the store has no runs yet.

        Raises
        ------
        StoreError
            Bad table name, or no such table in a store that has runs.
        UnknownRunError
            No such run.

        Examples
        --------
        >>> Store(tmp / "results.duckdb").read_table("flows", "latest")  # doctest: +SKIP
             run_id  year  n
        0  run-0002  2020  5
        """
        _check_table_name(name, allow_runs=True)
        with self.connect(read_only=True) as con:
            rid = None if run_id is None else self._resolve(con, run_id)
            if not _has_runs(con):  # a new or missing store: an empty view
                return pd.DataFrame({"run_id": pd.Series([], dtype=object)})
            actual = _find_table(con, name)
            if actual is None:
                known = ", ".join(_user_tables(con)) or "none"
                raise StoreError(f"no table {name!r} in results store {self.path}; tables: {known}")
            if actual == RUNS_TABLE:
                where = "" if rid is None else "WHERE run_id = ?"
                sql = f"SELECT * FROM {RUNS_TABLE} {where} ORDER BY {_NEWEST_FIRST}"
            elif rid is None:
                sql = (
                    f"SELECT * FROM {_quote(actual)} "
                    f"WHERE run_id IN (SELECT run_id FROM {RUNS_TABLE}) ORDER BY rowid"
                )
            else:
                sql = f"SELECT * FROM {_quote(actual)} WHERE run_id = ? ORDER BY rowid"
            return con.execute(sql, None if rid is None else [rid]).fetchdf()

    def tables(self) -> list[str]:
        """Return the names of the result tables (everything but ``runs``), sorted.

        Examples
        --------
        >>> Store(tmp / "results.duckdb").tables()  # doctest: +SKIP
        ['flows', 'stocks']
        """
        with self.connect(read_only=True) as con:
            return _user_tables(con)

    def has_table(self, name: str) -> bool:
        """Whether the result table ``name`` is stored (DuckDB names are case-insensitive);
        False for a store file not written yet.

        Examples
        --------
        >>> Store(tmp / "results.duckdb").has_table("flows")  # doctest: +SKIP
        True
        """
        with self.connect(read_only=True) as con:
            return _find_table(con, name) is not None

    def query(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> pd.DataFrame:
        """Run ad hoc SQL on a read-only connection and return the result.

        Parameters
        ----------
        sql : str
            One SQL statement. Statements that write fail, since the connection is
            read-only. Note that rows of runs being written are never visible, but a
            query should still join with ``runs`` to see committed runs only.
        params : sequence or mapping, optional
            Values for ``?`` / ``$name`` placeholders.

        Returns
        -------
        pandas.DataFrame
            The result.

        Raises
        ------
        StoreError
            The statement failed (the message includes DuckDB's).

        Examples
        --------
        >>> Store(tmp / "results.duckdb").query(
        ...     "SELECT run_id, sum(n) AS n FROM flows GROUP BY run_id ORDER BY run_id"
        ... )  # doctest: +SKIP
             run_id   n
        0  run-0001  12
        """
        with self.connect(read_only=True) as con:
            try:
                return con.execute(sql, params).fetchdf()
            except duckdb.Error as exc:
                if is_interrupt(exc):
                    raise KeyboardInterrupt from None
                hint = "" if self.path.exists() else " (the store does not exist yet)"
                raise StoreError(f"query failed on results store {self.path}{hint}: {exc}") from exc

    def export(
        self,
        run_id: str | int,
        out_dir: str | os.PathLike[str],
        fmt: Literal["parquet", "csv"] = "parquet",
    ) -> list[Path]:
        """Write one run's tables to files, one per table, plus ``run.json``.

        Parameters
        ----------
        run_id : str or int
            The run id, ``"latest"``, or a run number.
        out_dir : str or pathlib.Path
            Output folder, created if needed. Existing files of the same names are
            replaced (each file is written under a temporary name, then renamed).
        fmt : {"parquet", "csv"}, default "parquet"
            File format of the tables.

        Returns
        -------
        list of pathlib.Path
            ``<table>.<fmt>`` for each table the run wrote (sorted by name), then
            ``run.json`` with the run's metadata.

        Raises
        ------
        UnknownRunError
            No such run.
        StoreError
            Unknown format.

        Examples
        --------
        >>> paths = Store(tmp / "results.duckdb").export("latest", tmp / "out")  # doctest: +SKIP
        >>> [p.name for p in paths]  # doctest: +SKIP
        ['flows.parquet', 'run.json']
        """
        if fmt not in ("parquet", "csv"):
            raise StoreError(f"unknown export format {fmt!r}; use 'parquet' or 'csv'")
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pa_parquet

        out = Path(out_dir)
        with self.connect(read_only=True) as con:
            rid = self._resolve(con, run_id)
            meta = _run_dict(con, rid)
            if meta.get("table_names") is None:  # written before table_names existed
                names = [
                    t
                    for t in _user_tables(con)
                    if con.execute(
                        f"SELECT 1 FROM {_quote(t)} WHERE run_id = ? LIMIT 1", [rid]
                    ).fetchall()
                ]
            else:
                found = (_find_table(con, t) for t in meta["table_names"])
                names = sorted(n for n in found if n)
            data = {
                name: con.sql(
                    f"SELECT * FROM {_quote(name)} WHERE run_id = $1 ORDER BY rowid", params=[rid]
                ).to_arrow_table()
                for name in names
            }
        out.mkdir(parents=True, exist_ok=True)
        written: list[Path] = []
        for name, table in data.items():
            target = out / f"{name}.{fmt}"
            tmp = target.with_name(f".{target.name}.tmp")
            if fmt == "parquet":
                pa_parquet.write_table(table, tmp)
            else:
                pa_csv.write_csv(table, tmp)
            os.replace(tmp, target)
            written.append(target)
        target = out / "run.json"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(json.dumps(meta, indent=2, default=_json_default) + "\n", encoding="utf-8")
        os.replace(tmp, target)
        written.append(target)
        return written

    # ------------------------------------------------------------------ helpers

    def _resolve(self, con: duckdb.DuckDBPyConnection, run_id: str | int) -> str:
        """Map ``run_id`` (or ``"latest"``, or a number) to a committed run id."""
        rid = _normalise_run_id(run_id)
        if not _has_runs(con):
            raise self._unknown(rid, [])
        if rid == _LATEST:
            rows = con.execute(
                f"SELECT run_id FROM {RUNS_TABLE} ORDER BY {_NEWEST_FIRST} LIMIT 1"
            ).fetchall()
        else:
            rows = con.execute(
                f"SELECT run_id FROM {RUNS_TABLE} WHERE run_id = ?", [rid]
            ).fetchall()
        if rows:
            return str(rows[0][0])
        recent = con.execute(
            f"SELECT run_id FROM {RUNS_TABLE} ORDER BY {_NEWEST_FIRST} LIMIT 5"
        ).fetchall()
        raise self._unknown(rid, [r[0] for r in recent])

    def _unknown(self, run_id: str, recent: list[str]) -> UnknownRunError:
        if not recent:
            return UnknownRunError(
                f"no run {run_id!r} in results store {self.path}: it has no runs yet"
            )
        return UnknownRunError(
            f"no run {run_id!r} in results store {self.path}; most recent runs: "
            f"{', '.join(recent)} ({runs_command()} lists them all)"
        )


# ---------------------------------------------------------------------- module helpers


def experiment_table(store: Store, name: str, experiment_id: str) -> pd.DataFrame:
    """The rows of table ``name`` (``experiment_values``, ``compare_effects``, ...) that
    belong to experiment ``experiment_id``; empty where the query fails because nothing of
    that kind is stored yet (no such table). A store another process holds raises
    :class:`StoreBusyError` (read as "nothing stored", a summary was stored twice)."""
    sql = f"select * from {_quote(_check_table_name(name))} where experiment_id = ?"
    try:
        return store.query(sql, [experiment_id])
    except StoreBusyError:
        raise
    except StoreError:  # no such table yet
        return pd.DataFrame()


def is_interrupt(exc: BaseException) -> bool:
    """Whether DuckDB stopped a statement because of Ctrl-C (SIGINT): its interrupt error,
    or the "Query interrupted" a commit raises. Callers that treat a failed query as "no
    table yet" would otherwise swallow the user's Ctrl-C."""
    return (isinstance(exc, duckdb.InterruptException) or str(exc) == "Query interrupted"
            # a KeyboardInterrupt in Python code DuckDB called (a frame it read), which it
            # re-raises as its own error with the Python traceback as the message
            or (isinstance(exc, duckdb.Error) and str(exc).rstrip().endswith(
                ("KeyboardInterrupt", "KeyboardInterrupt:"))))


def _holder(duck_message: str) -> str:
    """" (python3.11, PID 1234)": the process DuckDB names as holding the file, or ""."""
    pid = _PID_RE.search(duck_message)
    if not pid:
        return ""
    program = _HOLDER_RE.search(duck_message)
    name = f"{Path(program.group(1)).name}, " if program else ""
    return f" ({name}PID {pid.group(1)})"


def _duration(seconds: float) -> str:
    """``seconds`` as a person reads it: "30 s", "10 min", "6 h"."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:g} h"


def _is_write_failure(exc: BaseException) -> bool:
    """Whether a write failed in the file system (a full disk: DuckDB's commit raises a
    TransactionException that "Could not write file"), not in the data or by Ctrl-C."""
    if is_interrupt(exc) or not isinstance(exc, duckdb.IOException | duckdb.TransactionException):
        return False
    return not _is_lock_conflict(exc) if isinstance(exc, duckdb.IOException) else \
        "could not write" in str(exc).lower() or "no space left" in str(exc).lower()


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    """Another process holds the file (DuckDB: 'Could not set lock on file ...: Conflicting
    lock is held in PROGRAM (PID N)'). A file system without locking ('No locks available',
    NFS without a lock daemon) is not one: waiting for it would wait the whole timeout."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.IOException) and (
        "conflicting lock" in text or "resource temporarily unavailable" in text)


def _is_empty_file(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def _quote(identifier: str) -> str:
    """Quote an SQL identifier for DuckDB."""
    return '"' + identifier.replace('"', '""') + '"'


def _check_table_name(name: object, *, allow_runs: bool = False) -> str:
    if not isinstance(name, str) or not _TABLE_NAME_RE.fullmatch(name):
        raise StoreError(
            f"bad table name {name!r}: use a letter followed by letters, digits or "
            "underscores (at most 63 characters)"
        )
    if not allow_runs and name.lower() == RUNS_TABLE:
        raise StoreError(f"table name {name!r} is reserved for the list of runs")
    return name


def _check_distinct(names: list[str], what: str) -> None:
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(name.lower(), name)
        if other is not name:
            raise StoreError(
                f"{what} {other!r} and {name!r} clash: DuckDB names are case-insensitive"
            )


def _prepare_frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Validate a result DataFrame and turn named index levels into columns."""
    if not isinstance(df, pd.DataFrame):
        raise StoreError(f"table {name!r} must be a pandas DataFrame, not {type(df).__name__}")
    if any(level is not None for level in df.index.names):
        df = df.reset_index()
    for column in df.columns:
        if not isinstance(column, str) or not column:
            raise StoreError(
                f"table {name!r} has column name {column!r}; column names must be "
                "non-empty strings (flatten a MultiIndex first)"
            )
    if any(c.lower() == "run_id" for c in df.columns):
        raise StoreError(
            f"table {name!r} has a 'run_id' column; the store adds run_id itself, "
            "so rename or drop it"
        )
    _check_distinct(list(df.columns), f"columns of table {name!r}:")
    return df


def _json_default(value: Any) -> Any:
    """Make numpy scalars and arrays, paths, datetimes and sets JSON-serialisable."""
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(key: str, value: Any) -> str:
    try:
        return json.dumps(value, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"run metadata {key!r} cannot be stored as JSON: {exc}") from exc


def _optional_number(key: str, value: Any, kind: type[int] | type[float]) -> Any:
    if value is None:
        return None
    try:
        number = kind(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise StoreError(f"run metadata {key!r} must be a {kind.__name__}, got {value!r}") from exc
    if kind is int and number != value:
        raise StoreError(f"run metadata {key!r} must be an integer, got {value!r}")
    if kind is float and math.isnan(number):
        return None
    return number


def _runs_row(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Validate run metadata and split it into the columns of ``runs``."""
    if not isinstance(meta, Mapping):
        raise StoreError(f"run metadata must be a mapping, not {type(meta).__name__}")
    bad = [k for k in meta if not isinstance(k, str)]
    if bad:
        raise StoreError(f"run metadata keys must be strings, got {bad!r}")
    reserved = [k for k in _RESERVED_META if k in meta]
    if reserved:
        raise StoreError(f"run metadata may not set {', '.join(reserved)}: the store sets them")
    versions = meta.get("versions")
    extra = {k: v for k, v in meta.items() if k not in _META_FIELDS and k != "kind"}
    kind = meta.get("kind", "run")
    return {
        "scenario": None if meta.get("scenario") is None else str(meta["scenario"]),
        "scenario_hash": None if meta.get("scenario_hash") is None else str(meta["scenario_hash"]),
        "seed": _optional_number("seed", meta.get("seed"), int),
        "versions": None if versions is None else _to_json("versions", versions),
        "wall_seconds": _optional_number("wall_seconds", meta.get("wall_seconds"), float),
        "engine_seconds": _optional_number("engine_seconds", meta.get("engine_seconds"), float),
        "kind": None if kind is None else str(kind),
        "extra": _to_json("extra", extra),
    }


def _existing_run(con: duckdb.DuckDBPyConnection, table: str,
                  key: Mapping[str, Any]) -> str | None:
    """The run id of a row of ``table`` with the ``key`` values, or None (no such row, or no
    such table yet)."""
    stored = _find_table(con, _check_table_name(table))
    if stored is None:
        return None
    where = " and ".join(f"{_quote(c)} = ?" for c in key)
    row = con.execute(f"select run_id from {_quote(stored)} where {where} limit 1",
                      list(key.values())).fetchone()
    return None if row is None else str(row[0])


def _has_runs(con: duckdb.DuckDBPyConnection) -> bool:
    return _find_table(con, RUNS_TABLE) == RUNS_TABLE


def _find_table(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """Return the stored spelling of table ``name`` (case-insensitive), or None."""
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' AND lower(table_name) = lower(?)",
        [name],
    ).fetchall()
    return str(rows[0][0]) if rows else None


def _user_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "AND schema_name = 'main' ORDER BY table_name"
    ).fetchall()
    names = [str(r[0]) for r in rows]
    return [n for n in names if n.lower() != RUNS_TABLE and not n.startswith("_")]


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, tuple[str, str]]:
    """Map lower-cased column name to (stored name, type) for a table or query."""
    rows = con.execute(f"DESCRIBE {relation}").fetchall()
    return {str(r[0]).lower(): (str(r[0]), str(r[1])) for r in rows}


def _ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``runs`` and the run counter, or add ``runs`` columns an older store lacks."""
    columns = ", ".join(f"{name} {kind}" for name, kind in _RUN_COLUMNS)
    con.execute(f"CREATE TABLE IF NOT EXISTS {RUNS_TABLE} ({columns})").fetchall()
    present = _columns(con, RUNS_TABLE)
    for name, kind in _RUN_COLUMNS:
        if name not in present:
            con.execute(f"ALTER TABLE {RUNS_TABLE} ADD COLUMN {name} {kind}").fetchall()
    con.execute(f"CREATE TABLE IF NOT EXISTS {_COUNTER_TABLE} (last_run BIGINT)").fetchall()


def _next_run_id(con: duckdb.DuckDBPyConnection) -> str:
    """Allocate the next run id inside the caller's transaction (rolled back with it)."""
    counter = con.execute(f"SELECT max(last_run) FROM {_COUNTER_TABLE}").fetchall()[0][0]
    highest = con.execute(
        f"SELECT max(TRY_CAST(regexp_extract(run_id, '^{_RUN_ID_RE.pattern}$', 1) AS BIGINT)) "
        f"FROM {RUNS_TABLE}"
    ).fetchall()[0][0]
    number = max(counter or 0, highest or 0) + 1
    con.execute(f"DELETE FROM {_COUNTER_TABLE}").fetchall()
    con.execute(f"INSERT INTO {_COUNTER_TABLE} VALUES (?)", [number]).fetchall()
    return f"run-{number:04d}"


def _storable_type(kind: str) -> str:
    """The column type to store for a DataFrame column DuckDB inferred as ``kind``."""
    if kind.strip('"').upper() == "NULL" or kind.upper().startswith("ENUM("):
        return "VARCHAR"
    return kind


_NUMERIC_TYPES = frozenset(
    "TINYINT SMALLINT INTEGER BIGINT HUGEINT UTINYINT USMALLINT UINTEGER UBIGINT UHUGEINT "
    "FLOAT DOUBLE".split()
)
_TIME_TYPES = frozenset("DATE TIMESTAMP TIMESTAMP_S TIMESTAMP_MS TIMESTAMP_NS".split())


def _type_family(kind: str) -> str | None:
    if kind in _NUMERIC_TYPES or kind.startswith("DECIMAL("):
        return "number"
    if kind in _TIME_TYPES:
        return "time"
    return None


def _supertype(old: str, new: str) -> str | None:
    """The wider type to store when a column's type changes from ``old`` to ``new``.

    Only numbers widen to numbers (``BIGINT`` to ``DOUBLE``) and dates to timestamps; for
    anything else this returns None and the insert casts the new values to ``old`` (or
    fails, rolling the run back). The supertype is worked out on a scratch in-memory
    connection, since a failed statement inside the write transaction would abort it.
    """
    family = _type_family(old)
    if family is None or family != _type_family(new):
        return None
    scratch = duckdb.connect(":memory:")
    try:
        rows = scratch.execute(
            f"SELECT typeof(x) FROM (SELECT NULL::{old} AS x UNION ALL SELECT NULL::{new}) LIMIT 1"
        ).fetchall()
    except duckdb.Error:
        return None
    finally:
        scratch.close()
    return str(rows[0][0])


def _all_null(con: duckdb.DuckDBPyConnection, table: str, column: str) -> bool:
    rows = con.execute(f"SELECT count({_quote(column)}) FROM {table}").fetchall()
    return rows[0][0] == 0


def _insert_frame(
    con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, run_id: str
) -> None:
    """Create or extend table ``name`` to fit ``frame``, then insert its rows."""
    con.register(_FRAME_VIEW, frame)
    try:
        incoming = [
            (column, _storable_type(kind))
            for column, kind in _columns(con, f"SELECT * FROM {_FRAME_VIEW}").values()
        ]
        existing = _find_table(con, name)
        if existing is None:
            columns = ", ".join(["run_id VARCHAR"] + [f"{_quote(c)} {k}" for c, k in incoming])
            con.execute(f"CREATE TABLE {_quote(name)} ({columns})").fetchall()
            table = _quote(name)
        else:
            table = _quote(existing)
            present = _columns(con, table)
            for column, kind in incoming:
                if column.lower() not in present:
                    con.execute(
                        f"ALTER TABLE {table} ADD COLUMN {_quote(column)} {kind}"
                    ).fetchall()
                    continue
                stored, old = present[column.lower()]
                if old == kind:
                    continue
                wider = _supertype(old, kind)
                if old == "VARCHAR" and _all_null(con, table, stored):
                    wider = kind  # typed VARCHAR only because earlier runs had no values
                if wider is not None and wider != old:
                    con.execute(
                        f"ALTER TABLE {table} ALTER COLUMN {_quote(stored)} TYPE {wider}"
                    ).fetchall()
        con.execute(
            f"INSERT INTO {table} BY NAME SELECT ? AS run_id, * FROM {_FRAME_VIEW}", [run_id]
        ).fetchall()
    finally:
        with suppress(duckdb.Error):  # fails in an aborted transaction; the error is raised
            con.unregister(_FRAME_VIEW)


def _insert_runs_row(con: duckdb.DuckDBPyConnection, run_id: str, row: dict[str, Any]) -> None:
    values = {"run_id": run_id, "created_at": _utcnow(), **row}
    names = [name for name, _ in _RUN_COLUMNS]
    con.execute(
        f"INSERT INTO {RUNS_TABLE} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
        [values[n] for n in names],
    ).fetchall()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _normalise_run_id(run_id: str | int) -> str:
    """Accept ``"run-0003"``, ``"latest"``, ``3`` or ``"3"``."""
    if isinstance(run_id, bool):
        raise StoreError(f"bad run id {run_id!r}")
    if isinstance(run_id, int):
        return f"run-{run_id:04d}"
    if not isinstance(run_id, str):
        raise StoreError(f"bad run id {run_id!r}: use e.g. 'run-0003' or 'latest'")
    text = run_id.strip()
    if text.isdigit():
        return f"run-{int(text):04d}"
    return _LATEST if text.lower() == _LATEST else text


def _run_dict(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    result = con.execute(f"SELECT * FROM {RUNS_TABLE} WHERE run_id = ?", [run_id])
    rows = result.fetchall()
    names = [d[0] for d in result.description or []]
    record = dict(zip(names, rows[0], strict=True))
    for key in ("versions", "table_names"):
        record[key] = json.loads(record[key]) if record.get(key) else None
    extra = json.loads(record.pop("extra") or "{}")
    record.update({k: v for k, v in extra.items() if k not in record})
    return record


def _empty_runs_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    columns = ", ".join(f"NULL::{kind} AS {name}" for name, kind in _RUN_COLUMNS)
    return con.execute(f"SELECT {columns} LIMIT 0").fetchdf()
