"""The local warehouse: a DuckDB file at FBADS_DUCKDB_PATH, written with atomic partition replace.

Typed frames from ``transform/`` land here through ``DuckDBWarehouseIOManager``; checks and
analyses read through ``DuckDBWarehouse``. Two things differ from the stock dagster-duckdb
IO manager:

- The stock write runs DELETE, then CREATE/INSERT as autocommit statements, so a failure in
  between leaves the slice empty. Here connect() opens a transaction around all three, and the
  slice comes from ``slices.py`` (one account, a date range) instead of ``partition_expr``.
- The stock connect() retries DuckDB's file lock for about 100 s and then fails. Here every
  connection to the file, from any thread or process, first takes ``<database>.lock``, so
  parallel steps and runs queue instead of failing; DuckDB's own lock is then only ever held
  by a foreign program (a DuckDB CLI, a notebook), which gets a clear error at once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import filelock
import pandas as pd
import pyarrow as pa
from dagster._core.storage.db_io_manager import (
    DbClient,
    DbIOManager,
    DbTypeHandler,
    TableSlice as DagsterTableSlice,
)
from dagster_duckdb import DuckDBIOManager
from pydantic import Field

from fbads_assets.warehouse.frames import (
    Frame,
    arrow_schema,
    check_columns,
    check_primary_key,
    check_rows_in_slice,
    conform_dtypes,
    empty_frame,
    empty_table,
    input_selection,
    output_metadata,
    wants_arrow,
)
from fbads_assets.warehouse.slices import TableSlice, read_slice_for, slice_for, table_for
from fbads_assets.warehouse.tables import DUCKDB_TYPES, Table

DEFAULT_SCHEMA = "facebook_ads"
# A backfill of many accounts queues its writers on the file lock; a 1M-row write takes ~3 s,
# so ten minutes only runs out when a step hangs while holding the lock.
LOCK_TIMEOUT_SECONDS = 600
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INCOMING_VIEW = "fbads_incoming_frame"
# Rows per Arrow batch when a slice is loaded as Arrow.
ARROW_BATCH_ROWS = 100_000
# DuckDB's buffer pool may use 80% of the machine's memory by default, and an insert keeps every
# block it wrote resident until the connection closes, though the blocks are already in the
# file. With a cap on the writing connection, the pool lets them go. Measured with DuckDB 2.0,
# 254,000 raw rows (315 MB of JSON as Arrow): peak +364 MB uncapped, +220 MB at 200 MB, +114 MB
# at 100 MB, the insert as fast. A memory_limit in the user's connection_config wins.
WRITE_MEMORY_LIMIT = "256MB"
# The checks read whole tables: a primary-key check groups every row of ad_conversions_daily,
# which grows with every account and day the warehouse holds. Uncapped, DuckDB built that
# hash table in memory (7.7 million rows: +1.2 GB in the run's process); capped, it spills to
# disk (+0.28 GB, 2.5 s instead of 1.9 s).
QUERY_MEMORY_LIMIT = "256MB"


class WarehouseFileError(RuntimeError):
    """The DuckDB file cannot be used; the message names FBADS_DUCKDB_PATH and the fix."""


class WarehouseSchemaError(RuntimeError):
    """A table in the file no longer matches warehouse/tables.py."""


# ---- connections: one at a time per file, across threads and processes ----------------------


@contextmanager
def locked_connection(
    database: str, config: Mapping[str, Any] | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the DuckDB file while holding ``<database>.lock``; close it before releasing."""
    path = Path(database)
    _ensure_directory(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise _read_only_error(path)

    with _file_lock(path):
        connection = _open(path, config or {})
        try:
            # Naive timestamps are read as UTC and TIMESTAMPTZ comes back in UTC, whatever
            # the machine's time zone.
            connection.execute("SET TimeZone = 'UTC'")
            yield connection
        finally:
            connection.close()


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    connection.begin()
    try:
        yield
    except BaseException:
        connection.rollback()
        raise
    connection.commit()


def _ensure_directory(path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WarehouseFileError(
            f"Cannot create the directory {path.parent} for the DuckDB file {path} "
            f"(FBADS_DUCKDB_PATH): {error.strerror}. Point FBADS_DUCKDB_PATH at a file in a "
            "writable directory."
        ) from error


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    lock_path = f"{path}.lock"
    lock = filelock.FileLock(lock_path, timeout=LOCK_TIMEOUT_SECONDS)
    try:
        lock.acquire()
    except filelock.Timeout as error:
        raise WarehouseFileError(
            f"Waited {LOCK_TIMEOUT_SECONDS} s for {lock_path}, which serialises writers of the "
            f"DuckDB file {path} (FBADS_DUCKDB_PATH). Another run has held it all that time: "
            "look for a stuck run in the UI and terminate it."
        ) from error
    except OSError as error:
        raise WarehouseFileError(
            f"Cannot create the lock file {lock_path} next to the DuckDB file {path} "
            f"(FBADS_DUCKDB_PATH): {error.strerror}. The directory is read-only; point "
            "FBADS_DUCKDB_PATH at a file in a writable directory."
        ) from error
    try:
        yield
    finally:
        lock.release()


def _open(path: Path, config: Mapping[str, Any]) -> duckdb.DuckDBPyConnection:
    # No retry here, unlike dagster-duckdb: our own writers never meet DuckDB's lock (they
    # queue on the file lock), so a lock error means a foreign program, which retrying for
    # 100 s would not fix.
    try:
        return duckdb.connect(
            str(path), read_only=False, config={"custom_user_agent": "fbads_assets", **config}
        )
    except duckdb.IOException as error:
        text = str(error)
        if "Could not set lock" in text:
            holder = re.search(r"held in (.+?)(?:\. See|$)", text)
            raise WarehouseFileError(
                f"The DuckDB file {path} (FBADS_DUCKDB_PATH) is open in another program"
                f"{f': {holder.group(1)}' if holder else ''}. DuckDB lets one program use "
                "the file at a time: close that program (a DuckDB CLI, a notebook or the "
                "DuckDB UI) and re-run."
            ) from error
        if any(s in text for s in ("Permission denied", "not permitted", "Read-only file")):
            raise _read_only_error(path) from error
        raise WarehouseFileError(
            f"Cannot open the DuckDB file {path} (FBADS_DUCKDB_PATH): {text}"
        ) from error


def _read_only_error(path: Path) -> WarehouseFileError:
    return WarehouseFileError(
        f"The DuckDB file {path} (FBADS_DUCKDB_PATH) is read-only; point FBADS_DUCKDB_PATH at "
        "a writable file."
    )


# ---- SQL for one table slice -----------------------------------------------------------------


def create_table_sql(ref: str, table: Table) -> str:
    columns = [
        f"{c.name} {DUCKDB_TYPES[c.type]}{'' if c.nullable else ' NOT NULL'}" for c in table.columns
    ]
    # No PRIMARY KEY constraint, measured: with one, replacing 1M ad_insights_daily rows by
    # the same keys in one transaction spent 62 s in COMMIT (DuckDB's ART index), against
    # 0.05 s without. Keys are checked on the frame before the write (check_primary_key) and
    # on the table by the blocking uniqueness check.
    return f"CREATE TABLE IF NOT EXISTS {ref} (\n  " + ",\n  ".join(columns) + "\n)"


def slice_where(table_slice: TableSlice) -> tuple[str, list[Any]]:
    """``WHERE`` clause and parameters that select exactly the slice's rows."""
    table = table_slice.table
    conditions: list[str] = []
    params: list[Any] = []
    if table_slice.account_ids is not None and table.account_column is not None:
        marks = ", ".join("?" for _ in table_slice.account_ids)
        conditions.append(f"{table.account_column} IN ({marks})")
        params.extend(table_slice.account_ids)
    if table_slice.first_date is not None and table.date_column is not None:
        conditions.append(f"{table.date_column} BETWEEN ? AND ?")
        params.extend([table_slice.first_date, table_slice.last_date])
    if not conditions:
        return "", []
    return "WHERE " + " AND ".join(conditions), params


def insert_frame(
    connection: duckdb.DuckDBPyConnection, ref: str, table: Table, frame: Frame
) -> None:
    """INSERT ... SELECT from the frame or Arrow table, registered zero-copy, cast to the
    table's types (Arrow dictionary columns are read as their texts)."""
    names = ", ".join(table.column_names)
    casts = ", ".join(f"CAST({c.name} AS {DUCKDB_TYPES[c.type]})" for c in table.columns)
    connection.register(_INCOMING_VIEW, frame)
    # Rows of a table have no order. Keeping the frame's order makes DuckDB write a partial row
    # group per Arrow chunk and merge them all when the connection closes: for the 55 chunks
    # of a million raw rows' conversions that close took 1.9 s and 1.2 GB more memory (measured
    # with DuckDB 2.0), where an unordered insert writes full row groups as it goes.
    connection.execute("SET preserve_insertion_order = false")
    connection.execute(f"INSERT INTO {ref} ({names}) SELECT {casts} FROM {_INCOMING_VIEW}")
    connection.execute("RESET preserve_insertion_order")
    # Not in a finally: after a failed INSERT the transaction is aborted and unregister would
    # raise over the real error. The view dies with the connection anyway.
    connection.unregister(_INCOMING_VIEW)


def table_exists(connection: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    # fetchall, not fetchone: a half-read result blocks the next statement on the connection.
    (found,) = connection.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema, name],
    ).fetchall()
    return bool(found[0])


def _check_existing_columns(
    connection: duckdb.DuckDBPyConnection, schema: str, table: Table
) -> None:
    rows = connection.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table.name],
    ).fetchall()
    existing = [r[0] for r in rows]
    if existing == table.column_names:
        return
    missing = [c for c in table.column_names if c not in existing]
    extra = [c for c in existing if c not in table.column_names]
    raise WarehouseSchemaError(
        f"{schema}.{table.name} in the DuckDB file has other columns than warehouse/tables.py "
        f"(missing: {', '.join(missing) or '-'}; extra: {', '.join(extra) or '-'}; or another "
        f"order). An older version wrote it: run DROP TABLE {schema}.{table.name} and "
        "re-materialize its partitions."
    )


def _check_identifier(value: str, setting: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(
            f"{setting} is {value!r}; use letters, digits and underscores, e.g. {DEFAULT_SCHEMA}."
        )
    return value


# ---- the IO manager --------------------------------------------------------------------------


class _TransactionalDuckDbClient(DbClient):
    """dagster-duckdb's client steps, all run inside one locked transaction."""

    @staticmethod
    @contextmanager
    def connect(
        context: dg.OutputContext | dg.InputContext, table_slice: DagsterTableSlice
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        # DbIOManager runs ensure_schema_exists, delete_table_slice and the type handler's
        # handle_output inside this block: the transaction makes those three one change.
        resource_config: Mapping[str, Any] = context.resource_config or {}
        config: Mapping[str, Any] = resource_config.get("connection_config") or {}
        if isinstance(context, dg.OutputContext):
            config = {"memory_limit": WRITE_MEMORY_LIMIT, **config}
        with (
            locked_connection(str(table_slice.database), config) as connection,
            transaction(connection),
        ):
            yield connection

    @staticmethod
    def ensure_schema_exists(
        context: dg.OutputContext, table_slice: DagsterTableSlice, connection
    ) -> None:
        table = slice_for(context).table
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {table_slice.schema}")
        if table_exists(connection, table_slice.schema, table.name):
            _check_existing_columns(connection, table_slice.schema, table)
        else:
            connection.execute(create_table_sql(f"{table_slice.schema}.{table.name}", table))

    @staticmethod
    def delete_table_slice(
        context: dg.OutputContext, table_slice: DagsterTableSlice, connection
    ) -> None:
        our_slice = slice_for(context)
        where, params = slice_where(our_slice)
        connection.execute(f"DELETE FROM {table_slice.schema}.{table_slice.table} {where}", params)

    @staticmethod
    def get_select_statement(table_slice: DagsterTableSlice) -> str:
        # Shown as the "Query" metadata entry: how to read the whole table.
        return f"SELECT * FROM {table_slice.schema}.{table_slice.table}"


class _FrameTypeHandler(DbTypeHandler[Frame]):
    """Inserts a frame or Arrow table that already passed the column and slice checks; loads a
    slice as whichever of the two the input is annotated with."""

    def handle_output(
        self,
        context: dg.OutputContext,
        table_slice: DagsterTableSlice,
        obj: Frame,
        connection,
    ) -> Mapping[str, Any]:
        table = table_for(context.asset_key)
        ref = f"{table_slice.schema}.{table.name}"
        if len(obj):
            insert_frame(connection, ref, table, obj)
        return output_metadata(context, ref, table, len(obj), "duckdb")

    def load_input(
        self, context: dg.InputContext, table_slice: DagsterTableSlice, connection
    ) -> Frame:
        # Locally a run's steps share one process (the in-process executor). Arrow's allocator
        # keeps what the previous step freed (a year's raw range, say) for its own reuse, but
        # this load's rows come from DuckDB's allocator: given back first, the memory is not
        # resident twice.
        pa.default_memory_pool().release_unused()
        table = table_for(context.asset_key)
        as_arrow = wants_arrow(context)
        wanted = input_selection(context, table)
        empty: Frame = (
            empty_table(table).select(wanted.columns)
            if as_arrow
            else empty_frame(table)[wanted.columns]
        )
        if context.has_asset_partitions and not context.asset_partition_keys:
            return empty
        if not table_exists(connection, table_slice.schema, table.name):
            # First run downstream of an empty or never-written partition: nothing to read.
            return empty
        where, params = slice_where(read_slice_for(context))
        for column, value in wanted.rows_where.items():
            where += f" AND {column} = ?" if where else f"WHERE {column} = ?"
            params.append(value)
        select = (
            f"SELECT {', '.join(wanted.columns)} FROM {table_slice.schema}.{table.name} {where}"
        )
        if as_arrow:
            # Streamed into Arrow batch by batch and in storage order: sorting a range of raw
            # JSON, or materialising DuckDB's result before converting it, would hold the
            # range twice. DECIMAL money becomes float64, as in the frames.
            reader = connection.sql(select, params=params).to_arrow_reader(ARROW_BATCH_ROWS)
            return reader.read_all().cast(arrow_schema(table, wanted.columns))
        ordered = f"{select} ORDER BY {', '.join(table.primary_key)}"
        return conform_dtypes(connection.execute(ordered, params).df(), table, wanted.columns)

    @property
    def supported_types(self) -> Sequence[type[object]]:
        return [pd.DataFrame, pa.Table]


class _AtomicDbIOManager(DbIOManager):
    def _get_table_slice(self, context, output_context) -> DagsterTableSlice:
        # The stock slice needs "partition_expr" metadata on every asset and builds a
        # multi-account rectangle; slices.slice_for() is the project's one rule instead, used
        # by the client and the handler. This only carries the names.
        if not context.has_asset_key:
            raise ValueError("DuckDBWarehouseIOManager stores assets only, not op outputs.")
        table = table_for(context.asset_key)
        schema = self._schema or DEFAULT_SCHEMA
        return DagsterTableSlice(table=table.name, schema=schema, database=self._database)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        if not isinstance(obj, pd.DataFrame | pa.Table):
            super().handle_output(context, obj)  # raises the stock "no handler for type" error
            return

        # Refuse a bad frame before taking the file lock; nothing has been touched yet.
        started = time.monotonic()
        table_slice = slice_for(context)
        check_columns(obj, table_slice.table)
        check_rows_in_slice(obj, table_slice)
        check_primary_key(obj, table_slice.table)

        super().handle_output(context, obj)
        context.log.info(
            f"Replaced {table_slice.describe()} with {len(obj)} rows in "
            f"{time.monotonic() - started:.2f} s (one transaction, file lock included)."
        )


class DuckDBWarehouseIOManager(DuckDBIOManager):
    """Stores the project's tables in DuckDB, replacing each output's slice in one transaction.

    Built on dagster-duckdb's IO manager (its config, DbIOManager's connect → ensure schema →
    delete slice → insert flow) rather than beside it: the only changes are a connect() that
    locks the file and wraps the flow in a transaction, and slices from ``slices.py``.
    """

    schema_: str = Field(  # type: ignore[assignment]
        default=DEFAULT_SCHEMA, alias="schema", description="Schema that holds the tables."
    )

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [_FrameTypeHandler()]

    @staticmethod
    def default_load_type() -> type | None:
        return pd.DataFrame

    def create_io_manager(self, context) -> DbIOManager:
        return _AtomicDbIOManager(
            db_client=_TransactionalDuckDbClient(),
            database=self.database,
            schema=_check_identifier(self.schema_ or DEFAULT_SCHEMA, "The warehouse schema"),
            type_handlers=self.type_handlers(),
            default_load_type=pd.DataFrame,
            io_manager_name="DuckDBWarehouseIOManager",
        )


# ---- the resource checks and analyses read through -------------------------------------------


class DuckDBWarehouse(dg.ConfigurableResource):
    """Read the warehouse with SQL, under the same file lock as the IO manager's writes."""

    database: str = Field(description="Path of the DuckDB file (FBADS_DUCKDB_PATH).")
    schema_: str = Field(default=DEFAULT_SCHEMA, alias="schema", description="Table schema.")
    memory_limit: str = Field(
        default=QUERY_MEMORY_LIMIT,
        description=(
            "DuckDB's memory for each query, e.g. '1GB'. A query that needs more spills to "
            "<file>.tmp next to the DuckDB file instead of growing the run's process."
        ),
    )

    def query(self, sql: str, params: list | None = None) -> pd.DataFrame:
        with locked_connection(self.database, {"memory_limit": self.memory_limit}) as connection:
            return connection.execute(sql, params or []).df()

    def table_ref(self, name: str) -> str:
        """``ad_insights_daily`` → ``facebook_ads.ad_insights_daily``, for use in SQL."""
        schema = _check_identifier(self.schema_, "The warehouse schema")
        return f"{schema}.{_check_identifier(name, 'The table name')}"

    def table_exists(self, name: str) -> bool:
        with locked_connection(self.database) as connection:
            return table_exists(connection, self.schema_, name)
